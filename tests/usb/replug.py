#!/usr/bin/python3
"""Unplugs and replugs an emulated USB HID scanner under a running program (tests/usb_umockdev.rs).

umockdev-run replays an ioctl tree that cannot pause, stop or lose the device: it wraps around
and answers forever, and umockdev 0.17's Testbed.remove_device only deletes files, so a program
that holds the device open goes on reading the replay. This driver builds the testbed itself (UMockdev.Testbed through GObject
introspection, Debian's gir1.2-umockdev-1.0 and python3-gi) and answers the program's usbdevfs
ioctls with a small emulation of the kernel's side (drivers/usb/core/devio.c) that feeds the
interrupt-IN reports of a `.ioctl` fixture once each, in order, and then waits like an idle
scanner. Unplugging does what the kernel does to a program that holds the device open: the URB in
flight is given back with -ESHUTDOWN and every later ioctl fails with ENODEV; the remove uevent is
sent and the device leaves sysfs and /dev. What umockdev cannot do is make poll() on the device
node report POLLERR (the node is a regular file), so libusb learns of the loss from the reaped URB
and from ENODEV, not from poll().

Usage: replug.py --device DEV.umockdev [--hub HUB.umockdev] STEP... -- PROGRAM ARGS...
Steps, run in order:
  plug=REPLAY.ioctl[:N][@ADDRESS]
                         add the device; it delivers the replay's reports (only the first N),
                         at another device address on the same bus when given (a power cycle)
  start                  start PROGRAM inside the testbed
  wait=REGEX             wait for a line of PROGRAM's output matching REGEX
  delivered              wait until the reports were read and the program asked for more
  unplug                 pull the device out
  exit                   wait for PROGRAM to exit and require status 0
Prints a transcript: `+SECONDS out: LINE` for the program's output, `+SECONDS driver: WHAT` for
each step; exits 1 (after `driver: FAILED ...`) when a step fails or times out.
"""

import os
import queue
import re
import struct
import subprocess
import sys
import threading
import time

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

# The testbed's own process must run under the preload too: uevent() looks the device up in sysfs.
if "libumockdev-preload" not in os.environ.get("LD_PRELOAD", ""):
    env = dict(os.environ, LD_PRELOAD="libumockdev-preload.so.0")
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

STEP_TIMEOUT = 10.0

# usbdevfs requests (linux/usbdevice_fs.h) for 64-bit Linux: struct usbdevfs_urb is 56 bytes.
USBDEVFS_SUBMITURB = 0x8038550A
USBDEVFS_DISCARDURB = 0x0000550B
USBDEVFS_REAPURBNDELAY = 0x4008550D
USBDEVFS_GETDRIVER = 0x41045508
USBDEVFS_CLAIMINTERFACE = 0x8004550F
USBDEVFS_RELEASEINTERFACE = 0x80045510
USBDEVFS_GET_CAPABILITIES = 0x8004551A
URB_BYTES = 56
URB_STATUS_AT = 4
URB_BUFFER_AT = 16
URB_BUFFER_LENGTH_AT = 24
URB_ACTUAL_LENGTH_AT = 28
URB_TYPE_CONTROL = 2
# ZERO_PACKET | BULK_CONTINUATION | NO_PACKET_SIZE_LIM | BULK_SCATTER_GATHER | REAP_AFTER_DISCONNECT
CAPABILITIES = 0x1F
EAGAIN, ENODEV, ENOENT, EINVAL, ENOTTY, EPIPE, ENODATA, ESHUTDOWN = 11, 19, 2, 22, 25, 32, 61, 108
# An idle scanner: while nothing is queued, each non-blocking reap waits this long before EAGAIN
# (libusb polls the node, a regular file here, which is always ready).
IDLE_REAP_PAUSE = 0.002


def replay_reports(path):
    """The interrupt-IN reports of a `.ioctl` replay, in order."""
    reports = []
    with open(path, encoding="ascii") as replay:
        for line in replay:
            fields = line.split()
            if fields and fields[0] == "USBDEVFS_REAPURBNDELAY":
                reports.append(bytes.fromhex(fields[9]))
    return reports


class UsbdevfsDevice(UMockdev.IoctlBase):
    """The kernel's usbdevfs side of one plugged-in device, for one plug session."""

    def __init__(self, reports):
        super().__init__()
        self.lock = threading.Lock()
        self.reports = list(reports)
        self.in_flight = {}  # client URB address -> buffer length, in submission order
        self.completed = []  # (client URB address, status, data)
        self.plugged = True
        self.delivered = threading.Event()

    def unplug(self):
        with self.lock:
            self.plugged = False
            # usb_disconnect kills the URBs in flight; usbfs hands them back before ENODEV.
            for urb in self.in_flight:
                self.completed.append((urb, -ESHUTDOWN, b""))
            killed = len(self.in_flight)
            self.in_flight.clear()
            return killed

    def do_handle_ioctl(self, client):
        with self.lock:
            result, error = self.ioctl(client.get_request(), client.get_arg())
        if error == EAGAIN:
            time.sleep(IDLE_REAP_PAUSE)
        client.complete(result, error)
        return True

    def ioctl(self, request, arg):
        if request == USBDEVFS_REAPURBNDELAY:
            return self.reap(arg)
        if not self.plugged:
            return -1, ENODEV
        if request == USBDEVFS_GET_CAPABILITIES:
            arg.resolve(0, 4).update(0, struct.pack("<I", CAPABILITIES))
            return 0, 0
        if request == USBDEVFS_GETDRIVER:
            return -1, ENODATA  # no kernel driver bound to the interface
        if request in (USBDEVFS_CLAIMINTERFACE, USBDEVFS_RELEASEINTERFACE):
            return 0, 0
        if request == USBDEVFS_SUBMITURB:
            urb = arg.resolve(0, URB_BYTES)
            raw = bytes(urb.retrieve())
            if raw[0] == URB_TYPE_CONTROL:
                # No control transfers are emulated (the HID report descriptor): stall.
                self.completed.append((urb.client_addr, -EPIPE, b""))
            else:
                length = struct.unpack_from("<i", raw, URB_BUFFER_LENGTH_AT)[0]
                self.in_flight[urb.client_addr] = length
                if not self.reports:
                    self.delivered.set()
            return 0, 0
        if request == USBDEVFS_DISCARDURB:
            address = struct.unpack("<Q", bytes(arg.retrieve()))[0]
            if self.in_flight.pop(address, None) is None:
                return -1, EINVAL
            self.completed.append((address, -ENOENT, b""))
            return 0, 0
        print(f"replug.py: ioctl {request:#x} not emulated", file=sys.stderr)
        return -1, ENOTTY

    def reap(self, arg):
        if self.completed:
            urb, status, data = self.completed.pop(0)
        elif self.plugged and self.in_flight and self.reports:
            urb = next(iter(self.in_flight))
            length = self.in_flight.pop(urb)
            status, data = 0, self.reports.pop(0)[:length]
        else:
            return -1, (EAGAIN if self.plugged else ENODEV)
        # *arg is the program's `struct usbdevfs_urb *`: point it at the URB and fill that in.
        pointer = arg.resolve(0, 8)
        pointer.update(0, struct.pack("<Q", urb))
        fields = pointer.resolve(0, URB_BYTES)
        fields.update(URB_STATUS_AT, struct.pack("<i", status))
        fields.update(URB_ACTUAL_LENGTH_AT, struct.pack("<i", len(data)))
        if data:
            fields.resolve(URB_BUFFER_AT, len(data)).update(0, data)
        return 0, 0


def readdress(description, address):
    """The device description with the device at another address on its bus."""
    bus, old = re.search(r"^N: bus/usb/(\d{3})/(\d{3})", description, re.M).groups()
    new = f"{address:03d}"
    minor = (int(bus) - 1) * 128 + address - 1
    for pattern, replacement in (
        (rf"bus/usb/{bus}/{old}", f"bus/usb/{bus}/{new}"),
        (r"^E: DEVNUM=\d+$", f"E: DEVNUM={new}"),
        (r"^E: MINOR=\d+$", f"E: MINOR={minor}"),
        (r"^A: devnum=\d+$", f"A: devnum={address}"),
    ):
        description = re.sub(pattern, replacement, description, flags=re.M)
    return description


class Driver:
    def __init__(self, device, hub, program):
        self.testbed = UMockdev.Testbed.new()
        with open(device, encoding="ascii") as description:
            self.description = description.read()
        self.syspath = "/sys" + re.search(r"^P: (\S+)", self.description, re.M).group(1)
        self.node = None
        self.program = program
        self.emulated = []  # every plug session's device, kept alive for late ioctls
        self.process = None
        self.lines = queue.Queue()
        self.started = time.monotonic()
        if hub:
            self.testbed.add_from_file(hub)

    def say(self, who, text):
        print(f"+{time.monotonic() - self.started:.3f} {who}: {text}", flush=True)

    def plug(self, spec):
        spec, _, address = spec.partition("@")
        replay, _, count = spec.partition(":")
        reports = replay_reports(replay)
        if count:
            reports = reports[: int(count)]
        description = readdress(self.description, int(address)) if address else self.description
        self.node = "/dev/" + re.search(r"^N: (bus/usb/\d+/\d+)", description, re.M).group(1)
        self.testbed.add_from_string(description)
        emulated = UsbdevfsDevice(reports)
        self.testbed.attach_ioctl(self.node, emulated)
        self.emulated.append(emulated)
        self.say("driver", f"plugged at {self.node}: {os.path.basename(replay)}, {len(reports)} reports")

    def unplug(self):
        killed = self.emulated[-1].unplug()
        self.testbed.uevent(self.syspath, "remove")
        self.testbed.detach_ioctl(self.node)
        self.testbed.remove_device(self.syspath)
        # remove_device finds the node through a `dev` attribute, which the descriptions lack.
        node = self.testbed.get_root_dir() + self.node
        if os.path.exists(node):
            os.unlink(node)
        self.say("driver", f"unplugged: {killed} URB(s) in flight given back with -ESHUTDOWN")

    def start(self):
        self.process = subprocess.Popen(
            self.program, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        threading.Thread(target=self.pump, args=(self.process.stdout, "out"), daemon=True).start()
        threading.Thread(target=self.pump, args=(self.process.stderr, "err"), daemon=True).start()
        self.say("driver", "started " + os.path.basename(self.program[0]))

    def pump(self, stream, who):
        for line in stream:
            self.lines.put((who, line.rstrip("\n")))
        self.lines.put((who, None))

    def wait_line(self, pattern):
        regex = re.compile(pattern)
        deadline = time.monotonic() + STEP_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            try:
                who, line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                continue
            self.say(who, line)
            if who == "out" and regex.search(line):
                return True
        return False

    def drain(self):
        while True:
            try:
                who, line = self.lines.get_nowait()
            except queue.Empty:
                return
            if line is not None:
                self.say(who, line)

    def step(self, step):
        name, _, value = step.partition("=")
        if name == "plug":
            self.plug(value)
        elif name == "start":
            self.start()
        elif name == "wait":
            if not self.wait_line(value):
                return f"no output line matched {value!r} within {STEP_TIMEOUT:.0f} s"
            self.say("driver", f"saw {value!r}")
        elif name == "delivered":
            if not self.emulated[-1].delivered.wait(STEP_TIMEOUT):
                return "the program did not read every report"
            self.drain()
            self.say("driver", "reports read")
        elif name == "unplug":
            self.drain()
            self.unplug()
        elif name == "exit":
            try:
                status = self.process.wait(STEP_TIMEOUT)
            except subprocess.TimeoutExpired:
                return "the program did not exit"
            time.sleep(0.05)
            self.drain()
            self.say("driver", f"exit status {status}")
            if status != 0:
                return f"exit status {status}"
        else:
            return f"unknown step {step!r}"
        return None

    def run(self, steps):
        try:
            for step in steps:
                failure = self.step(step)
                if failure:
                    self.drain()
                    self.say("driver", f"FAILED at {step}: {failure}")
                    return 1
            return 0
        finally:
            if self.process and self.process.poll() is None:
                self.process.kill()
                self.process.wait()


def main(argv):
    if "--" not in argv:
        sys.exit(__doc__)
    split = argv.index("--")
    args, program = argv[:split], argv[split + 1 :]
    options = {"--device": None, "--hub": None}
    steps = []
    position = 0
    while position < len(args):
        if args[position] in options and position + 1 < len(args):
            options[args[position]] = args[position + 1]
            position += 2
        else:
            steps.append(args[position])
            position += 1
    if not options["--device"] or not program:
        sys.exit(__doc__)
    driver = Driver(options["--device"], options["--hub"], program)
    return driver.run(steps)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
