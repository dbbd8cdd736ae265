#!/usr/bin/env bash
# The whole test suite: sets up what the tests need (a Python venv with the
# stock supervisor 4.3, and the real Apache Flume 1.11 and Apache Kafka 4.1
# from tests/peers/ when Java and Maven are here), then runs every test
# binary (--no-fail-fast: one failing binary does not hide the others'
# results). Without Java or Maven (or kcat, for Kafka) the tests against
# those peers say they were skipped and why, unless SLUICE_PEERS_REQUIRED=1
# (CI) makes that a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/supervisorctl ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet 'supervisor==4.3.0'
fi
if command -v java >/dev/null && command -v mvn >/dev/null; then
  for peer in flume kafka; do
    tests/peers/peer.sh fetch $peer >&2 || [ "${SLUICE_PEERS_REQUIRED:-}" != 1 ] || exit 1
  done
else
  echo "scripts/test.sh: no java or no mvn: the tests against the real Apache Flume and Kafka will be skipped" >&2
fi
export SLUICE_SUPERVISORCTL="$PWD/.venv/bin/supervisorctl"
export SLUICE_SUPERVISORD="$PWD/.venv/bin/supervisord"
cargo test --all-targets --no-fail-fast "$@"
