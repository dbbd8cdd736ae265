#!/usr/bin/env bash
# The real systems sluice is tested against, fetched from Maven Central into
# a cache outside the repository (nothing downloaded is committed).
#
#   tests/peers/peer.sh fetch flume        fetch (once) and print what is there
#   tests/peers/peer.sh classpath flume    the Java classpath, fetching first
#   tests/peers/peer.sh run flume FILE NAME [LOG]
#                                          run agent NAME of FILE in the
#                                          foreground (exec: the caller owns
#                                          the pid), output to LOG or stdout;
#                                          FLUME_HEAP sets -Xmx (128m),
#                                          FLUME_JAVA_OPTS adds JVM options
#                                          (split on blanks), e.g.
#                                          -Dflume.monitoring.type=http
#
# The cache: ${SLUICE_PEERS_CACHE:-~/.cache/sluice-peers}/<peer>-<version>,
# the jars in lib/ and cp.txt (the classpath), written last: a fetch that
# did not finish is done again.
# Flume 1.11.0 runs on Java 17 as it is: no --add-opens is needed for any
# component tests/flume_diff.rs runs (netcat, netcatudp, exec, seq; memory,
# file, spillablememory; logger, file_roll; the interceptors and selectors).
# A small heap (-Xmx) keeps it fit for 2 cores.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${SLUICE_PEERS_CACHE:-$HOME/.cache/sluice-peers}"

version_of() {
  case "$1" in
    flume) echo 1.11.0 ;;
    *) echo "peer.sh: unknown peer '$1' (known: flume)" >&2; exit 2 ;;
  esac
}

fetch() {
  local peer=$1 version dir
  version=$(version_of "$peer")
  dir="$cache/$peer-$version"
  if [ ! -s "$dir/cp.txt" ]; then
    command -v mvn >/dev/null || { echo "peer.sh: mvn is not installed" >&2; exit 3; }
    mkdir -p "$dir"
    local started=$SECONDS
    rm -rf "$dir/lib"
    mvn -q -B -f "$here/$peer/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$dir/lib" -DincludeScope=runtime >"$dir/fetch.log" 2>&1 || {
      echo "peer.sh: fetching $peer $version failed; see $dir/fetch.log" >&2
      tail -20 "$dir/fetch.log" >&2
      exit 3
    }
    # The classpath file appears only when every jar is there.
    ls "$dir"/lib/*.jar | paste -sd: >"$dir/cp.txt.part"
    mv "$dir/cp.txt.part" "$dir/cp.txt"
    echo "peer.sh: fetched $peer $version in $((SECONDS - started)) s" >&2
  fi
  echo "$dir"
}

cmd=${1:-}
case "$cmd" in
  fetch)
    dir=$(fetch "${2:?peer}")
    echo "$2 $(version_of "$2"): $(tr ':' '\n' <"$dir/cp.txt" | wc -l) jars, classpath in $dir/cp.txt"
    ;;
  classpath)
    dir=$(fetch "${2:?peer}")
    cat "$dir/cp.txt"
    ;;
  run)
    peer=${2:?peer} file=${3:?agent file} name=${4:?agent name} log=${5:-}
    [ "$peer" = flume ] || { echo "peer.sh: run knows flume only" >&2; exit 2; }
    dir=$(fetch flume)
    command -v java >/dev/null || { echo "peer.sh: java is not installed" >&2; exit 3; }
    [ -n "$log" ] && exec >"$log" 2>&1
    # shellcheck disable=SC2086 # FLUME_JAVA_OPTS is a list of options
    exec java -Xmx${FLUME_HEAP:-128m} ${FLUME_JAVA_OPTS:-} \
      -Dlog4j.configurationFile="$here/flume/log4j2.xml" \
      -cp "$(cat "$dir/cp.txt")" org.apache.flume.node.Application \
      -f "$file" -n "$name" --no-reload-conf
    ;;
  *)
    sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
    ;;
esac
