#!/bin/sh
# Throwaway PostgreSQL 15 for source tests: wal_level=logical, 127.0.0.1 only,
# trust auth, owned by the `postgres` OS user when run as root (initdb refuses root).
#   pg_server.sh start <dir> <port> [wal_level]   initdb (if needed) + start, waits until ready
#   pg_server.sh restart <dir>     fast shutdown, start again with the same options
#   pg_server.sh stop <dir>
set -eu
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=$1 dir=$2
as_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
case $cmd in
start)
  port=$3
  wal_level=${4:-logical}
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_pg "'$PGBIN/initdb' -D '$dir' -A trust -U postgres --no-sync" >"$dir.initdb.log" 2>&1
  fi
  as_pg "'$PGBIN/pg_ctl' -D '$dir' -l '$dir/server.log' -w -t 60 \
    -o \"-c listen_addresses=127.0.0.1 -p $port -k '$dir' -c wal_level=$wal_level \
        -c max_wal_senders=10 -c max_replication_slots=10 -c fsync=off\" start" >/dev/null
  ;;
restart)
  as_pg "'$PGBIN/pg_ctl' -D '$dir' -l '$dir/server.log' -m fast -w -t 60 restart" >/dev/null
  ;;
stop)
  as_pg "'$PGBIN/pg_ctl' -D '$dir' -m immediate -w stop" >/dev/null 2>&1 || true
  ;;
*)
  echo "usage: $0 start <dir> <port> [wal_level] | restart <dir> | stop <dir>" >&2
  exit 2
  ;;
esac
