#!/usr/bin/env bash
# One Apache Kafka broker (KRaft: combined broker + controller) for development and CI: 4.4.0, or
# K2_KAFKA_VERSION (3.5.0 or newer, e.g. 3.9.1 as on MSK and Confluent Platform 7.x; docs/kafka.md).
#
#   scripts/kafka.sh start    fetch the jars (first time), format storage (first time), start,
#                             wait until a metadata request succeeds. Idempotent.
#   scripts/kafka.sh stop     SIGTERM, wait for a clean shutdown (SIGKILL after 60 s)
#   scripts/kafka.sh status   exit 0 when the broker answers
#   scripts/kafka.sh topics   list topics and partition counts
#   scripts/kafka.sh reset    stop and delete the data (keeps the jars)
#
# Everything lives under .k2/kafka/ (K2_KAFKA_HOME; gitignored): lib/ (jars from Maven Central, fetched with
# `mvn dependency:copy-dependencies` on scripts/kafka/pom.xml), data/ (KRaft log dirs),
# server.properties (generated), server.log, kafka.pid.
# Clients: 127.0.0.1:9092 (K2_KAFKA_PORT); controller: 127.0.0.1:9093 (K2_KAFKA_CONTROLLER_PORT).
# `start` waits K2_SERVICE_START_TIMEOUT seconds (90) for an answer.
# A home's data belong to the version that formatted it (kafka-version): another version refuses
# to start there; give it a home of its own (K2_KAFKA_HOME) or `reset` first.
#
# A secured listener beside it, off unless K2_KAFKA_SECURE_PORT is set (docs/kafka.md "A secured cluster"):
#   K2_KAFKA_SECURE_PORT       SASL_SSL on 127.0.0.1:<port> (TLS, then SASL PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)
#   K2_KAFKA_SECURE_USERNAME   its user (default k2)
#   K2_KAFKA_SECURE_PASSWORD   its password (default k2-dev-secret: a development broker's, not a secret)
# Its self-signed CA and server certificate (for 127.0.0.1 and localhost) are made with openssl under
# tls/ the first time; clients trust tls/ca.pem (K2_KAFKA_TLS_CA_FILE). The SCRAM users are written
# when the storage is formatted: `reset` a home first formatted without the listener.
#   K2_KAFKA_AUTHORIZER=1      with K2_KAFKA_SECURE_PORT: ACLs enforced (KRaft's StandardAuthorizer, nothing
#                              allowed without an ACL). The PLAINTEXT listener's principal (User:ANONYMOUS, also the
#                              broker's own) is a super user: ACLs are made through it; the SASL user gets only those.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
here="$root/scripts/kafka"
home="${K2_KAFKA_HOME:-$root/.k2/kafka}"
port="${K2_KAFKA_PORT:-9092}"
controller_port="${K2_KAFKA_CONTROLLER_PORT:-9093}"
lib="$home/lib"
data="$home/data"
log="$home/server.log"
pidfile="$home/kafka.pid"
props="$home/server.properties"
broker="127.0.0.1:$port"
secure_port="${K2_KAFKA_SECURE_PORT:-}"
secure_user="${K2_KAFKA_SECURE_USERNAME:-k2}"
secure_password="${K2_KAFKA_SECURE_PASSWORD:-k2-dev-secret}"
tls="$home/tls"
version="${K2_KAFKA_VERSION:-}"
version_file="$home/kafka-version"
authorizer="${K2_KAFKA_AUTHORIZER:-}"
if [[ -n "$authorizer" && "$authorizer" != 1 ]]; then echo "kafka: K2_KAFKA_AUTHORIZER is 1 or unset, not $authorizer" >&2; exit 2; fi
if [[ -n "$authorizer" && -z "$secure_port" ]]; then
  echo "kafka: K2_KAFKA_AUTHORIZER needs K2_KAFKA_SECURE_PORT (its SASL user is the one the ACLs hold back)" >&2; exit 2
fi

mkdir -p "$home"

name=kafka
endpoint="$broker"
stop_seconds=60
source "$root/scripts/lib.sh"

# K2_KAFKA_VERSION overrides the pom's kafka.version. KRaft's dynamic quorum (`format
# --standalone`, controller.quorum.bootstrap.servers) came in 3.9; 3.5 to 3.8 take a static
# controller.quorum.voters. Before 3.5 the storage tool cannot write the SCRAM users.
static_quorum=""
format_quorum=(--standalone)
mvn_props=()
if [[ -n "$version" ]]; then
  if [[ ! "$version" =~ ^([0-9]+)\.([0-9]+)\.[0-9]+$ ]] \
    || ((BASH_REMATCH[1] < 3 || (BASH_REMATCH[1] == 3 && BASH_REMATCH[2] < 5))); then
    echo "kafka: K2_KAFKA_VERSION=$version: want a release 3.5.0 or newer, as x.y.z" >&2
    exit 2
  fi
  if ((BASH_REMATCH[1] == 3 && BASH_REMATCH[2] < 9)); then static_quorum=1 format_quorum=(); fi
  mvn_props=("-Dkafka.version=$version")
fi

answers() {
  node "$here/admin.mjs" ping "$broker" >/dev/null 2>&1
}

# The secured listener's CA and server certificate, once: clients keep trusting tls/ca.pem.
make_certificates() {
  if [[ -f "$tls/server.pem" && -f "$tls/ca.pem" ]]; then return 0; fi
  say "making a self-signed CA and server certificate in $tls"
  mkdir -p "$tls"
  (
    cd "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=K2 development CA" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.crt 2>/dev/null
    # Kafka reads a PEM keystore: the unencrypted PKCS#8 key, then the chain.
    openssl pkcs8 -topk8 -nocrypt -in server.key -out server.p8
    cat server.p8 server.crt ca.pem >server.pem
    rm -f server.csr server.ext server.p8 ca.srl
  ) || { echo "kafka: making the certificates with openssl failed" >&2; exit 1; }
}

# The secured listener's lines of server.properties (none without K2_KAFKA_SECURE_PORT).
secure_props() {
  [[ -n "$secure_port" ]] || return 0
  cat <<EOF
listener.name.secured.ssl.keystore.type=PEM
listener.name.secured.ssl.keystore.location=$tls/server.pem
listener.name.secured.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.secured.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$secure_user="$secure_password";
listener.name.secured.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.secured.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  [[ -n "$authorizer" ]] || return 0
  cat <<EOF
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
# The PLAINTEXT and controller listeners (the broker itself, and the local admin making ACLs).
super.users=User:ANONYMOUS
EOF
}

quorum_props() {
  if [[ -n "$static_quorum" ]]; then
    echo "controller.quorum.voters=1@127.0.0.1:$controller_port"
  else
    echo "controller.quorum.bootstrap.servers=127.0.0.1:$controller_port"
  fi
}

write_props() {
  local listeners="PLAINTEXT://127.0.0.1:$port" map="PLAINTEXT:PLAINTEXT"
  if [[ -n "$secure_port" ]]; then
    listeners="$listeners,SECURED://127.0.0.1:$secure_port"
    map="$map,SECURED:SASL_SSL"
  fi
  cat >"$props" <<EOF
# Generated by scripts/kafka.sh: edit the script, not this file.
process.roles=broker,controller
node.id=1
listeners=$listeners,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$map,CONTROLLER:PLAINTEXT
$(secure_props)
$(quorum_props)
log.dirs=$data
# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
default.replication.factor=1
num.partitions=1
# Topics are created by K2 from its configuration, never by a stray producer or consumer.
auto.create.topics.enable=false
# Tests join and leave groups constantly: no initial delay.
group.initial.rebalance.delay.ms=0
num.network.threads=3
num.io.threads=4
log.retention.hours=168
log.segment.bytes=268435456
EOF
}

# The data of one version: refuse another (a 4.x metadata log does not start a 3.x broker), before
# any jars are fetched.
check_version() {
  [[ -f "$data/meta.properties" ]] || return 0
  local formatted
  formatted="$(cat "$version_file" 2>/dev/null || echo default)"
  if [[ "$formatted" != "${version:-default}" ]]; then
    echo "kafka: $data was formatted by Kafka $formatted, not ${version:-default}:" \
      "use another K2_KAFKA_HOME or \`scripts/kafka.sh reset\` first" >&2
    exit 1
  fi
}

format_storage() {
  if [[ -f "$data/meta.properties" ]]; then return 0; fi
  local cluster_id
  # A url-safe base64 id may start with "-", which the tool's argument parser takes for a flag.
  cluster_id="-"
  while [[ "$cluster_id" == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  say "formatting KRaft storage (cluster id $cluster_id)"
  local scram=()
  if [[ -n "$secure_port" ]]; then
    scram=(--add-scram "SCRAM-SHA-256=[name=$secure_user,password=$secure_password]"
      --add-scram "SCRAM-SHA-512=[name=$secure_user,password=$secure_password]")
  fi
  java -cp "$lib/*" -Dlog4j2.configurationFile="$here/log4j2.xml" -Dk2.kafka.log="$log" \
    kafka.tools.StorageTool format ${format_quorum[@]+"${format_quorum[@]}"} -t "$cluster_id" -c "$props" ${scram[@]+"${scram[@]}"} >>"$log" 2>&1 \
    || { tail -20 "$log" >&2; echo "kafka: storage format failed" >&2; exit 1; }
  echo "${version:-default}" >"$version_file"
}

launch() {
  mkdir -p "$data"
  if [[ -n "$secure_port" ]]; then make_certificates; fi
  write_props
  format_storage
  say "starting on $broker${secure_port:+, SASL_SSL on 127.0.0.1:$secure_port} (log: $log)"
  # setsid: the broker outlives this shell and the test runner that called it.
  setsid nohup java \
    -Xms512m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/log4j2.xml" -Dk2.kafka.log="$log" \
    -cp "$lib/*" kafka.Kafka "$props" >>"$log" 2>&1 </dev/null 9>&- &
  echo $! >"$pidfile"
}

describe() {
  node "$here/admin.mjs" ping "$broker"
}

cmd="${1:-}"
case "$cmd" in
  start) check_version; locked start ;;
  stop) locked stop ;;
  reset) locked stop; rm -rf "$data" "$props" "$version_file"; say "data removed" ;;
  status) status ;;
  topics) node "$here/admin.mjs" topics "$broker" ;;
  *) echo "usage: scripts/kafka.sh start|stop|status|topics|reset" >&2; exit 2 ;;
esac
