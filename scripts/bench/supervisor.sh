#!/usr/bin/env bash
# The supervisor benchmark: sluice against supervisord 4.3.0, same run,
# same programs, same config header. Measures
#   - respawn latency after `kill -9` of a program,
#   - log capture MB/s of a program writing 300 MB to stdout (and the same
#     writer into `cat > file` through a plain pipe, the limit),
#   - daemon RSS with 1, 50 and 100 programs running,
#   - wall time of one `ctl status` with 50 and 100 programs,
# and prints one markdown table (both columns, the ratio, each goal met or
# not). See docs/benchmarks.md for what each figure means.
#
# Usage: scripts/bench/supervisor.sh [--respawn-runs N] [--capture-runs N]
#                                    [--capture-mb MB] [--status-runs N]
#
# Needs python3 (with venv) and cargo. Installs supervisor==4.3.0 from PyPI
# into .venv (the venv scripts/test.sh makes) when it is not there yet.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/bench/lib.sh
supervisor_venv

echo "building sluice (release)..." >&2
cargo build --release --quiet
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
SLUICE=$TARGET_DIR/release/sluice

# Short path: the unix sockets live in here (108-byte limit).
WORK=$(mktemp -d /tmp/sluice-bench.XXXXXX)
BENCH_PID=
cleanup() {
  # bench.py stops every daemon and what they started itself (SIGTERM and
  # SIGINT included); this only makes sure it is gone before the files are.
  if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

python3 scripts/bench/bench.py --sluice "$SLUICE" --venv "$PWD/.venv" --work "$WORK" \
  --sleep "$(command -v sleep)" "$@" &
BENCH_PID=$!
wait "$BENCH_PID"
