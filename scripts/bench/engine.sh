#!/usr/bin/env bash
# The engine benchmark (issue 3): 1,000,000 lines of 100 bytes over one TCP
# connection into
#   - sluice: netcat (ack-every-event=false) -> memory -> file_roll, and -> null
#   - syslog-ng 3 (Debian): tcp source -> file destination
#   - socat: TCP -> file, the limit
# Each run: start the receiver, send the file with socat, stop the clock when
# the output holds every byte (for the null sink: when every line is in the
# channel and the agent has drained it and stopped, see below). Prints a markdown table.
#
# Usage: scripts/bench/engine.sh [LINES]     (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
LINES=${1:-1000000}
LINE_BYTES=100
TOTAL=$((LINES * LINE_BYTES))

need() { command -v "$1" >/dev/null 2>&1; }
if ! need socat || ! need syslog-ng; then
  echo "installing socat and syslog-ng-core (apt)..." >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends socat syslog-ng-core >/dev/null
fi
cargo build --release --quiet
SLUICE=$PWD/target/release/sluice

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

. scripts/bench/lib.sh
# The input: numbered lines, each exactly 100 bytes with its newline.
make_input "$WORK/input" "$LINES" "$LINE_BYTES"

# Wait (polling, 5 ms) until the files matching $1 hold $2 bytes; 120 s at most.
wait_bytes() {
  local pattern=$1 want=$2 deadline=$(( $(date +%s) + 120 ))
  while :; do
    local have
    # File sizes, not contents: reading 100 MB every poll would compete
    # with the pipeline under test for the same two cores.
    have=$(stat -c %s $pattern 2>/dev/null | awk '{n += $1} END {print n + 0}')
    [ "$have" -ge "$want" ] && return 0
    [ "$(date +%s)" -gt "$deadline" ] && { echo "timeout: $have of $want bytes in $pattern" >&2; return 1; }
    sleep 0.005
  done
}
send() { socat -u "FILE:$WORK/input" "TCP:127.0.0.1:$1"; }
rate() { python3 -c "import sys; t=float(sys.argv[1]); print(f'{$LINES/t:,.0f} | {$TOTAL/t/1e6:,.1f}')" "$1"; }

results=()

# --- socat: the limit -------------------------------------------------------
P=$(port); OUT=$WORK/socat.out
socat -u "TCP-LISTEN:$P,reuseaddr" "OPEN:$OUT,creat,trunc" & PIDS+=($!)
wait_port "$P"
t0=$(now); send "$P"; wait_bytes "$OUT" "$TOTAL"; t1=$(now)
T_SOCAT=$(python3 -c "print($t1-$t0)")
results+=("| socat TCP -> file (limit) | $(rate "$T_SOCAT") | $(printf %.2f "$T_SOCAT") |")
wait; PIDS=()

# --- syslog-ng --------------------------------------------------------------
P=$(port); D=$WORK/syslog-ng; mkdir -p "$D"
cat > "$D/syslog-ng.conf" <<CONF
@version: 3.38
options { keep-hostname(yes); log-fifo-size(100000); };
source s_tcp { network(ip("127.0.0.1") port($P) transport("tcp") flags(no-parse) log-iw-size(100000) max-connections(10)); };
destination d_file { file("$D/out" template("\$MSG\n") flush-lines(1000)); };
log { source(s_tcp); destination(d_file); };
CONF
syslog-ng -F --no-caps -f "$D/syslog-ng.conf" -R "$D/persist" -p "$D/pid" -c "$D/ctl" >"$D/stdout" 2>&1 & PIDS+=($!)
wait_port "$P"
t0=$(now); send "$P"; wait_bytes "$D/out" "$TOTAL"; t1=$(now)
T_SNG=$(python3 -c "print($t1-$t0)")
results+=("| syslog-ng $(syslog-ng --version | head -1 | awk '{print $2}') tcp -> file | $(rate "$T_SNG") | $(printf %.2f "$T_SNG") |")
kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; PIDS=()

# --- sluice: netcat -> memory -> file_roll / null ----------------------------
sluice_run() {
  local sink=$1 P D
  P=$(port); D=$WORK/sluice-$sink; mkdir -p "$D/out"
  { netcat_agent "$P"; cat <<CONF
a1.channels.c1.type = memory
a1.channels.c1.capacity = 100000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.channel = c1
CONF
  } > "$D/agent.conf"
  if [ "$sink" = file_roll ]; then
    printf 'a1.sinks.k1.type = file_roll\na1.sinks.k1.sink.directory = %s\na1.sinks.k1.sink.rollInterval = 0\na1.sinks.k1.sink.batchSize = 1000\n' "$D/out" >> "$D/agent.conf"
  else
    printf 'a1.sinks.k1.type = null\na1.sinks.k1.batchSize = 1000\n' >> "$D/agent.conf"
  fi
  "$SLUICE" agent -f "$D/agent.conf" -n a1 >"$D/log" 2>&1 & PIDS+=($!)
  local agent=$!
  wait_port "$P"
  local t0 t1
  t0=$(now); send "$P" || { cat "$D/log" >&2; return 1; }
  if [ "$sink" = file_roll ]; then
    wait_bytes "$D/out/*" "$TOTAL" || { cat "$D/log" >&2; return 1; }
  else
    # null leaves no trace: wait until the source logs that the connection
    # closed (every line is in the channel then), stop the agent (it drains
    # the channel into the sink first) and time until it exits. The drain
    # and the stop are part of the time.
    local deadline=$(( $(date +%s) + 120 ))
    until grep -q "closed the connection after $LINES events" "$D/log"; do
      [ "$(date +%s)" -gt "$deadline" ] && { cat "$D/log" >&2; return 1; }
      sleep 0.005
    done
    kill -TERM "$agent"; wait "$agent" || true
    if grep -q "lost" "$D/log"; then cat "$D/log" >&2; return 1; fi
  fi
  t1=$(now)
  kill "$agent" 2>/dev/null || true; wait 2>/dev/null || true; PIDS=()
  python3 -c "print($t1-$t0)"
}
T_ROLL=$(sluice_run file_roll) || { echo "the sluice file_roll run failed" >&2; exit 1; }
results+=("| sluice netcat -> memory -> file_roll | $(rate "$T_ROLL") | $(printf %.2f "$T_ROLL") |")
T_NULL=$(sluice_run null) || { echo "the sluice null run failed" >&2; exit 1; }
results+=("| sluice netcat -> memory -> null | $(rate "$T_NULL") | $(printf %.2f "$T_NULL") |")

echo
echo "$LINES lines of $LINE_BYTES bytes over one TCP connection ($(nproc) cores, $(uname -r))"
echo
echo "| pipeline | events/s | MB/s | seconds |"
echo "| --- | ---: | ---: | ---: |"
printf '%s\n' "${results[@]}"
python3 - "$T_SOCAT" "$T_SNG" "$T_ROLL" <<'PY'
import sys
socat, sng, roll = map(float, sys.argv[1:])
print()
print(f"sluice file_roll vs syslog-ng: {sng/roll:.1f}x the events/s (goal: at least 10x)")
print(f"sluice file_roll vs socat: {socat/roll:.2f} of the bytes/s (goal: at least 0.5)")
PY
