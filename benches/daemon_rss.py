#!/usr/bin/env python3
"""RSS of the real daemon holding a large ledger replica (issue #6: <= 128 MiB with 1,000,000 permits).

Starts `target/release/checkpointd` on a generated configuration whose data directory's `ledger`
is the given replica (for example one kept by `LEDGER_BENCH_KEEP=DIR cargo bench --bench
ledger_apply`), with an empty outbox, no scanner and an unreachable central, waits until it is
up, then samples its VmRSS and VmHWM for a while and prints them.

    cargo build --release --bin checkpointd
    python3 benches/daemon_rss.py --replica /tmp/ledgerkeep/ledger-XXXX [--seconds 20]
"""

import argparse
import grp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CONFIG = """data_dir = "data"
rules_file = "stay-rules.toml"
devices_dir = "{devices}"

[checkpoint]
id = "BENCH"
name = "RSS bench"
kind = "airport"
lane = "1"
time_zone = "Asia/Baku"
mode = "officer"
direction = "entry"

[ledger]
cache_capacity_bytes = {ledger_cache}
flush_every_ms = 200

[upstream]
nats_url = "nats://127.0.0.1:9"
events_stream = "EVENTS"
ledger_stream = "LEDGER"
duplicate_window_hours = 72
heartbeat_every_s = 30

[keys]
ledger_roots = ["{root}"]
ledger_root_threshold = 1
terminal_key = "terminal.key"

[limits]
scan_frame_bytes_max = 4096
outbox_events_max = 1000000
shutdown_grace_ms = 3000

[lane]
session_window_ms = 30000
ledger_stale_after_s = 86400
clock_backwards_tolerance_ms = 2000

[api]
socket = "api.sock"
group = "{group}"

[retention]
movement_days = 400
"""

# A valid root key (the shipped configuration's first): the daemon does not re-verify the replica's
# checkpoint when it opens it, and central is unreachable here.
ROOT_KEY = "929026bd8e3d595d5836a84eac9e5e98a06be6bebad6a9b27fe0f3a0327b5ca5"


def status(pid: int) -> dict:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                fields[key] = value.strip()
    return fields


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replica", type=Path, required=True, help="a ledger replica directory")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to sample after start")
    parser.add_argument("--ledger-cache", type=int, default=64 * 1024 * 1024, help="[ledger] cache_capacity_bytes")
    parser.add_argument("--exe", type=Path, default=ROOT / "target/release/checkpointd")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="daemon-rss-") as work:
        work = Path(work)
        shutil.copy(ROOT / "firmware-config/stay-rules.toml", work / "stay-rules.toml")
        key = work / "terminal.key"
        key.write_text("07" * 32 + "\n")
        key.chmod(0o600)
        (work / "data").mkdir()
        os.symlink(args.replica.resolve(), work / "data/ledger")
        config = work / "checkpoint.toml"
        config.write_text(CONFIG.format(
            devices=ROOT / "devices",
            ledger_cache=args.ledger_cache,
            root=ROOT_KEY,
            group=grp.getgrgid(os.getgid()).gr_name,
        ))
        log = open(work / "log", "w")
        started = time.monotonic()
        daemon = subprocess.Popen([str(args.exe), "--config", str(config), "--log-format", "json"],
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            # Up once its API socket exists: the replica (and its directory) is open by then.
            while not (work / "api.sock").exists():
                if daemon.poll() is not None:
                    print((work / "log").read_text(), file=sys.stderr)
                    return 1
                time.sleep(0.05)
            up = time.monotonic() - started
            print(f"up after {up:.2f} s: {status(daemon.pid)}")
            samples = []
            until = time.monotonic() + args.seconds
            while time.monotonic() < until:
                samples.append(status(daemon.pid))
                time.sleep(1)
            last = samples[-1] if samples else status(daemon.pid)
            rss = [int(s["VmRSS"].split()[0]) for s in samples]
            print(f"over {args.seconds:.0f} s: VmRSS min {min(rss) >> 10} MiB, max {max(rss) >> 10} MiB; "
                  f"VmHWM {int(last['VmHWM'].split()[0]) >> 10} MiB; threads {last['Threads']}")
        finally:
            daemon.terminate()
            daemon.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
