#!/usr/bin/env python3
"""The waits and readings of scripts/bench/flume.sh that need a finer clock
than a shell loop's, or a poll that costs the machine nothing while Flume
takes half an hour. Python takes 100 to 200 ms to start here, so the shell
starts each wait before the event it waits for: a wait prints "ready" once
it polls, then its result. Every wait has a deadline (seconds) and fails
with a message on stderr and exit code 1 when it passes; times printed are
time.time() (the clock of bash's $EPOCHREALTIME).

    flume.py tree PID                 cpu_s rss_kib of PID and its descendants
    flume.py descendants PID          their pids
    flume.py first-ok PORT DEADLINE
        connect to 127.0.0.1:PORT until it accepts, send one line, and
        retry until the answer is OK; print the time of the OK
    flume.py wait-bytes DIR TOTAL DEADLINE PID [stop]
        until the files in DIR hold TOTAL bytes
    flume.py wait-take PORT N DEADLINE PID [stop]
        until Flume's HTTP metrics on PORT say channel c1 has had N events
        taken (EventTakeSuccessCount, counted at each take's commit)
    flume.py wait-log FILE TEXT DEADLINE PID [stop]
        until FILE holds TEXT
    flume.py stop PID DEADLINE
        SIGTERM, then until PID has exited (zombie or gone); SIGKILL and
        exit 1 at the deadline
    flume.py pace PORT RATE SECONDS WIDTH WATCH
        send RATE lines/s of WIDTH bytes for SECONDS over one connection,
        (whole seconds), in batches every 10 ms; print lines sent, the rate
        reached, the CPU seconds and highest RSS (KiB, sampled every 0.5 s)
        of WATCH and its descendants over the send, and the time of the last
        send

A wait prints "TIME CPU HWM" (PID's CPU seconds and VmHWM in KiB, read the
moment the condition held), and fails at once when PID is gone. With stop,
it then stops PID as `stop` does, and prints "TIME CPU HWM" with the time
PID exited, its CPU seconds at its last reading (a zombie's are final) and
the VmHWM read before the SIGTERM. `stop` prints "TIME CPU".
CPU seconds are utime + stime + cutime + cstime (/proc/PID/stat): the
children the process has reaped are counted (exec's `cat`).
"""

import http.client
import json
import os
import signal
import socket
import sys
import time

from bench import descendants

TICK = os.sysconf("SC_CLK_TCK")


def fail(msg):
    print(f"flume.py: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def stat(pid):
    """(state, CPU seconds) of pid, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return rest[0], sum(int(x) for x in rest[11:15]) / TICK


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def alive(pid):
    s = stat(pid)
    return s is not None and s[0] != "Z"


def tree(pid):
    cpu = rss = 0
    for p in [pid] + descendants(pid):
        s = stat(p)
        if s:
            cpu += s[1]
            rss += status_kib(p, "VmRSS")
    return cpu, rss


def poll(what, cond, deadline, pid=None):
    """Call cond until it is true: every 1 ms at first, then every 1/1000
    of the time spent so far (at most 50 ms), so that a half-hour wait
    costs little and the time it gives is within 0.1% of the truth."""
    start = time.monotonic()
    while True:
        if cond():
            return
        spent = time.monotonic() - start
        if spent > deadline:
            fail(f"timed out after {deadline:.0f} s waiting for {what}")
        if pid is not None and not alive(pid):
            fail(f"process {pid} ended while waiting for {what}")
        time.sleep(min(max(spent / 1000, 0.001), 0.05))


def first_ok(port, deadline):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"probe\n")
                answer = s.makefile("rb").readline()
            if answer.startswith(b"OK"):
                return time.time()
        except OSError:
            pass
        time.sleep(0.001)
    fail(f"no OK from port {port} within {deadline:.0f} s")


def dir_bytes(d):
    try:
        return sum(e.stat().st_size for e in os.scandir(d) if e.is_file())
    except OSError:
        return 0


def metrics_take(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/metrics")
        body = c.getresponse().read()
        c.close()
        return int(json.loads(body)["CHANNEL.c1"]["EventTakeSuccessCount"])
    except (OSError, ValueError, KeyError, http.client.HTTPException):
        return -1


class LogWatch:
    """Reads only what was added to the file since the last call."""

    def __init__(self, path, text):
        self.path, self.text, self.offset, self.tail = path, text.encode(), 0, b""

    def __call__(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                new = f.read()
        except OSError:
            return False
        self.offset += len(new)
        buf = self.tail + new
        self.tail = buf[-len(self.text):]
        return self.text in buf


def stop(pid, deadline):
    last = stat(pid)
    if last is None:
        fail(f"process {pid} was gone before the stop")
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        s = stat(pid)
        if s is None or s[0] == "Z":
            return time.time(), (s or last)[1]
        last = s
        time.sleep(0.001)
    os.kill(pid, signal.SIGKILL)
    fail(f"process {pid} did not stop within {deadline:.0f} s of SIGTERM (killed)")


def pace(port, rate, seconds, width, watch):
    per_tick = max(rate // 100, 1)
    pad = b"x" * width
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        ticks = seconds * 100
        cpu0, rss = tree(watch)
        t0 = time.monotonic()
        next_sample = t0
        sent = 0
        for k in range(ticks):
            batch = b"".join(
                (b"%010d " % (sent + i)) + pad[: width - 12] + b"\n" for i in range(per_tick)
            )
            s.sendall(batch)
            t_end = time.time()
            sent += per_tick
            now = time.monotonic()
            if now >= next_sample:
                rss = max(rss, tree(watch)[1])
                next_sample = now + 0.5
            delay = t0 + (k + 1) / 100 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        t1 = time.monotonic()
        cpu1, rss1 = tree(watch)
    return sent, sent / (t1 - t0), cpu1 - cpu0, max(rss, rss1), t_end


def waited(pid, then_stop):
    """The line a wait prints, its condition having just held."""
    t, cpu, hwm = time.time(), stat(pid), status_kib(pid, "VmHWM")
    if then_stop:
        t, cpu = stop(pid, 60)
        return f"{t} {cpu:.2f} {hwm}"
    return f"{t} {cpu[1]:.2f} {hwm}"


def main():
    a = sys.argv[1:]
    if not a:
        fail("usage: see the docstring")
    cmd = a[0]
    if cmd.startswith("wait-") or cmd == "first-ok":
        print("ready", flush=True)
    if cmd == "tree":
        cpu, rss = tree(int(a[1]))
        print(f"{cpu:.2f} {rss}")
    elif cmd == "descendants":
        print(*descendants(int(a[1])))
    elif cmd == "first-ok":
        print(first_ok(int(a[1]), float(a[2])))
    elif cmd.startswith("wait-"):
        pid, then_stop = int(a[4]), a[5:] == ["stop"]
        if cmd == "wait-bytes":
            d, total = a[1], int(a[2])
            poll(f"{total} bytes in {d}", lambda: dir_bytes(d) >= total, float(a[3]), pid)
        elif cmd == "wait-take":
            port, n = int(a[1]), int(a[2])
            poll(f"{n} events taken (metrics on port {port})",
                 lambda: metrics_take(port) >= n, float(a[3]), pid)
        elif cmd == "wait-log":
            poll(f"'{a[2]}' in {a[1]}", LogWatch(a[1], a[2]), float(a[3]), pid)
        else:
            fail(f"unknown command {cmd}")
        print(waited(pid, then_stop))
    elif cmd == "stop":
        t, cpu = stop(int(a[1]), float(a[2]))
        print(f"{t} {cpu:.2f}")
    elif cmd == "pace":
        sent, achieved, cpu, rss, t_end = pace(int(a[1]), int(a[2]), int(a[3]), int(a[4]), int(a[5]))
        print(f"{sent} {achieved:.0f} {cpu:.2f} {rss} {t_end}")
    else:
        fail(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
