#!/usr/bin/env bash
# The real systems sluice is tested against, fetched from Maven Central into
# a cache outside the repository (nothing downloaded is committed).
#
#   tests/peers/peer.sh fetch PEER         fetch (once) and print what is there
#   tests/peers/peer.sh classpath PEER     the Java classpath, fetching first
#   tests/peers/peer.sh run flume FILE NAME [LOG]
#                                          run agent NAME of FILE in the
#                                          foreground (exec: the caller owns
#                                          the pid), output to LOG or stdout;
#                                          FLUME_HEAP sets -Xmx (128m),
#                                          FLUME_JAVA_OPTS adds JVM options
#                                          (split on blanks), e.g.
#                                          -Dflume.monitoring.type=http
#   tests/peers/peer.sh run kafka DIR PORT CONTROLLER_PORT [LOG]
#                                          a single-node KRaft broker (broker
#                                          and controller in one JVM) on
#                                          127.0.0.1:PORT, its data and
#                                          server.properties in DIR (formatted
#                                          on first use; DIR/extra.properties,
#                                          if there, is added: listeners for
#                                          SASL or TLS); KAFKA_HEAP sets -Xmx
#                                          (256m); foreground, as for flume
#   tests/peers/peer.sh tool kafka CLASS ARGS...
#                                          one of Kafka's own tools, e.g.
#                                          org.apache.kafka.tools.ProducerPerformance
#
# PEER is flume (1.11.0) or kafka (4.1.1).
# The cache: ${SLUICE_PEERS_CACHE:-~/.cache/sluice-peers}/<peer>-<version>,
# the jars in lib/ and cp.txt (the classpath), written last: a fetch that
# did not finish is done again.
# Flume 1.11.0 runs on Java 17 as it is: no --add-opens is needed for any
# component tests/flume_diff.rs runs (netcat, netcatudp, exec, seq; memory,
# file, spillablememory; logger, file_roll; the interceptors and selectors).
# Kafka 4.1's broker needs Java 17 or later and runs on 17 as it is; its
# jars come from kafka_2.13 and kafka-tools, with log4j2 (and slf4j 2, which
# the binding speaks) named in its pom.xml.
# A small heap (-Xmx) keeps them fit for 2 cores (and, for Kafka, the serial
# collector: one GC thread).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${SLUICE_PEERS_CACHE:-$HOME/.cache/sluice-peers}"

version_of() {
  case "$1" in
    flume) echo 1.11.0 ;;
    kafka) echo 4.1.1 ;;
    *) echo "peer.sh: unknown peer '$1' (known: flume, kafka)" >&2; exit 2 ;;
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

need_java() {
  command -v java >/dev/null || { echo "peer.sh: java is not installed" >&2; exit 3; }
}

run_flume() {
  local file=${1:?agent file} name=${2:?agent name} log=${3:-} dir
  dir=$(fetch flume)
  need_java
  [ -n "$log" ] && exec >"$log" 2>&1
  # shellcheck disable=SC2086 # FLUME_JAVA_OPTS is a list of options
  exec java -Xmx${FLUME_HEAP:-128m} ${FLUME_JAVA_OPTS:-} \
    -Dlog4j.configurationFile="$here/flume/log4j2.xml" \
    -cp "$(cat "$dir/cp.txt")" org.apache.flume.node.Application \
    -f "$file" -n "$name" --no-reload-conf
}

# Kafka's KRaft mode wants its log directory formatted once, with a cluster
# id; --standalone makes this node the whole controller quorum.
run_kafka() {
  local data=${1:?data dir} port=${2:?port} cport=${3:?controller port} log=${4:-} dir cp
  dir=$(fetch kafka)
  need_java
  cp=$(cat "$dir/cp.txt")
  mkdir -p "$data/logs"
  cat >"$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
log.dirs=$data/logs
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
  if [ -f "$data/extra.properties" ]; then
    cat "$data/extra.properties" >>"$data/server.properties"
  fi
  [ -n "$log" ] && exec >"$log" 2>&1
  local java=(java -Xmx${KAFKA_HEAP:-256m} -Xms32m -XX:+UseSerialGC
    -Dlog4j2.configurationFile="$here/kafka/log4j2.xml" -cp "$cp")
  if [ ! -f "$data/logs/meta.properties" ]; then
    "${java[@]}" kafka.tools.StorageTool format --standalone --ignore-formatted \
      -t "$("${java[@]}" kafka.tools.StorageTool random-uuid)" \
      -c "$data/server.properties" || exit 3
  fi
  exec "${java[@]}" kafka.Kafka "$data/server.properties"
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
    peer=${2:?peer}
    case "$peer" in
      flume) run_flume "${@:3}" ;;
      kafka) run_kafka "${@:3}" ;;
      *) echo "peer.sh: run knows flume and kafka" >&2; exit 2 ;;
    esac
    ;;
  tool)
    [ "${2:-}" = kafka ] || { echo "peer.sh: tool knows kafka only" >&2; exit 2; }
    dir=$(fetch kafka)
    need_java
    exec java -Xmx${KAFKA_HEAP:-256m} -Dlog4j2.configurationFile="$here/kafka/log4j2.xml" \
      -cp "$(cat "$dir/cp.txt")" "${3:?class}" "${@:4}"
    ;;
  *)
    sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
    ;;
esac
