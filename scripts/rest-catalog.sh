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
# Everything lives under .k2/rest-catalog/ (K2_REST_HOME; gitignored): lib/ (jars from Maven Central, fetched
# with `mvn dependency:copy-dependencies` on scripts/rest-catalog/pom.xml), warehouse/ (table
# files: the server writes metadata files itself; K2_REST_WAREHOUSE), server.log, server.pid.
# Endpoint: http://127.0.0.1:8181 (K2_REST_PORT). Catalog database: K2_REST_JDBC_URI
# (default jdbc:postgresql://127.0.0.1:5432/test), user K2_REST_JDBC_USER (postgres), password
# K2_REST_JDBC_PASSWORD (none), catalog_name K2_REST_CATALOG_NAME (k2_rest). `start` waits
# K2_SERVICE_START_TIMEOUT seconds (90) for an answer.
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

name=rest-catalog
endpoint="$url"
stop_seconds=30
source "$root/scripts/lib.sh"

answers() {
  curl -fsS -m 2 "$url/v1/config" >/dev/null 2>&1
}

launch() {
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
}

describe() {
  curl -fsS -m 2 "$url/v1/config"; echo
}

cmd="${1:-}"
case "$cmd" in
  start) locked start ;;
  stop) locked stop ;;
  reset) locked stop; rm -rf "$warehouse"; say "warehouse removed" ;;
  status) status ;;
  *) echo "usage: scripts/rest-catalog.sh start|stop|status|reset" >&2; exit 2 ;;
esac
