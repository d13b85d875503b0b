#!/usr/bin/env bash
# PostgreSQL for integration tests. Development and CI machines already run a server on
# 127.0.0.1:5432 (trust auth, database `test`); `ensure` starts the packaged cluster if it
# is down and fails loudly if there is none.
set -euo pipefail
case "${1:-ensure}" in
  ensure)
    if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then echo "postgres: up on 127.0.0.1:5432"; exit 0; fi
    if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
      for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && { echo "postgres: started"; exit 0; }; sleep 1; done
    fi
    echo "postgres: no server on 127.0.0.1:5432 and none could be started" >&2
    exit 1
    ;;
  *) echo "usage: scripts/postgres.sh ensure" >&2; exit 2 ;;
esac
