#!/usr/bin/env bash
# Where the file channel's time and CPU go (issue 5), for comparing builds
# or settings: 1,000,000 lines of 100 bytes over one TCP connection into
# netcat -> CHANNEL -> null, one agent per run, the clock stopped when the
# source has every line committed (before the agent stops). Per run, the
# CPU of each of the agent's threads from /proc/PID/task/*/schedstat.
#
# Variants run alternating, RUNS times each; each variant is "NAME=BINARY
# CHANNEL [PROPERTY=VALUE ...]" where CHANNEL is memory or file and the
# properties go to the channel. The default compares the memory path, the
# file path and the file path with fsyncPerTransaction = false, on the
# release build of this tree. Prints medians as a markdown table.
#
# Usage: [RUNS=7] scripts/bench/file_channel_cpu.sh [VARIANT ...]
#   e.g. scripts/bench/file_channel_cpu.sh "before=/tmp/old/sluice file" "after=target/release/sluice file"
set -euo pipefail
cd "$(dirname "$0")/../.."
LINES=${LINES:-1000000}
RUNS=${RUNS:-7}
. scripts/bench/lib.sh
bench_setup
if [ $# -eq 0 ]; then
  set -- "memory=$SLUICE memory" "file=$SLUICE file" "file-no-fsync=$SLUICE file fsyncPerTransaction=false"
fi
make_input "$WORK/input" "$LINES" 100

# threads PID: "name cpu-ns" per thread.
threads() {
  local t
  for t in /proc/"$1"/task/*; do
    echo "$(tr ' ' _ < "$t/comm") $(cut -d' ' -f1 "$t/schedstat")"
  done
}

# run "NAME=BINARY CHANNEL [K=V ...]": prints "NAME wall cpu_ms writer_ms".
run() {
  local name=${1%%=*} spec=${1#*=} bin channel rest P D agent t0 t1 kv
  read -r bin channel rest <<<"$spec"
  P=$(port); D=$WORK/run; rm -rf "$D"; mkdir -p "$D"
  { null_agent "$P" "$channel" "$D"
    for kv in ${rest:-}; do printf 'a1.channels.c1.%s = %s\n' "${kv%%=*}" "${kv#*=}"; done
  } > "$D/agent.conf"
  sync
  "$bin" agent -f "$D/agent.conf" -n a1 >"$D/log" 2>&1 &
  agent=$!
  wait_port "$P"
  threads "$agent" > "$D/before"
  t0=$(now)
  send_all "$P" "$WORK/input" "$D/log" "$LINES" || return 1
  t1=$(now)
  threads "$agent" > "$D/after"
  kill -TERM "$agent"; wait "$agent" || true
  python3 - "$name" "$t0" "$t1" "$D/before" "$D/after" <<'PY'
import sys
name, t0, t1, before, after = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
def read(path):
    rows = [l.split() for l in open(path)]
    return [(r[0], int(r[1])) for r in rows]
b = read(before)
a = read(after)
# Threads are listed in the same order; new ones (blocking pool) start at 0.
cpu = writer = 0.0
for i, (n, v) in enumerate(a):
    d = (v - (b[i][1] if i < len(b) and b[i][0] == n else 0)) / 1e6
    cpu += d
    if n.endswith("-writer"):
        writer += d
print(name, t1 - t0, cpu, writer)
PY
}

for _ in $(seq "$RUNS"); do
  for v in "$@"; do
    run "$v" >> "$WORK/results" || { echo "run failed: $v" >&2; exit 1; }
  done
done
echo
echo "$LINES lines of 100 bytes, clock until the last commit, $RUNS runs each, alternating ($(nproc) cores, $(df --output=source,fstype "$WORK" | tail -1))"
echo
python3 - "$WORK/results" "$@" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, wall, cpu, writer = line.split()
    rows.setdefault(name, []).append((float(wall), float(cpu), float(writer)))
print("| variant | wall (median) | agent CPU (median) | writer thread CPU (median) | walls |")
print("| --- | ---: | ---: | ---: | --- |")
for v in sys.argv[2:]:
    name = v.split("=", 1)[0]
    r = rows[name]
    med = lambda i: statistics.median(x[i] for x in r)
    walls = ", ".join(f"{x[0]:.3f}" for x in r)
    print(f"| {v.split('=', 1)[0]}: {v.split(' ', 1)[1] if ' ' in v else ''} | {med(0):.3f} s | {med(1):.0f} ms | {med(2):.0f} ms | {walls} |")
PY
