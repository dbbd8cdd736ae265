#!/usr/bin/env bash
# The whole suite N times in a row (default 5) with every core kept busy by
# a `yes > /dev/null` of its own: the tests must hold on a loaded machine.
# Stops at the first failing run; its output is kept in target/loaded-run-K.log.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cores=$(nproc)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for _ in $(seq "$cores"); do
  yes > /dev/null &
  pids+=($!)
done
mkdir -p target
for k in $(seq "$runs"); do
  start=$(date +%s)
  if scripts/test.sh > "target/loaded-run-$k.log" 2>&1; then
    echo "run $k/$runs: passed in $(( $(date +%s) - start )) s ($cores cores busy)"
  else
    echo "run $k/$runs: FAILED after $(( $(date +%s) - start )) s; see target/loaded-run-$k.log:"
    grep -E '^test .* FAILED|^---- ' "target/loaded-run-$k.log" || true
    exit 1
  fi
done
