#!/usr/bin/env bash
# The whole test suite: sets up what the tests need (a Python venv with the
# stock supervisor 4.3, used as the real peer), then runs every test binary
# (--no-fail-fast: one failing binary does not hide the others' results).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/supervisorctl ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet 'supervisor==4.3.0'
fi
export SLUICE_SUPERVISORCTL="$PWD/.venv/bin/supervisorctl"
export SLUICE_SUPERVISORD="$PWD/.venv/bin/supervisord"
cargo test --all-targets --no-fail-fast "$@"
