#!/usr/bin/env python3
"""RSS of the real daemon holding a large ledger replica (issue #6: <= 128 MiB with 1,000,000 permits).

Starts `target/release/checkpointd` on a generated configuration whose data directory's `ledger`
is the given replica (for example one kept by `LEDGER_BENCH_KEEP=DIR cargo bench --bench
ledger_apply`), with an empty outbox, no scanner (but see `--scans`) and an unreachable central,
waits until it is up, then samples its VmRSS and VmHWM for a while and prints them.

With `--lookups N` it then also uses the daemon: N `GET /api/v1/stay` requests over its API
socket, one after the other on one connection, for N distinct holders drawn at random from the
replica's permits (those `benches/support/central.rs` issues: permit i, 0 <= i < `--permits`, is
held by document `UTO` `N{i:08}`, nationality `UTO`), and prints VmRSS/VmHWM before and after
them, the requests per second, their latency p50/p99, the answers' statuses and how many answers
stand on a permit (`basis` `residence`: the replica's work permits run 2026-01-01..2027-01-01, so
on any day in between an answer that used one would say so). The daemon answers `stay` from its
movement history and the stay rules only (`LaneDriver::stay_lookup`): it does not read the ledger
for it. Only a scanned document's verdict (`lane::assess`) calls `permits_by_holder` and
`permit_text`, and no API request causes one; so these requests exercise the API and the lane,
not the replica.

With `--scans N` it instead (or as well) feeds N passport scans through a real scanner device and
so exercises the replica: the configuration gets one `[[devices]]` scanner with the serial MRZ
reader profile (`devices/generic-mrz-rs232.toml`) on a pseudo-terminal this script holds (slave in
raw mode, as `tests/common/terminal.rs` does), and each scan is the TD3 MRZ of a distinct random
holder of the replica, written line by line with CR terminators as that reader sends them
(`ERIKSSON<<ANNA<MARIA`, `UTO`, `N{i:08}`, born 900101 as the permit says, sex F, expiring
340101, ICAO 9303 check digits as `core::mrz::compose_td3`). A second passport starts a new
traveller session (`SessionTracker::accept`), so nothing is confirmed or recorded. The daemon
turns each scan into a verdict (`LaneDriver::on_scan` -> `lane::assess`: `permits_by_holder`,
`permit_text`, re-verification of the signed permit); the script waits for each verdict on
`GET /api/v1/stream` before sending the next scan, samples VmRSS/VmHWM before, about once a second
during and after, and prints the scans per second, scan-to-verdict latency p50/p99 (pty write to
verdict event read), the outcomes, and how many verdicts stand on a ledger permit (a `permits`
entry with `presented` false: the lane lists a ledger permit only when it verified and its holder
binding matched the MRZ). The replica's work permits run 2026-01-01..2027-01-01, so they only
count on a day in between.

    cargo build --release --bin checkpointd
    python3 benches/daemon_rss.py --replica /tmp/ledgerkeep/ledger-XXXX [--seconds 20]
    python3 benches/daemon_rss.py --replica /tmp/ledgerkeep/ledger-XXXX --lookups 50000
        [--permits 1000000] [--seed 1] [--after-seconds 5]
    python3 benches/daemon_rss.py --replica /tmp/ledgerkeep/ledger-XXXX --scans 50000
        [--exe target/release/checkpointd] [--ledger-cache 16777216] [--scan-timeout 10]
"""

import argparse
import grp
import http.client
import json
import os
import random
import shutil
import signal
import queue
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tty
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

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

# The MRZ reader: the shipped serial profile, on the pseudo-terminal this script drives.
SCANNER = """
[[devices]]
name = "mrz-swipe"
profile = "generic-mrz-rs232.toml"
port = "{port}"
"""

# A valid root key (the shipped configuration's first): the daemon does not re-verify the replica's
# checkpoint when it opens it, and central is unreachable here.
ROOT_KEY = "929026bd8e3d595d5836a84eac9e5e98a06be6bebad6a9b27fe0f3a0327b5ca5"


def status(pid: int) -> dict:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                fields[key] = value.strip()
    return fields


def kib(fields: dict, key: str) -> int:
    return int(fields[key].split()[0])


def mib(fields: dict, key: str) -> str:
    return f"{kib(fields, key) / 1024:.1f} MiB"


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over the daemon's API socket (kept alive between requests)."""

    def __init__(self, path: Path, timeout: float = 10.0):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = str(path)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def document_number(i: int) -> str:
    """The holder of permit i in benches/support/central.rs (`document_number`)."""
    return f"N{i:08}"


def percentile(sorted_samples: list, p: float) -> float:
    return sorted_samples[min(len(sorted_samples) - 1, int(len(sorted_samples) * p))]


def lookups(pid: int, sock: Path, n: int, permits: int, seed: int) -> None:
    """N stay requests for N distinct random holders of the replica; RSS before and after."""
    if n > permits:
        raise SystemExit(f"--lookups {n} exceeds --permits {permits}: holders must be distinct")
    holders = random.Random(seed).sample(range(permits), n)
    before = status(pid)
    print(f"before {n} lookups: VmRSS {mib(before, 'VmRSS')}, VmHWM {mib(before, 'VmHWM')}")
    conn = UnixHTTPConnection(sock)
    latencies = []
    statuses = Counter()
    bases = Counter()
    on_permit = 0
    sample_answer = None
    refused = None
    rss_max = kib(before, "VmRSS")
    next_sample = time.monotonic() + 1
    started = time.perf_counter()
    for i in holders:
        query = urlencode({"issuing_state": "UTO", "document_number": document_number(i),
                           "nationality": "UTO"})
        t0 = time.perf_counter()
        conn.request("GET", f"/api/v1/stay?{query}")
        response = conn.getresponse()
        body = response.read()
        latencies.append(time.perf_counter() - t0)
        statuses[response.status] += 1
        if response.status == 200:
            answer = json.loads(body)
            basis = answer.get("basis") or {}
            bases[basis.get("basis")] += 1
            if basis.get("basis") == "residence":
                on_permit += 1
            if sample_answer is None:
                sample_answer = (document_number(i), answer)
        elif refused is None:
            refused = (document_number(i), response.status, body[:200])
        if time.monotonic() >= next_sample:
            rss_max = max(rss_max, kib(status(pid), "VmRSS"))
            next_sample += 1
    elapsed = time.perf_counter() - started
    conn.close()
    after = status(pid)
    rss_max = max(rss_max, kib(after, "VmRSS"))
    latencies.sort()
    print(f"{n} lookups in {elapsed:.2f} s: {n / elapsed:.0f} lookups/s; latency "
          f"p50 {percentile(latencies, 0.50) * 1e3:.3f} ms, p99 {percentile(latencies, 0.99) * 1e3:.3f} ms, "
          f"max {latencies[-1] * 1e3:.3f} ms")
    print(f"  answers: {dict(statuses)}; basis: {dict(bases)}; standing on a permit: {on_permit}")
    if refused is not None:
        print(f"  first answer other than 200: {refused}")
    if sample_answer is not None:
        number, answer = sample_answer
        print(f"  e.g. {number}: days_remaining {answer.get('days_remaining')}, "
              f"binding_rule {answer.get('binding_rule')!r}, "
              f"explanation {str(answer.get('explanation'))[:160]!r}")
    print(f"after {n} lookups: VmRSS {mib(after, 'VmRSS')} (max seen during {rss_max / 1024:.1f} MiB), "
          f"VmHWM {mib(after, 'VmHWM')}; VmRSS {(kib(after, 'VmRSS') - kib(before, 'VmRSS')) / 1024:+.1f} MiB, "
          f"VmHWM {(kib(after, 'VmHWM') - kib(before, 'VmHWM')) / 1024:+.1f} MiB")


# ICAO 9303 part 3 check digits (`core::mrz::check_digit`): weights 7-3-1, `<` = 0, A = 10.
def check_digit(text: str) -> str:
    total = 0
    for n, c in enumerate(text):
        if c.isdigit():
            value = ord(c) - ord("0")
        elif "A" <= c <= "Z":
            value = ord(c) - ord("A") + 10
        else:
            value = 0
        total += value * (7, 3, 1)[n % 3]
    return str(total % 10)


def compose_td3(state: str, surname: str, given: str, number: str, nationality: str,
                birth: str, sex: str, expiry: str) -> tuple:
    """The two lines of a TD3 zone with an empty personal number, as `core::mrz::compose_td3`."""
    name = f"{surname}<<{given.replace(' ', '<')}"
    line1 = f"P<{state}{name}".ljust(44, "<")[:44]
    number_field = number.ljust(9, "<")
    personal = "<" * 14
    part1 = number_field + check_digit(number_field)
    part2 = birth + check_digit(birth)
    part3 = expiry + check_digit(expiry) + personal + check_digit(personal)
    composite = check_digit(part1 + part2 + part3)
    return line1, f"{part1}{nationality}{part2}{sex}{part3}{composite}"


# The specimen of ICAO 9303 part 4 (as `compose_td3`'s own test): guards the port above.
assert compose_td3("UTO", "ERIKSSON", "ANNA MARIA", "L898902C3", "UTO", "740812", "F", "120415") \
    [1][:28] == "L898902C36UTO7408122F1204159"


def holder_mrz(i: int) -> tuple:
    """Passport of the holder of permit i (benches/support/central.rs `Central::permit`: UTO,
    N{i:08}, born 1990-01-01, nationality UTO, ERIKSSON ANNA MARIA; the permit has no sex and
    no passport expiry, so F and 2034-01-01)."""
    return compose_td3("UTO", "ERIKSSON", "ANNA MARIA", document_number(i), "UTO",
                       "900101", "F", "340101")


class EventStream:
    """`GET /api/v1/stream` over the API socket, read by a thread into a queue of
    (type, data, arrival perf_counter)."""

    def __init__(self, sock: Path):
        self.events = queue.Queue()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(str(sock))
        self.sock.sendall(b"GET /api/v1/stream HTTP/1.1\r\nHost: localhost\r\n"
                          b"Accept: text/event-stream\r\n\r\n")
        self.reader = self.sock.makefile("rb")
        head = []
        while True:
            line = self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            head.append(line.decode("latin-1").strip())
        if not head or not head[0].startswith("HTTP/1.1 200"):
            raise SystemExit(f"event stream refused: {head}")
        self.chunked = any(h.lower().startswith("transfer-encoding: chunked") for h in head)
        self.sock.settimeout(None)  # idle streams only carry keep-alives
        threading.Thread(target=self._read, daemon=True).start()

    def _pieces(self):
        while True:
            if self.chunked:
                size_line = self.reader.readline()
                if not size_line:
                    return
                try:
                    size = int(size_line.strip(), 16)
                except ValueError:
                    continue
                if size == 0:
                    return
                chunk = self.reader.read(size + 2)
                if len(chunk) < size + 2:
                    return
                yield chunk[:size]
            else:
                line = self.reader.readline()
                if not line:
                    return
                yield line

    def _read(self):
        pending = b""
        try:
            for piece in self._pieces():
                pending += piece
                while True:
                    end = pending.find(b"\n\n")
                    if end < 0:
                        break
                    block, pending = pending[:end], pending[end + 2:]
                    kind, data = "message", ""
                    for line in block.decode("utf-8", "replace").split("\n"):
                        if line.startswith("event:"):
                            kind = line[6:].strip()
                        elif line.startswith("data:"):
                            data += line[5:].lstrip()
                    if data:
                        arrived = time.perf_counter()
                        try:
                            value = json.loads(data)
                        except ValueError:
                            value = data
                        self.events.put((kind, value, arrived))
        except OSError:
            pass
        self.events.put(("closed", None, time.perf_counter()))

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def get_status(sock: Path) -> dict:
    conn = UnixHTTPConnection(sock)
    try:
        conn.request("GET", "/api/v1/status")
        response = conn.getresponse()
        return json.loads(response.read())
    finally:
        conn.close()


def drain_master(master: int, stop: threading.Event) -> None:
    """Reads whatever the daemon writes to the scanner (nothing, with this profile), so a tty echo
    could never fill the master's buffer."""
    while not stop.is_set():
        try:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                os.read(master, 4096)
        except (OSError, ValueError):
            return


def die_with_parent() -> None:
    """In the daemon's child before exec: SIGKILL it when this script dies, however it dies (a
    daemon left behind would keep the replica's lock)."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def scans(pid: int, sock: Path, master: int, n: int, permits: int, seed: int, timeout: float,
          log: Path) -> bool:
    """N MRZ scans of N distinct random holders through the scanner pty, one verdict at a time;
    RSS before, during and after. False when a verdict did not come (the daemon wedged)."""
    if n > permits:
        raise SystemExit(f"--scans {n} exceeds --permits {permits}: holders must be distinct")
    # The reader must have opened (and configured) its port before anything is written to it.
    deadline = time.monotonic() + 10
    while True:
        devices = get_status(sock).get("devices") or []
        if any(d.get("name") == "mrz-swipe" and d.get("state") == "up" for d in devices):
            break
        if time.monotonic() > deadline:
            print(f"the scanner did not come up: {devices}", file=sys.stderr)
            return False
        time.sleep(0.05)
    stream = EventStream(sock)
    kind, first, _ = stream.events.get(timeout=10)
    if kind != "status":
        print(f"event stream: expected status first, got {kind} {first}", file=sys.stderr)
        return False
    holders = random.Random(seed).sample(range(permits), n)
    before = status(pid)
    print(f"before {n} scans: VmRSS {mib(before, 'VmRSS')} (anon {mib(before, 'RssAnon')}, "
          f"file {mib(before, 'RssFile')}), VmHWM {mib(before, 'VmHWM')}; ledger {first.get('ledger')}")
    latencies = []
    outcomes = Counter()
    reasons = Counter()
    grounds = Counter()
    permit_views = Counter()
    scan_changes = Counter()
    other_events = Counter()
    on_permit = 0
    sessions = set()
    sample_verdict = None
    problems = []
    rss_max = kib(before, "VmRSS")
    rss_series = []
    next_sample = time.monotonic() + 1
    started = time.perf_counter()
    done = 0
    wedged = None
    for i in holders:
        number = document_number(i)
        line1, line2 = holder_mrz(i)
        wire = f"{line1}\r{line2}\r".encode("ascii")
        t0 = time.perf_counter()
        os.write(master, wire)
        verdict = None
        limit = time.monotonic() + timeout
        while verdict is None:
            try:
                kind, data, arrived = stream.events.get(timeout=max(0.0, limit - time.monotonic()))
            except queue.Empty:
                wedged = f"no verdict for {number} (scan {done + 1}) within {timeout:.0f} s"
                break
            if kind == "verdict":
                document = data.get("document") or {}
                if document.get("document_number") == number:
                    verdict = data
                    latencies.append(arrived - t0)
                else:
                    other_events["verdict for another document"] += 1
            elif kind == "scan":
                scan_changes[data.get("change")] += 1
            elif kind in ("scan_problem", "error", "lagged", "closed"):
                other_events[kind] += 1
                if len(problems) < 5:
                    problems.append((number, kind, data))
                if kind == "closed":
                    wedged = f"event stream closed while waiting for {number}"
                    break
            else:
                other_events[kind] += 1
        if verdict is None:
            break
        done += 1
        sessions.add(verdict.get("session"))
        decided = verdict.get("verdict") or {}
        outcomes[decided.get("outcome")] += 1
        reasons.update(r.get("code") for r in decided.get("reasons") or [])
        grounds[(decided.get("grounds") or {}).get("kind")] += 1
        used = False
        for view in verdict.get("permits") or []:
            permit_views[(view.get("kind"), "presented" if view.get("presented") else "ledger",
                          view.get("rejection"), view.get("holder_matches"))] += 1
            if not view.get("presented") and view.get("rejection") is None and view.get("holder_matches"):
                used = True
        on_permit += used
        if sample_verdict is None:
            sample_verdict = verdict
        if time.monotonic() >= next_sample:
            now = status(pid)
            rss_max = max(rss_max, kib(now, "VmRSS"))
            rss_series.append((time.perf_counter() - started, done, kib(now, "VmRSS"), kib(now, "VmHWM"),
                               kib(now, "RssAnon"), kib(now, "RssFile")))
            next_sample += 1
    elapsed = time.perf_counter() - started
    stream.close()
    after = status(pid)
    rss_max = max(rss_max, kib(after, "VmRSS"))
    step = max(1, len(rss_series) // 12)
    for at, count, rss, hwm, anon, file in rss_series[::step]:
        print(f"  t {at:6.1f} s: {count:6d} scans, VmRSS {rss / 1024:.1f} MiB (anon {anon / 1024:.1f}, "
              f"file {file / 1024:.1f}), VmHWM {hwm / 1024:.1f} MiB")
    if wedged is not None:
        print(f"STOPPED: {wedged}; status {get_status(sock)}", file=sys.stderr)
        print(f"  log tail:\n{''.join(log.read_text().splitlines(True)[-20:])}", file=sys.stderr)
    if done:
        latencies.sort()
        print(f"{done} scans in {elapsed:.2f} s: {done / elapsed:.0f} scans/s; scan-to-verdict "
              f"p50 {percentile(latencies, 0.50) * 1e3:.3f} ms, p99 {percentile(latencies, 0.99) * 1e3:.3f} ms, "
              f"max {latencies[-1] * 1e3:.3f} ms")
    print(f"  outcomes: {dict(outcomes)}; verdicts standing on a ledger permit: {on_permit} of {done}; "
          f"distinct sessions: {len(sessions)}")
    print(f"  grounds: {dict(grounds)}")
    print(f"  reasons: {dict(reasons.most_common())}")
    print(f"  permits listed (kind, source, rejection, holder_matches): {dict(permit_views)}")
    print(f"  scan events by change: {dict(scan_changes)}; other events: {dict(other_events)}")
    for problem in problems:
        print(f"  problem: {problem}")
    if done and not on_permit:
        print("  WARNING: no verdict stood on a ledger permit, so these figures do not exercise the "
              "replica (the bench permits are valid 2026-01-01..2027-01-01)", file=sys.stderr)
    if sample_verdict is not None:
        decided = sample_verdict.get("verdict") or {}
        print(f"  e.g. session {sample_verdict.get('session')}, "
              f"{(sample_verdict.get('document') or {}).get('document_number')}: "
              f"{decided.get('outcome')}, permits {sample_verdict.get('permits')}, "
              f"stay {sample_verdict.get('stay')}")
    print(f"after {done} scans: VmRSS {mib(after, 'VmRSS')} (anon {mib(after, 'RssAnon')}, file "
          f"{mib(after, 'RssFile')}; max seen during {rss_max / 1024:.1f} MiB), "
          f"VmHWM {mib(after, 'VmHWM')}; VmRSS {(kib(after, 'VmRSS') - kib(before, 'VmRSS')) / 1024:+.1f} MiB, "
          f"VmHWM {(kib(after, 'VmHWM') - kib(before, 'VmHWM')) / 1024:+.1f} MiB")
    return wedged is None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replica", type=Path, required=True, help="a ledger replica directory")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to sample after start")
    parser.add_argument("--ledger-cache", type=int, default=16 * 1024 * 1024, help="[ledger] cache_capacity_bytes")
    parser.add_argument("--exe", type=Path, default=ROOT / "target/release/checkpointd")
    parser.add_argument("--lookups", type=int, default=0,
                        help="then send this many stay requests for distinct random holders (0: idle only)")
    parser.add_argument("--scans", type=int, default=0,
                        help="then feed this many passport scans of distinct random holders through "
                             "a scanner pty, one verdict at a time (0: none)")
    parser.add_argument("--scan-timeout", type=float, default=10.0,
                        help="seconds to wait for one scan's verdict before giving up")
    parser.add_argument("--permits", type=int, default=1_000_000,
                        help="holders 0..permits-1 are drawn from (a ledger_apply replica holds "
                             "LEDGER_BENCH_PERMITS + 20,000 permits, holders 0 and up)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the holders' random choice")
    parser.add_argument("--after-seconds", type=float, default=5.0,
                        help="how long to sample after the lookups / scans")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, through the `finally` that stops the daemon.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with tempfile.TemporaryDirectory(prefix="daemon-rss-") as work:
        work = Path(work)
        shutil.copy(ROOT / "firmware-config/stay-rules.toml", work / "stay-rules.toml")
        key = work / "terminal.key"
        key.write_text("07" * 32 + "\n")
        key.chmod(0o600)
        (work / "data").mkdir()
        os.symlink(args.replica.resolve(), work / "data/ledger")
        config = work / "checkpoint.toml"
        text = CONFIG.format(
            devices=ROOT / "devices",
            ledger_cache=args.ledger_cache,
            root=ROOT_KEY,
            group=grp.getgrgid(os.getgid()).gr_name,
        )
        master = slave = None
        stop_drain = threading.Event()
        if args.scans > 0:
            # The scanner: a pty whose slave the daemon opens; the slave stays open here too, so
            # the master never sees the line hang up, and raw so CRs reach the reader as sent.
            master, slave = os.openpty()
            tty.setraw(slave)
            text += SCANNER.format(port=os.ttyname(slave))
            threading.Thread(target=drain_master, args=(master, stop_drain), daemon=True).start()
        config.write_text(text)
        log = open(work / "log", "w")
        started = time.monotonic()
        daemon = subprocess.Popen([str(args.exe), "--config", str(config), "--log-format", "json"],
                                  stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
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
            ok = True
            if args.lookups > 0:
                lookups(daemon.pid, work / "api.sock", args.lookups, args.permits, args.seed)
            if args.scans > 0:
                ok = scans(daemon.pid, work / "api.sock", master, args.scans, args.permits,
                           args.seed, args.scan_timeout, work / "log")
            if args.lookups > 0 or args.scans > 0:
                samples = []
                until = time.monotonic() + args.after_seconds
                while time.monotonic() < until:
                    samples.append(status(daemon.pid))
                    time.sleep(1)
                if samples:
                    rss = [kib(s, "VmRSS") for s in samples]
                    print(f"over {args.after_seconds:.0f} s after: VmRSS min {min(rss) >> 10} MiB, "
                          f"max {max(rss) >> 10} MiB; VmHWM {kib(samples[-1], 'VmHWM') >> 10} MiB; "
                          f"threads {samples[-1]['Threads']}")
            if daemon.poll() is not None:
                print((work / "log").read_text(), file=sys.stderr)
                return 1
            if not ok:
                return 1
        finally:
            daemon.terminate()
            try:
                daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                # Never leave it holding the replica's lock once the work directory is gone.
                daemon.kill()
                daemon.wait()
            stop_drain.set()
            for fd in (master, slave):
                if fd is not None:
                    os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
