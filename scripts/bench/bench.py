#!/usr/bin/env python3
"""The supervisor benchmark: sluice against supervisord, side by side.

Run through scripts/bench/supervisor.sh, which builds sluice in release,
makes the venv with supervisor 4.3.0 and a temp dir, and then calls

    bench.py --sluice BIN --venv DIR --work TMPDIR [options]

Every daemon runs in the foreground (nodaemon = true) as a child of this
script, in its own session. Whatever happens (an error, Ctrl-C, SIGTERM),
every daemon is stopped and every process it started is killed before this
script exits. Prints one markdown table on stdout; progress goes to stderr.
"""

import argparse
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time

MB = 1_000_000
LINE = b"x" * 99 + b"\n"  # 100 bytes, the line every writer repeats


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def now_ns():
    # CLOCK_MONOTONIC: one clock for the whole machine, so a time taken in
    # the writer process compares with one taken here.
    return time.monotonic_ns()


# --- processes ---------------------------------------------------------------


def children(pid):
    """Direct children of `pid` (all its threads), from /proc."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(p) for p in f.read().split())
        except OSError:
            pass
    return out


def starttime(pid):
    """The start time of `pid` (clock ticks since boot), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def descendants(pid):
    seen, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            if c not in seen:
                seen.append(c)
                todo.append(c)
    return seen


def exe(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def wait_until(what, cond, timeout=60.0, step=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(step)


class Daemon:
    """One daemon (sluice or supervisord) on its own config in its own dir."""

    live = []  # every Daemon not yet stopped, for the cleanup on exit

    def __init__(self, kind, args, dirname, programs):
        self.kind = kind
        self.args = args
        self.dir = dirname
        os.makedirs(dirname, exist_ok=True)
        self.conf = os.path.join(dirname, "daemon.conf")
        with open(self.conf, "w") as f:
            f.write(header(dirname) + programs)
        if kind == "sluice":
            self.daemon_cmd = [args.sluice, "daemon", "-c", self.conf]
            self.ctl_cmd = [args.sluice, "ctl", "-c", self.conf]
        else:
            self.daemon_cmd = [os.path.join(args.venv, "bin", "supervisord"), "-c", self.conf]
            self.ctl_cmd = [os.path.join(args.venv, "bin", "supervisorctl"), "-c", self.conf]
        self.proc = None
        self.known = {}  # every descendant ever seen: pid -> start time

    def start(self):
        err = open(os.path.join(self.dir, "daemon.stderr"), "w")
        self.proc = subprocess.Popen(
            self.daemon_cmd,
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            start_new_session=True,
        )
        err.close()
        Daemon.live.append(self)
        wait_until(f"{self.kind} to answer", lambda: self.ctl_code("status") in (0, 3), step=0.05)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def ctl_code(self, *cmd):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.kind} exited ({self.proc.returncode}); see {self.dir}/daemon.stderr")
        r = subprocess.run(self.ctl_cmd + list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return r.returncode

    def status_lines(self):
        r = subprocess.run(self.ctl_cmd + ["status"], capture_output=True, text=True)
        return r.stdout.splitlines()

    def wait_running(self, count, timeout=60.0):
        def ok():
            lines = self.status_lines()
            return len(lines) == count and all(l.split()[1:2] == ["RUNNING"] for l in lines)

        wait_until(f"{count} programs RUNNING under {self.kind}", ok, timeout=timeout, step=0.1)
        self.remember()

    def remember(self):
        for p in descendants(self.pid):
            if p not in self.known:
                self.known[p] = starttime(p)

    def stop(self):
        """SIGTERM, wait (20 s), SIGKILL; then kill anything it left behind."""
        if self.proc is None:
            return
        self.remember()
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.remember()
                self.proc.kill()
                self.proc.wait()
        for p, started in self.known.items():
            # Only a process that is still the one we saw (not a reused pid).
            if started is not None and starttime(p) == started:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self in Daemon.live:
            Daemon.live.remove(self)
        self.proc = None


def stop_all():
    for d in list(Daemon.live):
        try:
            d.stop()
        except Exception as e:  # keep cleaning up the others
            log(f"cleanup: {d.kind}: {e}")


# --- configs -----------------------------------------------------------------


def header(d):
    # Identical for both daemons. loglevel info: neither logs child output.
    return (
        "[supervisord]\n"
        f"logfile = {d}/daemon.log\n"
        f"pidfile = {d}/daemon.pid\n"
        f"childlogdir = {d}\n"
        "nodaemon = true\n"
        "loglevel = info\n"
        "\n"
        "[unix_http_server]\n"
        f"file = {d}/ctl.sock\n"
        "\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
        "\n"
        "[supervisorctl]\n"
        f"serverurl = unix://{d}/ctl.sock\n"
        "\n"
    )


def sleepers(n, sleep_bin):
    return "".join(
        f"[program:p{i:03d}]\ncommand = {sleep_bin} 100000\nstartsecs = 1\nautorestart = true\n\n"
        for i in range(1, n + 1)
    )


WRITER = r'''
import os, sys, time
marker, total = sys.argv[1], int(sys.argv[2])
chunk = b"x" * 99 + b"\n"
chunk = chunk * (65500 // len(chunk))  # 655 lines, just under 64 KiB
with open(marker + ".tmp", "w") as f:
    f.write(str(time.monotonic_ns()))
os.rename(marker + ".tmp", marker)
left = total
while left:
    view = memoryview(chunk)[: min(left, len(chunk))]
    while view:
        n = os.write(1, view)
        view = view[n:]
        left -= n
'''


# --- measurements ------------------------------------------------------------


def respawn(kind, args, work, runs):
    """kill -9 the one program, time until its replacement has exec'd."""
    # The config names `sleep` as given (a multi-call coreutils needs its
    # name); /proc/PID/exe shows the file it resolves to.
    sleep_bin = os.path.realpath(args.sleep)
    d = Daemon(
        kind,
        args,
        os.path.join(work, f"{kind}-respawn"),
        f"[program:victim]\ncommand = {args.sleep} 100000\nstartsecs = 1\nautorestart = true\n\n",
    ).start()
    lat, fork_lat = [], []
    try:
        for i in range(runs):
            d.wait_running(1)
            # Kill at a random moment: supervisord reaps only when its 1 s
            # poll() returns, and the `ctl status` just made woke that loop;
            # killing right after it would always cost supervisord a full 1 s.
            time.sleep(random.uniform(0.0, 1.0))
            old = [p for p in children(d.pid) if exe(p) == sleep_bin]
            if len(old) != 1:
                raise RuntimeError(f"{kind}: expected one running sleep child, got {old}")
            old = old[0]
            t0 = now_ns()
            os.kill(old, signal.SIGKILL)
            t_fork = None
            deadline = t0 + 10 * 10**9
            while True:
                new = [p for p in children(d.pid) if p != old]
                t = now_ns()
                if new and t_fork is None:
                    t_fork = t
                if new and exe(new[0]) == sleep_bin:
                    t1 = now_ns()
                    break
                if t > deadline:
                    raise RuntimeError(f"{kind}: no respawn within 10 s")
                time.sleep(0.0002)
            lat.append((t1 - t0) / 1e6)
            fork_lat.append((t_fork - t0) / 1e6)
            d.remember()
            log(f"  {kind} respawn {i + 1}/{runs}: {lat[-1]:.2f} ms (new pid seen after {fork_lat[-1]:.2f} ms)")
    finally:
        d.stop()
    return statistics.median(lat), lat


def wait_file_size(path, total, start_ns, timeout_s=600):
    deadline = start_ns + timeout_s * 10**9
    while True:
        try:
            if os.stat(path).st_size >= total:
                return now_ns()
        except FileNotFoundError:
            pass
        if now_ns() > deadline:
            raise RuntimeError(f"timed out waiting for {total} bytes in {path}")
        time.sleep(0.001)


def read_marker(path, timeout=120):
    wait_until(f"writer start marker {path}", lambda: os.path.exists(path), timeout=timeout, step=0.001)
    with open(path) as f:
        return int(f.read())


def capture_once(kind, args, work, run, total):
    """MB/s from the writer's first byte until the output file holds `total` bytes."""
    d_dir = os.path.join(work, f"{kind}-capture-{run}")
    os.makedirs(d_dir, exist_ok=True)
    writer = os.path.join(work, "writer.py")
    marker = os.path.join(d_dir, "writer.start")
    out = os.path.join(d_dir, "writer.out")
    py = sys.executable
    if kind == "pipe":
        # The limit: the same writer into `cat > file` through a plain pipe.
        p = subprocess.Popen(
            f"'{py}' '{writer}' '{marker}' {total} | cat > '{out}'",
            shell=True,
            start_new_session=True,
        )
        try:
            t0 = read_marker(marker)
            t1 = wait_file_size(out, total, t0)
            p.wait(timeout=60)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    else:
        prog = (
            "[program:writer]\n"
            f"command = {py} {writer} {marker} {total}\n"
            "autostart = true\nautorestart = false\nstartsecs = 0\n"
            f"stdout_logfile = {out}\nstdout_logfile_maxbytes = 0\n"
            f"stderr_logfile = {d_dir}/writer.err\nstderr_logfile_maxbytes = 0\n\n"
        )
        d = Daemon(kind, args, d_dir, prog)
        try:
            d.start()
            t0 = read_marker(marker)
            t1 = wait_file_size(out, total, t0)
            size = os.stat(out).st_size
            if size != total:
                raise RuntimeError(f"{kind}: {out} holds {size} bytes, expected {total}")
        finally:
            d.stop()
    mbps = total / MB / ((t1 - t0) / 1e9)
    log(f"  capture run {run + 1} {kind}: {mbps:.0f} MB/s ({(t1 - t0) / 1e9:.2f} s)")
    for f in (out, marker):
        try:
            os.unlink(f)
        except FileNotFoundError:
            pass
    return mbps


def capture(args, work, runs):
    total = args.capture_mb * MB
    with open(os.path.join(work, "writer.py"), "w") as f:
        f.write(WRITER)
    res = {"pipe": [], "sluice": [], "supervisord": []}
    # Interleaved rounds, so a burst of load on the machine hits all three.
    for run in range(runs):
        for kind in ("pipe", "sluice", "supervisord"):
            res[kind].append(capture_once(kind, args, work, run, total))
    return {k: statistics.median(v) for k, v in res.items()}, res


def run_timed(cmd):
    """Run `cmd` (output to /dev/null): (wall ms, the child's user+sys CPU ms, exit code)."""
    devnull = [
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(cmd[0], cmd, os.environ, file_actions=devnull)
    _, status, ru = os.wait4(pid, 0)
    wall = (time.perf_counter_ns() - t0) / 1e6
    return wall, (ru.ru_utime + ru.ru_stime) * 1e3, os.waitstatus_to_exitcode(status)


def time_cmd(cmd, runs):
    """Medians over `runs` runs (after one warm-up) of `cmd`'s wall time and CPU time, in ms."""
    run_timed(cmd)
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu, code = run_timed(cmd)
        if code != 0:
            raise RuntimeError(f"{cmd} exited {code}")
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def fleet(kind, args, work, n, status_runs):
    """RSS (KiB) of the daemon with n sleepers RUNNING, and ctl status (wall ms, CPU ms)."""
    d = Daemon(kind, args, os.path.join(work, f"{kind}-{n}"), sleepers(n, args.sleep))
    try:
        d.start()
        d.wait_running(n, timeout=120)
        time.sleep(1.0)  # let the daemon settle after the last start
        rss = rss_kib(d.pid)
        status = time_cmd(d.ctl_cmd + ["status"], status_runs) if status_runs else None
        log(
            f"  {kind} with {n} programs: RSS {rss} KiB"
            + (f", ctl status {status[0]:.1f} ms (CPU {status[1]:.1f} ms)" if status else "")
        )
        return rss, status
    finally:
        d.stop()


# --- report ------------------------------------------------------------------


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end of the run"
    )


def yes_no(ok):
    return "yes" if ok else "**no**"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sluice", required=True, help="the sluice binary")
    ap.add_argument("--venv", required=True, help="venv with supervisor 4.3.0")
    ap.add_argument("--work", required=True, help="scratch dir (configs, logs, sockets)")
    ap.add_argument("--sleep", default="/bin/sleep", help="the sleep binary the programs run")
    ap.add_argument("--respawn-runs", type=int, default=10)
    ap.add_argument("--capture-runs", type=int, default=5)
    ap.add_argument("--capture-mb", type=int, default=300, help="bytes the writer writes, in MB (10^6)")
    ap.add_argument("--status-runs", type=int, default=20)
    args = ap.parse_args()
    # The daemons run in their own dirs: every path must be absolute.
    args.sluice, args.venv, args.work = (os.path.abspath(x) for x in (args.sluice, args.venv, args.work))

    def on_term(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    work = args.work
    kinds = ("sluice", "supervisord")
    try:
        log(f"respawn latency ({args.respawn_runs} kills each)")
        resp = {k: respawn(k, args, work, args.respawn_runs)[0] for k in kinds}
        log(f"log capture ({args.capture_runs} runs of {args.capture_mb} MB each)")
        cap, _ = capture(args, work, args.capture_runs)
        log("daemon RSS and ctl status")
        fl = {}
        for k in kinds:
            fl[(k, 1)] = fleet(k, args, work, 1, 0)
            fl[(k, 50)] = fleet(k, args, work, 50, args.status_runs)
            fl[(k, 100)] = fleet(k, args, work, 100, args.status_runs)
        true_ms = time_cmd([shutil.which("true") or "/bin/true"], args.status_runs)[0]
    finally:
        stop_all()

    s, v = "sluice", "supervisord"
    per_prog = {k: (fl[(k, 50)][0] - fl[(k, 1)][0]) / 49 for k in kinds}
    rows = []

    def row(name, a, b, fmt, ratio, goal, met):
        rows.append(f"| {name} | {fmt(a)} | {fmt(b)} | {ratio} | {goal} | {met} |")

    ms = lambda x: f"{x:.2f} ms"
    mbs = lambda x: f"{x:.0f} MB/s"
    mib = lambda x: f"{x / 1024:.1f} MiB"
    kib = lambda x: f"{x:.0f} KiB"
    row(
        "respawn after `kill -9` (median)",
        resp[s], resp[v], ms,
        f"{resp[v] / resp[s]:.0f}x faster", "< 10 ms", yes_no(resp[s] < 10),
    )
    row(
        f"log capture, {args.capture_mb} MB to stdout (median)",
        cap[s], cap[v], mbs,
        f"{cap[s] / cap[v]:.1f}x faster; plain pipe {cap['pipe']:.0f} MB/s = {cap['pipe'] / cap[s]:.2f}x sluice",
        "pipe / sluice <= 1.2", yes_no(cap["pipe"] / cap[s] <= 1.2),
    )
    row(
        "daemon RSS, 50 programs",
        fl[(s, 50)][0], fl[(v, 50)][0], mib,
        f"{fl[(s, 50)][0] / fl[(v, 50)][0]:.2f}", "< 0.25 of supervisord",
        yes_no(fl[(s, 50)][0] < fl[(v, 50)][0] / 4),
    )
    row("daemon RSS, 1 program", fl[(s, 1)][0], fl[(v, 1)][0], mib, f"{fl[(s, 1)][0] / fl[(v, 1)][0]:.2f}", "", "")
    row("daemon RSS, 100 programs", fl[(s, 100)][0], fl[(v, 100)][0], mib, f"{fl[(s, 100)][0] / fl[(v, 100)][0]:.2f}", "", "")
    row(
        "RSS per program ((50 - 1) / 49)",
        per_prog[s], per_prog[v], kib,
        f"{per_prog[s] / per_prog[v]:.2f}" if per_prog[v] > 0 else "-", "", "",
    )
    row(
        "`ctl status`, 50 programs (median)",
        fl[(s, 50)][1][0], fl[(v, 50)][1][0], ms,
        f"{fl[(v, 50)][1][0] / fl[(s, 50)][1][0]:.0f}x faster", "", "",
    )
    st_s, st_v = fl[(s, 100)][1][0], fl[(v, 100)][1][0]
    row(
        "`ctl status`, 100 programs (median)",
        st_s, st_v, ms,
        f"{st_v / st_s:.0f}x faster", "< 10 ms and >= 10x faster",
        yes_no(st_s < 10 and st_v / st_s >= 10),
    )
    for n in (50, 100):
        cs, cv = fl[(s, n)][1][1], fl[(v, n)][1][1]
        row(
            f"`ctl status`, {n} programs: the client's CPU (user+sys, median)",
            cs, cv, ms, f"{cv / cs:.0f}x less" if cs > 0 else "-", "", "",
        )
    rows.append(
        f"| `true` timed the same way (the timer's own cost) | {true_ms:.2f} ms | {true_ms:.2f} ms | | | |"
    )
    print(f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}.")
    print(
        f"Runs: respawn {args.respawn_runs}, capture {args.capture_runs} x {args.capture_mb} MB, "
        f"ctl status {args.status_runs}."
    )
    print()
    print("| figure | sluice | supervisord 4.3.0 | ratio | goal | met |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(r)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        stop_all()
        sys.exit(130)
