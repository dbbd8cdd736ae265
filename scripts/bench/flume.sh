#!/usr/bin/env bash
# Against Apache Flume 1.11 (issue 14): the same agent file and the same input
# (LINES lines of 100 bytes, 1,000,000 by default) under the real Flume 1.11.0
# (tests/peers/peer.sh run flume: the JVM) and under `sluice agent`, in
# interleaved rounds (Flume, sluice, Flume, sluice, ...), medians in a
# markdown table:
#   1. netcat (ack-every-event=false) -> memory -> file_roll (rollInterval 0)
#   2. netcat -> file channel -> file_roll
#   3. exec `cat FILE` -> memory -> null
#   4. the tutorial's deployment: stock supervisord 4.3.0 running Flume as a
#      program, against the sluice daemon running the same agent in-process
#      ([agent:x]): total RSS and CPU idle and carrying RATE lines/s.
# docs/benchmarks.md ("Against Apache Flume 1.11") says how each figure is
# taken. Progress on stderr, the table on stdout.
#
# Usage: [ROUNDS=3] [CASES="1 2 3 4"] [FLUME_HEAP=1g] [RATE=100000] [LOAD_S=10]
#        [IDLE_S=10] scripts/bench/flume.sh [LINES]
#
# Needs java (17), socat, python3 (with venv, for supervisord from PyPI in
# .venv) and cargo; mvn too when Flume's jars are not fetched yet. Flume's
# file channel commits every netcat line on its own (about 500 lines/s
# here): with the default LINES, case 2 takes about half an hour per round.
set -euo pipefail
cd "$(dirname "$0")/../.."
LINES=${1:-1000000}
LINE_BYTES=100
TOTAL=$((LINES * LINE_BYTES))
ROUNDS=${ROUNDS:-3}
CASES=${CASES:-1 2 3 4}
export FLUME_HEAP=${FLUME_HEAP:-1g}
RATE=${RATE:-100000}  # lines/s, a multiple of 100
LOAD_S=${LOAD_S:-10}  # whole seconds
IDLE_S=${IDLE_S:-10}
# The longest one run may take: long enough for 100 lines/s.
DEADLINE=$((120 + LINES / 100))
PY=scripts/bench/flume.py

err() { echo "flume.sh: $*" >&2; exit 1; }
command -v java >/dev/null || err "needs java (OpenJDK 17) on PATH to run Flume"
command -v socat >/dev/null || err "needs socat (apt-get install socat)"
command -v python3 >/dev/null || err "needs python3"
FLUME_CP=${SLUICE_PEERS_CACHE:-$HOME/.cache/sluice-peers}/flume-1.11.0/cp.txt
[ -s "$FLUME_CP" ] || command -v mvn >/dev/null ||
  err "needs mvn to fetch Flume 1.11.0's jars (they are not in $FLUME_CP's directory yet)"
. scripts/bench/lib.sh
tests/peers/peer.sh fetch flume >&2
case " $CASES " in *" 4 "*) supervisor_venv ;; esac
echo "building sluice (release)..." >&2
cargo build --release --quiet
SLUICE=$PWD/target/release/sluice

WORK=$(mktemp -d /tmp/sluice-flume.XXXXXX)
PIDS=()
cleanup() {
  local p left
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 100); do  # 10 s for them to go, then SIGKILL
    left=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# forget PID: it has exited and been reaped (its number may be reused).
forget() {
  local p keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# halt PID: SIGTERM, wait (60 s, then SIGKILL and fail).
halt() {
  local rc=0
  python3 "$PY" stop "$1" 60 >/dev/null || rc=1
  wait "$1" 2>/dev/null || true
  forget "$1"
  return "$rc"
}

# fail LOG MESSAGE: the end of LOG and MESSAGE on stderr, exit 1.
fail() { tail -n 40 "$1" >&2; err "$2"; }

# interruptible CMD...: run CMD in the background and wait for it, so that
# a signal to this script is handled at once (bash runs a trap only once a
# foreground command is over; `wait` returns at once).
interruptible() {
  local pid rc=0
  "$@" &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || rc=$?
  forget "$pid"
  return "$rc"
}

# sub A B: A - B (decimals).
sub() { python3 -c "import sys; print(float(sys.argv[1]) - float(sys.argv[2]))" "$1" "$2"; }

# bg OUT ARGS...: flume.py ARGS in the background, its output in OUT;
# returns once it polls (its "ready" is in OUT). Sets BG (its pid).
bg() {
  local out=$1 deadline=$((SECONDS + 60))
  shift
  python3 "$PY" "$@" >"$out" &
  BG=$!
  PIDS+=("$BG")
  until [ -s "$out" ]; do
    kill -0 "$BG" 2>/dev/null || break  # it failed: bg_result says so
    [ "$SECONDS" -gt "$deadline" ] && err "flume.py $1 never started"
    sleep 0.01
  done
}

# bg_result OUT: wait for the last bg (its own deadline bounds it); RES is
# its result; fails when it failed.
bg_result() {
  local rc=0
  wait "$BG" || rc=$?
  forget "$BG"
  [ "$rc" = 0 ] || return 1
  RES=$(tail -n 1 "$1")
}

# cpu_now PID: CPU to PID's CPU seconds (utime + stime + cutime + cstime
# from /proc/PID/stat), read without a fork (the run may have begun).
TICK=$(getconf CLK_TCK)
cpu_now() {
  local s f cs
  read -r s <"/proc/$1/stat"
  read -ra f <<<"${s##*) }"
  cs=$(((f[11] + f[12] + f[13] + f[14]) * 100 / TICK))
  CPU=$((cs / 100)).$(printf %02d $((cs % 100)))
}

# agent_file CASE DIR PORT: the agent file both run (channel and sink files
# under DIR; case 3 reads $WORK/input behind the gate DIR/gate).
agent_file() {
  local case=$1 dir=$2
  if [ "$case" = 3 ]; then
    cat <<CONF
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = exec
a1.sources.r1.command = cat $dir/gate $WORK/input
a1.sources.r1.batchSize = 1000
a1.sources.r1.channels = c1
CONF
  else
    netcat_agent "$3"
  fi
  if [ "$case" = 2 ]; then
    printf 'a1.channels.c1.type = file\na1.channels.c1.checkpointDir = %s\na1.channels.c1.dataDirs = %s\n' \
      "$dir/cp" "$dir/data"
  else
    echo "a1.channels.c1.type = memory"
  fi
  echo "a1.channels.c1.capacity = 100000"
  echo "a1.channels.c1.transactionCapacity = 1000"
  echo "a1.sinks.k1.channel = c1"
  if [ "$case" = 3 ]; then
    printf 'a1.sinks.k1.type = null\na1.sinks.k1.batchSize = 1000\n'
  else
    printf 'a1.sinks.k1.type = file_roll\na1.sinks.k1.sink.directory = %s\n' "$dir/out"
    printf 'a1.sinks.k1.sink.rollInterval = 0\na1.sinks.k1.sink.batchSize = 1000\n'
  fi
}

# launch PEER CONF LOG [METRICS_PORT]: start agent a1 of CONF in the
# background; sets AGENT (its pid: the JVM for Flume, peer.sh execs java)
# and T_LAUNCH (the time just before the fork).
launch() {
  T_LAUNCH=$EPOCHREALTIME
  if [ "$1" = flume ]; then
    FLUME_JAVA_OPTS=${4:+-Dflume.monitoring.type=http -Dflume.monitoring.port=$4} \
      tests/peers/peer.sh run flume "$2" a1 "$3" &
  else
    "$SLUICE" agent -f "$2" -n a1 >"$3" 2>&1 &
  fi
  AGENT=$!
  PIDS+=("$AGENT")
}

RESULTS=$WORK/results
: >"$RESULTS"

# netcat_run CASE PEER ROUND (cases 1 and 2). First a start of its own for
# the time to the first accepted event: the same file with
# ack-every-event = true, one line sent until OK comes back. Then the run:
# start, wait for the port, send the input with socat, stop the clock when
# the output holds every byte; once stopped, the output must be the input.
netcat_run() {
  local case=$1 peer=$2 D P first c0 t0 t1 c1 hwm
  D=$WORK/c$case-$peer
  rm -rf "$D"; mkdir -p "$D/probe/out" "$D/out"
  P=$(port)
  agent_file "$case" "$D/probe" "$P" |
    sed 's/^a1.sources.r1.ack-every-event = false$/a1.sources.r1.ack-every-event = true/' >"$D/probe.conf"
  bg "$D/first" first-ok "$P" 120
  launch "$peer" "$D/probe.conf" "$D/probe.log"
  bg_result "$D/first" || fail "$D/probe.log" "$peer never accepted an event"
  first=$(sub "$RES" "$T_LAUNCH")
  halt "$AGENT" || fail "$D/probe.log" "$peer did not stop"

  P=$(port)
  agent_file "$case" "$D" "$P" >"$D/agent.conf"
  launch "$peer" "$D/agent.conf" "$D/log"
  wait_port "$P" || fail "$D/log" "$peer never listened"
  bg "$D/end" wait-bytes "$D/out" "$TOTAL" "$DEADLINE" "$AGENT"
  cpu_now "$AGENT"; c0=$CPU
  t0=$EPOCHREALTIME
  interruptible timeout "$DEADLINE" socat -u "FILE:$WORK/input" "TCP:127.0.0.1:$P" || fail "$D/log" "sending to $peer failed"
  bg_result "$D/end" || fail "$D/log" "$peer never wrote every byte"
  read -r t1 c1 hwm <<<"$RES"
  halt "$AGENT" || fail "$D/log" "$peer did not stop"
  cat "$D"/out/* | cmp -s - "$WORK/input" || fail "$D/log" "$peer's output is not the input, line for line"
  record "$case" "$peer" "$3" "$(sub "$t1" "$t0")" "$(sub "$c1" "$c0")" "$c0" "$hwm" "$first"
}

# exec_run PEER ROUND (case 3). The exec command, `cat GATE INPUT`, waits
# at the FIFO GATE: the clock starts once our open of GATE for writing has
# returned (cat has it open, and sees its end at once). Flume: the clock
# stops when its HTTP metrics say channel c1 has had every event taken (a
# poll costs the JVM a request). sluice, which has no metrics yet: when the
# log says the command exited (every line is in the channel then), the
# agent is stopped (it drains the channel into the sink first) and the clock
# stops when it has exited, as in engine.sh's null case; its CPU is read at
# the exit.
exec_run() {
  local peer=$1 D M c0 t0 t1 c1 hwm
  D=$WORK/c3-$peer
  rm -rf "$D"; mkdir -p "$D"; mkfifo "$D/gate"
  agent_file 3 "$D" >"$D/agent.conf"
  M=
  [ "$peer" = flume ] && M=$(port)
  launch "$peer" "$D/agent.conf" "$D/log" "$M"
  if [ "$peer" = flume ]; then
    bg "$D/end" wait-take "$M" "$LINES" "$DEADLINE" "$AGENT"
  else
    bg "$D/end" wait-log "$D/log" "exited with code 0" "$DEADLINE" "$AGENT" stop
  fi
  # shellcheck disable=SC2016 # $1 is sh's
  interruptible timeout 120 sh -c ': >"$1"' sh "$D/gate" || fail "$D/log" "$peer never ran its exec command"
  t0=$EPOCHREALTIME
  cpu_now "$AGENT"; c0=$CPU
  bg_result "$D/end" || fail "$D/log" "$peer never took every event"
  read -r t1 c1 hwm <<<"$RES"
  if [ "$peer" = flume ]; then
    halt "$AGENT" || fail "$D/log" "Flume did not stop"
  else
    wait "$AGENT" || true  # stopped by the wait
    forget "$AGENT"
    if grep -q "lost" "$D/log"; then fail "$D/log" "sluice lost events"; fi
  fi
  record 3 "$peer" "$2" "$(sub "$t1" "$t0")" "$(sub "$c1" "$c0")" "$c0" "$hwm" -
}

# record CASE PEER ROUND SECONDS CPU_RUN CPU_START HWM_KIB FIRST_S
record() {
  echo "$*" >>"$RESULTS"
  echo "  case $1 $2: $(python3 -c "print(f'{$LINES / $4:,.0f} events/s')") ($4 s), CPU $5 s (start $6 s), VmHWM $7 KiB, first event $8 s" >&2
}

# The deployment (case 4): one config header for both daemons.
daemon_header() {
  cat <<INI
[supervisord]
logfile = $1/daemon.log
pidfile = $1/daemon.pid
childlogdir = $1
nodaemon = true
loglevel = info

[unix_http_server]
file = $1/ctl.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = unix://$1/ctl.sock

INI
}

# deploy_run PEER ROUND: start the daemon, wait until the agent listens,
# IDLE_S seconds, read RSS, IDLE_S seconds more for the idle CPU, then RATE
# lines/s for LOAD_S seconds (flume.py pace), then wait until every line
# sent is in the output (the lag). RSS and CPU are the daemon's and its
# descendants' (supervisord + the JVM; the sluice daemon alone).
deploy_run() {
  local peer=$1 D P daemon ready out kids c_a rss_idle c_b sent achieved c_load rss_load t_sent t_done j
  D=$WORK/dep-$peer
  rm -rf "$D"; mkdir -p "$D/out"
  P=$(port)
  agent_file 1 "$D" "$P" >"$D/agent.conf"
  daemon_header "$D" >"$D/daemon.conf"
  if [ "$peer" = flume ]; then
    printf '[program:flume]\ncommand = %s run flume %s a1\nenvironment = FLUME_HEAP="%s"\n' \
      "$PWD/tests/peers/peer.sh" "$D/agent.conf" "$FLUME_HEAP" >>"$D/daemon.conf"
  else
    printf '[agent:flume]\nconf_file = %s\nagent_name = a1\n' "$D/agent.conf" >>"$D/daemon.conf"
  fi
  printf 'autostart = true\nstartsecs = 1\nredirect_stderr = true\nstdout_logfile = %s\n' \
    "$D/agent.log" >>"$D/daemon.conf"
  T_LAUNCH=$EPOCHREALTIME
  if [ "$peer" = flume ]; then
    .venv/bin/supervisord -c "$D/daemon.conf" >"$D/stdout" 2>&1 &
  else
    "$SLUICE" daemon -c "$D/daemon.conf" >"$D/stdout" 2>&1 &
  fi
  daemon=$!
  PIDS+=("$daemon")
  wait_port "$P" || fail "$D/agent.log" "the $peer deployment never listened"
  ready=$(sub "$EPOCHREALTIME" "$T_LAUNCH")
  kids=$(python3 "$PY" descendants "$daemon")
  # shellcheck disable=SC2206 # pids, split on blanks
  PIDS+=($kids)  # the JVM: killed at exit even if supervisord is gone
  sleep "$IDLE_S"
  out=$(python3 "$PY" tree "$daemon"); read -r c_a rss_idle <<<"$out"
  sleep "$IDLE_S"
  out=$(python3 "$PY" tree "$daemon"); read -r c_b _ <<<"$out"
  # What pace sends: LOAD_S * 100 batches of RATE / 100 lines.
  bg "$D/end" wait-bytes "$D/out" $((LOAD_S * 100 * (RATE / 100) * LINE_BYTES)) $((LOAD_S + 120)) "$daemon"
  out=$(python3 "$PY" pace "$P" "$RATE" "$LOAD_S" "$LINE_BYTES" "$daemon") ||
    fail "$D/agent.log" "sending to the $peer deployment failed"
  read -r sent achieved c_load rss_load t_sent <<<"$out"
  bg_result "$D/end" || fail "$D/agent.log" "the $peer deployment never wrote every line"
  t_done=${RES%% *}
  halt "$daemon" || fail "$D/stdout" "the $peer daemon did not stop"
  for j in $kids; do  # what the daemon started: gone with it (10 s, then SIGKILL)
    for _ in $(seq 100); do kill -0 "$j" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$j" 2>/dev/null; then
      kill -KILL "$j"
      err "the $peer daemon left pid $j running after it stopped (killed)"
    fi
    forget "$j"
  done
  echo "D $peer $2 $ready $rss_idle $(sub "$c_b" "$c_a") $IDLE_S $rss_load $c_load $LOAD_S $sent $achieved $(sub "$t_done" "$t_sent")" >>"$RESULTS"
  echo "  deployment $peer: ready after $ready s, idle RSS $rss_idle KiB, load RSS $rss_load KiB, $achieved lines/s sent, CPU $c_load s" >&2
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
echo "load average at the start: $LOAD_START" >&2
case " $CASES " in *" 1 "* | *" 2 "* | *" 3 "*) make_input "$WORK/input" "$LINES" "$LINE_BYTES" ;; esac
for r in $(seq "$ROUNDS"); do
  for c in $CASES; do
    for peer in flume sluice; do
      echo "round $r/$ROUNDS, case $c, $peer" >&2
      case $c in
        1 | 2) netcat_run "$c" "$peer" "$r" ;;
        3) exec_run "$peer" "$r" ;;
        4) deploy_run "$peer" "$r" ;;
        *) err "unknown case $c (1 to 4)" ;;
      esac
    done
  done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "$STARTED: $LINES lines of $LINE_BYTES bytes, $ROUNDS interleaved rounds, medians;" \
  "Flume 1.11.0 on $(java -version 2>&1 | head -1 | tr -d '"') with -Xmx$FLUME_HEAP;" \
  "sluice $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo '+changes');" \
  "$(nproc) cores, Linux $(uname -r); load average $LOAD_START at the start, $LOAD_END at the end"
echo
python3 - "$RESULTS" "$LINES" "$RATE" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
lines, rate = int(sys.argv[2]), int(sys.argv[3])
med = statistics.median
names = {
    "1": "netcat -> memory -> file_roll",
    "2": "netcat -> file -> file_roll",
    "3": "exec `cat FILE` -> memory -> null",
}
def runs(case, peer, i):
    return [float(r[i]) for r in rows if r[0] == case and r[1] == peer and r[i] != "-"]
def mib(kib):
    return f"{kib / 1024:,.1f} MiB"
goals = []
for case in ("1", "2", "3"):
    if not runs(case, "flume", 3):
        continue
    if not goals:
        print("| case | figure | Flume 1.11 | sluice | sluice against Flume | goal | met |")
        print("| --- | --- | ---: | ---: | ---: | --- | --- |")
    n = names[case]
    ef, es = (med([lines / t for t in runs(case, p, 3)]) for p in ("flume", "sluice"))
    want = 10 if case == "2" else 5
    met = "yes" if es >= want * ef else "no"
    goals.append((f"{n}: events/s at least {want}x Flume's", met))
    print(f"| {n} | events/s | {ef:,.0f} | {es:,.0f} | {es / ef:,.1f}x | >= {want}x | {met} |")
    cf, cs = (med([c / lines * 1e6 for c in runs(case, p, 4)]) for p in ("flume", "sluice"))
    print(f"| | CPU s per million events | {cf:.2f} | {cs:.3f} | {cs / cf if cf else 0:.3f} | | |")
    sf, ss = (med(runs(case, p, 5)) for p in ("flume", "sluice"))
    print(f"| | CPU s from start to ready | {sf:.2f} | {ss:.3f} | | | |")
    hf, hs = (med(runs(case, p, 6)) for p in ("flume", "sluice"))
    met = "yes" if hs <= hf / 10 else "no"
    goals.append((f"{n}: peak RSS at most 1/10 of Flume's", met))
    print(f"| | peak RSS (VmHWM) | {mib(hf)} | {mib(hs)} | {hs / hf:.3f} | <= 0.1 | {met} |")
    if case != "3":
        ff, fs = (med(runs(case, p, 7)) for p in ("flume", "sluice"))
        met = "yes" if fs <= 0.050 else "no"
        goals.append((f"{n}: first event accepted within 50 ms of start", met))
        print(f"| | start to first accepted event | {ff * 1000:,.0f} ms | {fs * 1000:.1f} ms | {ff / fs:,.0f}x sooner | <= 50 ms | {met} |")
dep = {p: [r for r in rows if r[0] == "D" and r[1] == p] for p in ("flume", "sluice")}
if dep["flume"] and dep["sluice"]:
    def col(p, i):
        return med([float(r[i]) for r in dep[p]])
    def cpu_pct(p, i, s):
        return med([float(r[i]) / float(r[s]) * 100 for r in dep[p]])
    print()
    print(f"| deployment: netcat -> memory -> file_roll | supervisord 4.3.0 + Flume 1.11 (JVM) | sluice daemon, agent in-process | sluice against supervisord + Flume | goal | met |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    rf, rs = col("flume", 3), col("sluice", 3)
    print(f"| start to agent listening | {rf:.2f} s | {rs * 1000:.0f} ms | {rf / rs:,.0f}x sooner | | |")
    rf, rs = col("flume", 4), col("sluice", 4)
    met = "yes" if rs <= rf / 10 else "no"
    goals.append(("deployment idle: RSS at most 1/10 of supervisord + Flume", met))
    print(f"| total RSS, idle | {mib(rf)} | {mib(rs)} | {rs / rf:.3f} | <= 0.1 | {met} |")
    cf, cs = cpu_pct("flume", 5, 6), cpu_pct("sluice", 5, 6)
    print(f"| CPU, idle (% of one core) | {cf:.2f}% | {cs:.2f}% | | | |")
    rf, rs = col("flume", 7), col("sluice", 7)
    met = "yes" if rs <= rf / 10 else "no"
    goals.append((f"deployment at {rate:,} lines/s: RSS at most 1/10 of supervisord + Flume", met))
    print(f"| total RSS at {rate:,} lines/s (highest sample) | {mib(rf)} | {mib(rs)} | {rs / rf:.3f} | <= 0.1 | {met} |")
    cf, cs = cpu_pct("flume", 8, 9), cpu_pct("sluice", 8, 9)
    print(f"| CPU at {rate:,} lines/s (% of one core) | {cf:.1f}% | {cs:.1f}% | {cs / cf if cf else 0:.3f} | | |")
    af, as_ = col("flume", 11), col("sluice", 11)
    print(f"| lines/s the sender reached | {af:,.0f} | {as_:,.0f} | | | |")
    lf, ls = col("flume", 12), col("sluice", 12)
    print(f"| last line sent to last line written | {lf * 1000:,.0f} ms | {ls * 1000:,.0f} ms | | | |")
print()
for g, met in goals:
    print(f"- {g}: {'met' if met == 'yes' else 'NOT met'}")
print()
print("Every run (events/s; deployment: RSS idle / at load, KiB):")
for case in ("1", "2", "3"):
    for p in ("flume", "sluice"):
        ts = runs(case, p, 3)
        if ts:
            print(f"- case {case} {p}: " + ", ".join(f"{lines / t:,.0f}" for t in ts))
for p in ("flume", "sluice"):
    if dep[p]:
        print(f"- deployment {p}: " + ", ".join(f"{r[4]} / {r[7]}" for r in dep[p]))
PY
