#!/usr/bin/env bash
# A file channel's start on a large backlog (issue 5): LINES lines of 100
# bytes go over TCP into netcat -> file -> file_roll whose directory does
# not exist (the sink cannot deliver, the channel keeps everything); the
# agent stops (a checkpoint), the page cache is dropped when run as root,
# and the agent starts again on the same directories. Prints the replay
# line from the agent log and the agent's peak and current RSS after it.
#
# With CRASH=1 the first agent is killed with SIGKILL instead: no
# checkpoint at stop, the start replays the whole log.
#
# Usage: [CRASH=1] scripts/bench/file_channel_replay.sh [LINES]     (default 5000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
LINES=${1:-5000000}
. scripts/bench/lib.sh
bench_setup
make_input "$WORK/input" "$LINES" 100
P=$(port)
{ netcat_agent "$P"; cat <<CONF
a1.channels.c1.type = file
a1.channels.c1.capacity = $((LINES * 2))
a1.channels.c1.checkpointDir = $WORK/cp
a1.channels.c1.dataDirs = $WORK/data
a1.channels.c1.minimumRequiredSpace = 1048576
a1.sinks.k1.type = file_roll
a1.sinks.k1.channel = c1
a1.sinks.k1.sink.directory = $WORK/no-such-dir
CONF
} > "$WORK/agent.conf"
"$SLUICE" agent -f "$WORK/agent.conf" -n a1 > "$WORK/log1" 2>&1 &
agent=$!
wait_port "$P"
socat -u "FILE:$WORK/input" "TCP:127.0.0.1:$P"
until grep -q "closed the connection after $LINES events" "$WORK/log1"; do sleep 0.05; done
if [ "${CRASH:-0}" = 1 ]; then kill -KILL "$agent"; else kill -TERM "$agent"; fi
wait "$agent" || true
sync
checkpoint_bytes=$(stat -c %s "$WORK/cp/checkpoint" 2>/dev/null || echo none)
cold="page cache warm (not root)"
if [ "$(id -u)" = 0 ] && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then cold="page cache dropped"; fi
"$SLUICE" agent -f "$WORK/agent.conf" -n a1 > "$WORK/log2" 2>&1 &
agent=$!
until grep -q "replayed" "$WORK/log2"; do sleep 0.01; done
mem=$(grep -E "VmHWM|VmRSS" /proc/$agent/status | tr -s ' \t' ' ' | tr '\n' ' ')
kill -TERM "$agent"; wait "$agent" || true
echo "$LINES lines of 100 bytes, $(du -sh "$WORK/data" | cut -f1) of data files, checkpoint $checkpoint_bytes bytes, $cold$([ "${CRASH:-0}" = 1 ] && echo ", after kill -9")"
grep -o "replayed.*" "$WORK/log2"
echo "after the replay: $mem"
