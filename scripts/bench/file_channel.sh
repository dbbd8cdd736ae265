#!/usr/bin/env bash
# The file channel benchmark (issue 5): 1,000,000 lines of 100 bytes over one
# TCP connection into sluice netcat (ack-every-event=false) -> {memory, file}
# -> null, batch 1000, in the same run. The clock stops when the agent, told
# to stop once the source has every line, has drained the channel and exited.
# Prints a markdown table and the file channel's fdatasync count.
#
# Each round also times the disk alone: dd writing as many bytes as the
# file channel wrote (from a page-cached file, 1 MiB writes, one
# fdatasync at the end). That is the floor for any channel that puts every
# byte on this disk before it acknowledges: the file path cannot be faster
# than it, and file / memory cannot pass dd / memory.
#
# The two pipelines run RUNS times each, alternating (the machine's load
# changes from second to second); the table gives the medians and every
# run's figure.
#
# WARM=N measures a running agent instead of a fresh one: each agent
# first takes the LINES through N times (untimed), and after each pass the
# file channel (maxFileSize 32 MiB, checkpointInterval 1 s, so that a short
# run sees what a long one at this rate does with 2 GiB files and 30 s:
# several new files per checkpoint interval) waits for a
# checkpoint to free that pass's data files, which it keeps as spares and
# writes over in the next pass. With WARM=2 the timed pass writes only
# over spares, as a channel that has run for a while does. dd then writes
# LINES * (LINE_BYTES + 1) bytes.
#
# MEMORY_BYTES=N sets the file channel's memoryBytes (0: every take reads
# its events back from the data files, checked against their crcs).
#
# Usage: [RUNS=5] [TXCAP=1000] [CAPACITY=100000] [FSYNC_PER_TX=true] [WARM=0|1|2] [MEMORY_BYTES=N] scripts/bench/file_channel.sh [LINES]     (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
LINES=${1:-1000000}
LINE_BYTES=100
TXCAP=${TXCAP:-1000}   # the channels' transactionCapacity (the file channel's default is 10000)
RUNS=${RUNS:-5}
# false: Flume's trade of durability for speed (a put commits once written).
FSYNC_PER_TX=${FSYNC_PER_TX:-true}
WARM=${WARM:-0}
. scripts/bench/lib.sh
bench_setup
# Synced: its own writeback would compete with the file channel for the disk.
make_input "$WORK/input" "$LINES" "$LINE_BYTES"

run() {
  local channel=$1 P D agent t0 t1
  P=$(port); D=$WORK/$channel; rm -rf "$D"; mkdir -p "$D"
  null_agent "$P" "$channel" "$D" > "$D/agent.conf"
  if [ "$channel" = file ]; then
    printf 'a1.channels.c1.fsyncPerTransaction = %s\n' "$FSYNC_PER_TX" >> "$D/agent.conf"
    if [ -n "${MEMORY_BYTES:-}" ]; then
      printf 'a1.channels.c1.memoryBytes = %s\n' "$MEMORY_BYTES" >> "$D/agent.conf"
    fi
    if [ "$WARM" -gt 0 ]; then
      printf 'a1.channels.c1.maxFileSize = 33554432\na1.channels.c1.checkpointInterval = 1000\n' >> "$D/agent.conf"
    fi
  fi
  "$SLUICE" agent -f "$D/agent.conf" -n a1 >"$D/log" 2>&1 &
  agent=$!
  wait_port "$P"
  local pass deadline
  for pass in $(seq "$WARM"); do
    send_all "$P" "$WORK/input" "$D/log" "$LINES" "$pass" || return 1
    # Checkpoints have freed every data file but the current one.
    deadline=$(( $(date +%s) + 60 ))
    while [ "$channel" = file ] && [ "$(find "$D/data" -name 'log-*' | wc -l)" -gt 1 ]; do
      [ "$(date +%s)" -gt "$deadline" ] && { echo "data files never freed" >&2; return 1; }
      sleep 0.05
    done
    sync
  done
  t0=$(now)
  send_all "$P" "$WORK/input" "$D/log" "$LINES" $((WARM + 1)) || return 1
  kill -TERM "$agent"; wait "$agent" || true
  t1=$(now)
  if grep -q "lost" "$D/log"; then cat "$D/log" >&2; return 1; fi
  if [ "$channel" = file ] && [ "$WARM" -gt 0 ]; then
    echo $((LINES * (LINE_BYTES + 1))) > "$WORK/file_bytes"
  elif [ "$channel" = file ]; then
    du -cb "$D"/data/log-* | tail -1 | cut -f1 > "$WORK/file_bytes"
  fi
  # The next run starts with the disk quiet (outside the clock).
  rm -rf "$D/cp" "$D/data"; sync
  python3 -c "print($t1-$t0)"
}
# The disk alone: dd of the bytes the last file run wrote, from a copy of
# the input (page-cached, synced: it reads nothing from the disk).
disk() {
  local bytes t0 t1
  bytes=$(cat "$WORK/file_bytes")
  [ -s "$WORK/ddsrc" ] || { cat "$WORK/input" "$WORK/input" > "$WORK/ddsrc"; sync "$WORK/ddsrc"; }
  cat "$WORK/ddsrc" > /dev/null
  t0=$(now)
  dd if="$WORK/ddsrc" of="$WORK/dd.out" bs=1M count="$bytes" iflag=count_bytes conv=fdatasync status=none
  t1=$(now)
  rm -f "$WORK/dd.out"; sync
  python3 -c "print($t1-$t0)"
}
T_MEM=(); T_FILE=(); T_DD=(); FSYNCS=()
for _ in $(seq "$RUNS"); do
  T_MEM+=("$(run memory)") || { echo "memory run failed" >&2; exit 1; }
  T_FILE+=("$(run file)") || { echo "file run failed" >&2; exit 1; }
  FSYNCS+=("$(grep -o '[0-9]* fdatasyncs' "$WORK/file/log" | tail -1 | cut -d' ' -f1)")
  T_DD+=("$(disk)") || { echo "dd failed" >&2; exit 1; }
done
echo
echo "$LINES lines of $LINE_BYTES bytes, sink batch 1000, transactionCapacity $TXCAP, fsyncPerTransaction $FSYNC_PER_TX, $([ "$WARM" -gt 0 ] && echo "a running agent (WARM=$WARM)" || echo "a fresh agent"), $RUNS runs each ($(nproc) cores, $(uname -r), $(df --output=source,fstype "$WORK" | tail -1))"
echo
python3 - "$LINES" "${T_MEM[*]}" "${T_FILE[*]}" "${FSYNCS[*]}" "${T_DD[*]}" "$(cat "$WORK/file_bytes")" "$WARM" <<'PY'
import statistics, sys
n = int(sys.argv[1])
mem = [float(x) for x in sys.argv[2].split()]
fil = [float(x) for x in sys.argv[3].split()]
fs = [int(x) for x in sys.argv[4].split()]
dd = [float(x) for x in sys.argv[5].split()]
file_bytes = int(sys.argv[6])
def row(name, ts):
    runs = ", ".join(f"{n/t/1e6:.2f}" for t in ts)
    m = statistics.median(ts)
    print(f"| {name} | {n/m:,.0f} | {m:.3f} | {runs} |")
print("| pipeline | events/s (median) | seconds (median) | every run, M events/s |")
print("| --- | ---: | ---: | --- |")
row("sluice netcat -> memory -> null", mem)
row("sluice netcat -> file -> null", fil)
row(f"the disk alone: dd of the same {file_bytes/1e6:.0f} MB, fdatasync'd (as events/s)", dd)
print()
ratio = statistics.median(mem) / statistics.median(fil)
pairs = ", ".join(f"{m/f:.2f}" for m, f in zip(mem, fil))
print(f"file / memory: {ratio:.2f} of the events/s, medians (goal: at least 0.5); run by run: {pairs}")
print(f"fdatasyncs per file run{' (every pass)' if sys.argv[7] != '0' else ''}: {', '.join(map(str, fs))}")
floor = statistics.median(mem) / statistics.median(dd)
print(f"dd / memory: {floor:.2f} (the most any channel writing these bytes could reach); "
      f"file / dd: {statistics.median(dd) / statistics.median(fil):.2f}; "
      f"run by run file / dd: {', '.join(f'{d/f:.2f}' for d, f in zip(dd, fil))}")
PY
