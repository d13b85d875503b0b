#!/usr/bin/env bash
# Apicurio Registry 3.3.3 for development and CI: its Confluent-compatible API (ccompat v7) is
# what K2's --schema-registry / K2_SCHEMA_REGISTRY_URL client speaks. Storage is in memory (H2):
# every start begins with no subjects.
#
#   scripts/schema-registry.sh start    fetch and unpack the distribution (first time), start,
#                                       wait until GET /apis/ccompat/v7/subjects answers. Idempotent.
#   scripts/schema-registry.sh stop     SIGTERM, wait (SIGKILL after 30 s)
#   scripts/schema-registry.sh status   exit 0 when the registry answers
#
# Everything lives under .k2/schema-registry/ (K2_SCHEMA_REGISTRY_HOME; gitignored): dist/ (Apicurio's Quarkus fast-jar
# distribution from Maven Central, io.apicurio:apicurio-registry-app:tar.gz:all, copied with
# `mvn dependency:copy-dependencies` on scripts/schema-registry/pom.xml and unpacked with tar),
# server.log, server.pid.
# Endpoint: http://127.0.0.1:8081/apis/ccompat/v7 (K2_SCHEMA_REGISTRY_PORT); Quarkus' management
# interface (health, metrics) on 127.0.0.1:8082 (K2_SCHEMA_REGISTRY_MANAGEMENT_PORT).
# Apicurio 3 is built for Java 21: the JVM is K2_SCHEMA_REGISTRY_JAVA, else `java` when it is 21
# or newer, else the newest JDK under /usr/lib/jvm.
# `start` waits K2_SERVICE_START_TIMEOUT seconds (90) for an answer.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
here="$root/scripts/schema-registry"
home="${K2_SCHEMA_REGISTRY_HOME:-$root/.k2/schema-registry}"
port="${K2_SCHEMA_REGISTRY_PORT:-8081}"
management_port="${K2_SCHEMA_REGISTRY_MANAGEMENT_PORT:-8082}"
lib="$home/dist"
log="$home/server.log"
pidfile="$home/server.pid"
url="http://127.0.0.1:$port/apis/ccompat/v7"

mkdir -p "$home"

name=schema-registry
endpoint="$url"
stop_seconds=30
java_min=21
source "$root/scripts/lib.sh"

major() { "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }

pick_java() {
  if [[ -n "${K2_SCHEMA_REGISTRY_JAVA:-}" ]]; then echo "$K2_SCHEMA_REGISTRY_JAVA"; return; fi
  local v best="" best_v=0 j
  v="$(major java)"
  if [[ -n "$v" && "$v" -ge "$java_min" ]]; then echo java; return; fi
  for j in /usr/lib/jvm/*/bin/java; do
    [[ -x "$j" ]] || continue
    v="$(major "$j")"
    if [[ -n "$v" && "$v" -gt "$best_v" ]]; then best="$j"; best_v="$v"; fi
  done
  echo "${best:-java}"
}

# The distribution arrives as one tar.gz: GNU tar, because Maven's unpacker truncates its long
# (PAX) file names.
unpack() {
  tar xzf apicurio-registry-app-*-all.tar.gz
  rm apicurio-registry-app-*-all.tar.gz
}

answers() {
  curl -fsS -m 2 "$url/subjects" >/dev/null 2>&1
}

launch() {
  say "starting Apicurio Registry on $url with $java (log: $log)"
  # setsid: the server outlives this shell and the test runner that called it.
  # C1 only: start-up CPU 7.3 -> 4.4 s on 2 cores; a test registry serves too few requests for C2.
  setsid nohup "$java" -Xms128m -Xmx768m -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port" \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$management_port" \
    -jar "$lib/quarkus-run.jar" >>"$log" 2>&1 </dev/null 9>&- &
  echo $! >"$pidfile"
}

describe() {
  curl -fsS -m 2 "http://127.0.0.1:$port/apis/registry/v3/system/info"; echo
  echo "subjects: $(curl -fsS -m 2 "$url/subjects")"
}

cmd="${1:-}"
case "$cmd" in
  start) java="$(pick_java)"; locked start ;;
  stop) locked stop ;;
  status) status ;;
  *) echo "usage: scripts/schema-registry.sh start|stop|status" >&2; exit 2 ;;
esac
