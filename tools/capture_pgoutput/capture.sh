#!/bin/sh
# Regenerates tests/testdata/pgoutput/<name>.hex from <name>.sql against a
# throwaway Postgres 15 (port 55201). Each .sql runs in two parts: the lines
# before "--- capture starts here" (schema, setup) run before the slot exists,
# the rest is what gets captured.
#   tools/capture_pgoutput/capture.sh <path to capture_pgoutput binary>
set -eu
BIN=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=$ROOT/tests/testdata/pgoutput
PORT=${PORT:-55201}
DIR=$(mktemp -d /tmp/sluice-capture.XXXXXX)/pg; chmod 755 "$(dirname "$DIR")"
SERVER=$ROOT/tests/unit/source/pg_server.sh
"$SERVER" start "$DIR" "$PORT"
trap '"$SERVER" stop "$DIR"; rm -rf "$(dirname "$DIR")"' EXIT
PSQL="psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PORT -U postgres -d postgres"
$PSQL -c "CREATE PUBLICATION golden FOR ALL TABLES" >/dev/null
for sql in "$DATA"/*.sql; do
  name=$(basename "$sql" .sql)
  sed '/^--- capture starts here/,$d' "$sql" | $PSQL >/dev/null
  $PSQL -c "SELECT pg_create_logical_replication_slot('golden_$name', 'pgoutput')" >/dev/null
  sed '1,/^--- capture starts here/d' "$sql" | $PSQL >/dev/null
  $PSQL -c "SELECT pg_logical_emit_message(false, 'golden:end', '')" >/dev/null
  "$BIN" 127.0.0.1 "$PORT" postgres postgres "golden_$name" golden "$DATA/$name.hex"
  $PSQL -c "SELECT pg_drop_replication_slot('golden_$name')" >/dev/null
  echo "captured $name.hex ($(grep -vc '^#' "$DATA/$name.hex") messages)"
done
