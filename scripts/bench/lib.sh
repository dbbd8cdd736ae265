# What the line benchmarks (engine.sh, file_channel.sh) share. Sourced.

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
