#!/usr/bin/env bash
# Runs the whole test suite against the embedded backends (SQLite, miniredis)
# and against real MySQL/MariaDB and Redis.
#
# Real servers: TEST_MYSQL_DSN / TEST_REDIS_URL when set; otherwise the local
# ones on 127.0.0.1, started if installed but stopped, installed with apt when
# missing (needs root). A throwaway database is created for the run and
# dropped afterwards. Extra arguments go to `go test` (e.g. -run TestLedger).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'test.sh: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  command -v apt-get >/dev/null || { log "apt-get not found; install $* by hand"; exit 1; }
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # wait_for DESCRIPTION COMMAND...
  local what=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  log "$what did not come up"; return 1
}

ensure_mysql() {
  if [ -n "${TEST_MYSQL_DSN:-}" ]; then return 0; fi
  local ping=(mysqladmin --protocol=tcp -h127.0.0.1 -P3306 -uroot ping)
  if ! command -v mysqladmin >/dev/null; then apt_install mariadb-server mariadb-client; fi
  if ! "${ping[@]}" >/dev/null 2>&1; then
    log "starting MariaDB"
    as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
    if [ ! -d /var/lib/mysql/mysql ]; then as_root mariadb-install-db --user=mysql >/dev/null 2>&1 || true; fi
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql --bind-address=127.0.0.1 \
      || as_root service mariadb start
    wait_for MariaDB "${ping[@]}"
  fi
  # A fresh throwaway database for this run; tests create theirs beside it.
  RUN_DB="jifen_test_$$"
  mysql --protocol=tcp -h127.0.0.1 -P3306 -uroot -e "CREATE DATABASE IF NOT EXISTS \`$RUN_DB\` CHARACTER SET utf8mb4"
  export TEST_MYSQL_DSN="root@tcp(127.0.0.1:3306)/$RUN_DB"
  DROP_RUN_DB=1
}

ensure_redis() {
  if [ -n "${TEST_REDIS_URL:-}" ]; then return 0; fi
  if ! command -v redis-server >/dev/null; then apt_install redis-server; fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis"
    as_root mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/test.log
    wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping
  fi
  export TEST_REDIS_URL="redis://127.0.0.1:6379/0"
}

cleanup() {
  if [ "${DROP_RUN_DB:-}" = 1 ]; then
    # Drop the run's database and any per-test ones a killed test left.
    for db in $(mysql --protocol=tcp -h127.0.0.1 -P3306 -uroot -N -e "SHOW DATABASES LIKE 'jifen\\_test\\_$$%'"); do
      mysql --protocol=tcp -h127.0.0.1 -P3306 -uroot -e "DROP DATABASE \`$db\`" || true
    done
  fi
}
trap cleanup EXIT

ensure_mysql
ensure_redis
log "MySQL: ${TEST_MYSQL_DSN}  Redis: ${TEST_REDIS_URL}"

unformatted=$(gofmt -l $(git ls-files -co --exclude-standard '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then log "not gofmt-formatted:"; echo "$unformatted" >&2; exit 1; fi
go vet ./...
go test -race -count=1 -timeout 15m "$@" ./...
