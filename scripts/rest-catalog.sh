#!/usr/bin/env bash
# Apache Iceberg's REST catalog server (iceberg-open-api 1.10.1, RESTCatalogServer) for
# development and CI, backed by a JdbcCatalog on the local PostgreSQL server.
#
#   scripts/rest-catalog.sh start    fetch the jars (first time), start, wait until GET /v1/config
#                                    answers. Idempotent.
#   scripts/rest-catalog.sh stop     SIGTERM, wait (SIGKILL after 30 s)
#   scripts/rest-catalog.sh status   exit 0 when the server answers
#   scripts/rest-catalog.sh reset    stop and delete the warehouse (keeps the jars; the
#                                    catalog rows in PostgreSQL stay: use a fresh K2_REST_CATALOG_NAME)
#
# Everything lives under .k2/rest-catalog/ (gitignored): lib/ (jars from Maven Central, fetched
# with `mvn dependency:copy-dependencies` on scripts/rest-catalog/pom.xml), warehouse/ (table
# files: the server writes metadata files itself), server.log, server.pid.
# Endpoint: http://127.0.0.1:8181 (K2_REST_PORT). Catalog database: K2_REST_JDBC_URI
# (default jdbc:postgresql://127.0.0.1:5432/test, user postgres), catalog_name K2_REST_CATALOG_NAME.
#
# RESTCatalogServer reads its configuration from CATALOG_* variables: the prefix is dropped,
# `__` becomes `-`, `_` becomes `.`, lower case (CATALOG_JDBC_USER -> jdbc.user,
# CATALOG_REST_PORT -> rest.port, CATALOG_CATALOG__IMPL -> catalog-impl).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
here="$root/scripts/rest-catalog"
home="${K2_REST_HOME:-$root/.k2/rest-catalog}"
port="${K2_REST_PORT:-8181}"
jdbc_uri="${K2_REST_JDBC_URI:-jdbc:postgresql://127.0.0.1:5432/test}"
jdbc_user="${K2_REST_JDBC_USER:-postgres}"
catalog_name="${K2_REST_CATALOG_NAME:-k2_rest}"
lib="$home/lib"
warehouse="${K2_REST_WAREHOUSE:-$home/warehouse}"
log="$home/server.log"
pidfile="$home/server.pid"
url="http://127.0.0.1:$port"

mkdir -p "$home"

say() { echo "rest-catalog: $*"; }

pid_alive() {
  [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

answers() {
  curl -fsS -m 2 "$url/v1/config" >/dev/null 2>&1
}

fetch_jars() {
  if [[ -f "$lib/.stamp" && "$lib/.stamp" -nt "$here/pom.xml" ]]; then return 0; fi
  say "fetching the REST catalog server jars from Maven Central into $lib"
  rm -rf "$lib"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$lib" -DincludeScope=runtime
  touch "$lib/.stamp"
}

java_check() {
  local v
  v="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
  if [[ -z "$v" || "$v" -lt 17 ]]; then
    echo "rest-catalog: Java 17 or newer is required (found: ${v:-none})" >&2
    exit 1
  fi
}

start() {
  if pid_alive && answers; then say "already running on $url (pid $(cat "$pidfile"))"; return 0; fi
  if ! pid_alive && answers; then say "a server already answers on $url (not started by this script)"; return 0; fi
  if pid_alive; then
    say "pid $(cat "$pidfile") is starting; waiting"
  else
    java_check
    fetch_jars
    mkdir -p "$warehouse"
    say "starting on $url, catalog $catalog_name in $jdbc_uri, warehouse $warehouse (log: $log)"
    # setsid: the server outlives this shell and the test runner that called it.
    env CATALOG_CATALOG__IMPL=org.apache.iceberg.jdbc.JdbcCatalog \
      CATALOG_CATALOG_NAME="$catalog_name" \
      CATALOG_URI="$jdbc_uri" \
      CATALOG_JDBC_USER="$jdbc_user" \
      CATALOG_JDBC_PASSWORD="${K2_REST_JDBC_PASSWORD:-}" \
      CATALOG_JDBC_SCHEMA__VERSION=V1 \
      CATALOG_WAREHOUSE="$warehouse" \
      CATALOG_REST_PORT="$port" \
      setsid nohup java -Xms256m -Xmx1g -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
      -cp "$lib/*" org.apache.iceberg.rest.RESTCatalogServer >>"$log" 2>&1 </dev/null 9>&- &
    echo $! >"$pidfile"
  fi
  local deadline=$((SECONDS + ${K2_REST_START_TIMEOUT:-90}))
  until answers; do
    if ! pid_alive; then
      tail -30 "$log" >&2
      echo "rest-catalog: the server exited during start-up (see $log)" >&2
      rm -f "$pidfile"
      exit 1
    fi
    if ((SECONDS > deadline)); then
      tail -30 "$log" >&2
      echo "rest-catalog: no answer on $url after ${K2_REST_START_TIMEOUT:-90}s (see $log)" >&2
      exit 1
    fi
    sleep 0.5
  done
  say "up on $url (pid $(cat "$pidfile"))"
}

stop() {
  if ! pid_alive; then rm -f "$pidfile"; say "not running"; return 0; fi
  local pid
  pid="$(cat "$pidfile")"
  say "stopping pid $pid"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; say "stopped"; return 0; }
    sleep 0.5
  done
  say "no clean shutdown after 30s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

status() {
  if answers; then
    say "up on $url$(pid_alive && echo " (pid $(cat "$pidfile"))")"
    curl -fsS -m 2 "$url/v1/config"; echo
  else
    say "down$(pid_alive && echo " (pid $(cat "$pidfile")) alive but not answering")"
    return 1
  fi
}

cmd="${1:-}"
case "$cmd" in
  start | stop | reset)
    # One start/stop at a time (parallel test workers all call start).
    exec 9>"$home/.lock"
    flock 9
    case "$cmd" in
      start) start ;;
      stop) stop ;;
      reset) stop; rm -rf "$warehouse"; say "warehouse removed" ;;
    esac
    ;;
  status) status ;;
  *) echo "usage: scripts/rest-catalog.sh start|stop|status|reset" >&2; exit 2 ;;
esac
