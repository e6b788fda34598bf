#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for tests, the demo and benchmarks.
#
#   scripts/pg.sh start DIR PORT   # initdb (first time) + start; creates database `app`
#   scripts/pg.sh stop DIR         # fast shutdown (PORT accepted and ignored)
#   scripts/pg.sh status DIR
#
# DIR/data is the cluster, DIR holds the unix socket and DIR/postgres.log.
# The server listens on 127.0.0.1:PORT only, with wal_level=logical and trust
# authentication (superuser `postgres`, replication allowed). initdb refuses to
# run as root, so when run as root the server runs as user `postgres` and DIR is
# handed to it. Extra postgresql.conf lines may be passed in PG_EXTRA_CONF
# (e.g. PG_EXTRA_CONF=$'fsync=off\nsynchronous_commit=off').
set -euo pipefail

readonly pg_bin="${PG_BIN:-/usr/lib/postgresql/15/bin}"

die() { printf '[pg.sh] error: %s\n' "$*" >&2; exit 1; }
usage() { die "usage: $0 start DIR PORT | stop DIR | status DIR"; }

[[ $# -ge 2 ]] || usage
cmd="$1"
dir="$2"
port="${3:-}"

# Runs a command as the cluster owner.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

start() {
  [[ "$port" =~ ^[0-9]+$ ]] || usage
  dir="$(abs_dir "$dir")"
  local data="$dir/data"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres:postgres "$dir"
    as_owner test -w "$dir" ||
      die "user postgres cannot write $dir (a parent directory is not searchable?)"
  fi
  if [[ ! -f "$data/PG_VERSION" ]]; then
    as_owner "$pg_bin/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  # Settings live in an included file rewritten at each start, so a restart
  # with another port just works.
  as_owner tee "$data/sluice.conf" >/dev/null <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
max_connections = 100
timezone = 'UTC'
log_timezone = 'UTC'
${PG_EXTRA_CONF:-}
EOF
  if ! grep -q "^include_if_exists = 'sluice.conf'" "$data/postgresql.conf"; then
    echo "include_if_exists = 'sluice.conf'" | as_owner tee -a "$data/postgresql.conf" >/dev/null
  fi
  if as_owner "$pg_bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    die "a server is already running in $data"
  fi
  as_owner "$pg_bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 -s start ||
    { tail -n 30 "$dir/postgres.log" >&2; die "postgres did not start (port $port)"; }
  if [[ -z "$(psql_cmd -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'app'")" ]]; then
    psql_cmd -d postgres -qc "CREATE DATABASE app" >/dev/null
  fi
  echo "postgres://postgres@127.0.0.1:$port/app"
}

psql_cmd() {
  psql -X -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres "$@"
}

stop() {
  [[ -d "$dir/data" ]] || return 0
  dir="$(abs_dir "$dir")"
  if as_owner "$pg_bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 -s stop
  fi
}

status() {
  dir="$(abs_dir "$dir")"
  as_owner "$pg_bin/pg_ctl" -D "$dir/data" status
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
