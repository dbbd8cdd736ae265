# shellcheck shell=bash
# What the benchmarks (engine.sh, file_channel*.sh, flume.sh, supervisor.sh)
# share. Sourced.

# make_input FILE LINES WIDTH: numbered lines, each exactly WIDTH bytes with
# its newline, synced (their writeback must not compete with the run).
make_input() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
path, n, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pad = "x" * width
with open(path, "w") as f:
    for i in range(n):
        s = f"{i:010d} "
        f.write(s + pad[: width - 1 - len(s)] + "\n")
PY
  sync "$1"
}

# supervisor_venv: .venv (the venv scripts/test.sh makes) with supervisord
# 4.3.0 from PyPI, made when it is not there yet; exits when it holds another
# version.
supervisor_venv() {
  if [ ! -x .venv/bin/supervisord ] || [ ! -x .venv/bin/supervisorctl ]; then
    echo "making .venv with supervisor 4.3.0 (PyPI)..." >&2
    python3 -m venv .venv
    .venv/bin/pip install --quiet 'supervisor==4.3.0'
  fi
  local version
  version=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("supervisor"))')
  if [ "$version" != "4.3.0" ]; then
    echo "error: .venv has supervisor $version, the benchmark wants 4.3.0" >&2
    exit 1
  fi
}

# A free TCP port on 127.0.0.1.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

now() { date +%s.%N; }

# Wait until something listens on port $1 (read from /proc, no connection
# made: socat accepts only one).
wait_port() {
  local hex deadline=$(( $(date +%s) + 30 ))
  hex=$(printf ':%04X' "$1")
  until awk -v p="$hex" '$2 ~ p"$" && $4 == "0A" {found=1} END {exit !found}' /proc/net/tcp /proc/net/tcp6 2>/dev/null; do
    [ "$(date +%s)" -gt "$deadline" ] && { echo "port $1 never opened" >&2; return 1; }
    sleep 0.01
  done
}

# netcat_agent PORT: the start of agent a1's properties, its names and a
# netcat source r1 on 127.0.0.1:PORT (no acknowledgements) into channel
# c1; the caller adds the channel and the sink.
netcat_agent() {
  cat <<CONF
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = netcat
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = $1
a1.sources.r1.ack-every-event = false
a1.sources.r1.max-line-length = 1024
a1.sources.r1.channels = c1
CONF
}

# bench_setup: what the file channel benchmarks start with: socat there, the
# release build ($SLUICE), and a work directory ($WORK) removed at exit.
bench_setup() {
  command -v socat >/dev/null || { echo "needs socat" >&2; exit 1; }
  cargo build --release --quiet
  SLUICE=$PWD/target/release/sluice
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
}

# null_agent PORT CHANNEL DIR: agent a1, netcat on PORT -> CHANNEL
# (capacity ${CAPACITY:-100000}, transactionCapacity ${TXCAP:-1000}) ->
# null, batch 1000; a file channel's directories under DIR.
null_agent() {
  netcat_agent "$1"
  cat <<CONF
a1.channels.c1.type = $2
a1.channels.c1.capacity = ${CAPACITY:-100000}
a1.channels.c1.transactionCapacity = ${TXCAP:-1000}
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
a1.sinks.k1.batchSize = 1000
CONF
  if [ "$2" = file ]; then
    printf 'a1.channels.c1.checkpointDir = %s\na1.channels.c1.dataDirs = %s\n' "$3/cp" "$3/data"
  fi
}

# send_all PORT INPUT LOG LINES [NTH]: INPUT over one connection to PORT,
# then wait until the agent's LOG says the source has all LINES committed
# (for the NTH connection so; 300 s at most; the log on stderr when it
# never does).
send_all() {
  socat -u "FILE:$2" "TCP:127.0.0.1:$1"
  wait_log "$3" "closed the connection after $4 events" "${5:-1}"
}

# wait_log LOG TEXT [NTH]: wait until TEXT (a grep pattern) is in LOG NTH
# times (300 s at most; the log on stderr when it never is).
wait_log() {
  local deadline=$(( $(date +%s) + 300 ))
  until [ "$(grep -c "$2" "$1")" -ge "${3:-1}" ]; do
    [ "$(date +%s)" -gt "$deadline" ] && { cat "$1" >&2; return 1; }
    sleep 0.002
  done
}
