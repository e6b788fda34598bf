#!/usr/bin/env bash
# The demo: a throwaway Postgres and kinesis-local, sluice between them, a few
# changes every couple of seconds, and the messages as an AWS SDK reader gets
# them back from Kinesis. Ctrl-C stops everything and cleans up.
#
#   scripts/demo.sh
#
# Everything lives under ./.demo/ (DEMO_KEEP=1 keeps it afterwards). Ports:
# DEMO_PG_PORT (25432), DEMO_KINESIS_PORT (4567; its TLS port is +1),
# DEMO_API_PORT (7376). DEMO_ROUNDS=N stops after N rounds of changes;
# SLUICE_BIN=path uses that binary instead of building build/src/cli/sluice.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

pg_port="${DEMO_PG_PORT:-25432}"
kinesis_port="${DEMO_KINESIS_PORT:-4567}"
api_port="${DEMO_API_PORT:-7376}"
rounds="${DEMO_ROUNDS:-0}"  # 0 = until Ctrl-C
demo_dir="$repo_root/.demo"
stream="sluice-demo"
export AWS_EC2_METADATA_DISABLED=true

say() { printf '\033[1m[demo]\033[0m %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# --- dependencies and build -------------------------------------------------
if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null || ! command -v node >/dev/null ||
   [[ ! -x /usr/lib/postgresql/15/bin/initdb ]] || [[ ! -d tools/node/node_modules/kinesis-local ]]; then
  say "installing dependencies (scripts/setup.sh)"
  scripts/setup.sh
fi
if [[ -n "${SLUICE_BIN:-}" ]]; then
  sluice_bin="$SLUICE_BIN"  # a binary built elsewhere
else
  say "building sluice (build/)"
  if [[ ! -f build/build.ninja ]]; then
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  ninja -C build sluice >/dev/null || die "build failed (run: ninja -C build sluice)"
  sluice_bin="build/src/cli/sluice"
fi
[[ -x "$sluice_bin" ]] || die "no sluice binary at $sluice_bin"

# --- services -----------------------------------------------------------------
pg_dir="$demo_dir/pg"
kinesis_dir="$demo_dir/kinesis"
sluice_pid=""
reader_pid=""

cleanup() {
  trap - INT TERM EXIT
  say "stopping"
  [[ -n "$reader_pid" ]] && kill "$reader_pid" 2>/dev/null || true
  if [[ -n "$sluice_pid" ]] && kill -0 "$sluice_pid" 2>/dev/null; then
    kill -TERM "$sluice_pid" 2>/dev/null || true
    wait "$sluice_pid" 2>/dev/null || true
  fi
  scripts/kinesis.sh stop "$kinesis_dir" || true
  scripts/pg.sh stop "$pg_dir" || true
  if [[ "${DEMO_KEEP:-0}" != 1 ]]; then
    rm -rf "$demo_dir"
  else
    say "kept $demo_dir (sluice.log, sluice.yaml)"
  fi
}

# Leftovers of an earlier run that did not clean up.
scripts/kinesis.sh stop "$kinesis_dir" 2>/dev/null || true
scripts/pg.sh stop "$pg_dir" 2>/dev/null || true
rm -rf "$demo_dir"
mkdir -p "$demo_dir"
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ $(id -u) -eq 0 ]] && ! runuser -u postgres -- test -x "$demo_dir"; then
  # The cluster runs as user postgres, which cannot reach this checkout
  # (e.g. under /root): keep it in /tmp instead.
  pg_dir="$(mktemp -d /tmp/sluice-demo-pg.XXXXXX)"
  chmod 755 "$pg_dir"
fi

say "starting Postgres on 127.0.0.1:$pg_port"
scripts/pg.sh start "$pg_dir" "$pg_port" >/dev/null
say "starting kinesis-local on 127.0.0.1:$kinesis_port"
scripts/kinesis.sh start "$kinesis_dir" "$kinesis_port" kinesis-local >/dev/null
endpoint="http://127.0.0.1:$kinesis_port"

psql_app() { psql -X -q -v ON_ERROR_STOP=1 -h "$pg_dir" -p "$pg_port" -U postgres -d app "$@"; }

stream_arn="$(cd tools/node && node create_stream.mjs --endpoint "$endpoint" --stream "$stream" --shards 2 |
  node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).arn)')"
say "stream $stream_arn"

psql_app <<'SQL'
CREATE TABLE public.orders (
  id serial PRIMARY KEY,
  account_id int NOT NULL,
  status text NOT NULL,
  total numeric(10, 2) NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE public.orders REPLICA IDENTITY FULL;
SQL

cat >"$demo_dir/sluice.yaml" <<EOF
# Written by scripts/demo.sh: throwaway Postgres and kinesis-local on loopback.
data_dir: $demo_dir/sluice-data
api: {listen: "127.0.0.1:$api_port"}
databases:
  - name: app
    url: postgres://postgres:demo@127.0.0.1:$pg_port/app
    slot: {name: sluice_demo_slot, create_if_not_exists: true}
    publication: {name: sluice_demo_pub, create_if_not_exists: true}
sinks:
  - name: kinesis-sink
    database: app
    source: {include_tables: [public.orders]}
    tables: [{name: public.orders, group_column_names: [account_id]}]
    batch_size: 10
    destination:
      type: kinesis
      stream_arn: "$stream_arn"
      access_key_id: AKIAIOSFODNN7EXAMPLE
      secret_access_key: demo-secret-key
      endpoint_url: "$endpoint"
      tls_verify: false
EOF

say "starting sluice: $sluice_bin run -c $demo_dir/sluice.yaml (log: $demo_dir/sluice.log)"
env AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
  "$sluice_bin" run -c "$demo_dir/sluice.yaml" </dev/null 2>"$demo_dir/sluice.log" >&2 &
sluice_pid=$!

for _ in $(seq 1 300); do  # up to 30 s for the replication slot to go active
  if [[ "$(psql_app -Atc "SELECT active FROM pg_replication_slots WHERE slot_name = 'sluice_demo_slot'")" == t ]]; then
    break
  fi
  kill -0 "$sluice_pid" 2>/dev/null || { tail -n 30 "$demo_dir/sluice.log" >&2; die "sluice exited"; }
  sleep 0.1
done
[[ "$(psql_app -Atc "SELECT active FROM pg_replication_slots WHERE slot_name = 'sluice_demo_slot'")" == t ]] ||
  { tail -n 30 "$demo_dir/sluice.log" >&2; die "sluice did not start streaming within 30 s"; }

say "sluice is streaming; web console, API and /metrics at http://127.0.0.1:$api_port"
say "  sign in with the API token sluice generated in $demo_dir/sluice-data/api-token"
say "  e.g. $sluice_bin sinks list -c $demo_dir/sluice.yaml; $sluice_bin messages list -c $demo_dir/sluice.yaml --state delivered"
say "messages read back from Kinesis by tools/node/read_stream.mjs (AWS SDK):"
(cd tools/node && exec node read_stream.mjs --endpoint "$endpoint" --stream "$stream" --follow --format pretty) &
reader_pid=$!

statuses=(pending paid shipped delivered)
round=0
while [[ "$rounds" -eq 0 || "$round" -lt "$rounds" ]]; do
  round=$((round + 1))
  account=$((RANDOM % 3 + 1))
  psql_app >/dev/null <<SQL
INSERT INTO orders (account_id, status, total) VALUES ($account, 'pending', $((RANDOM % 500)).$((RANDOM % 90 + 10)));
UPDATE orders SET status = '${statuses[$((round % 4))]}', updated_at = now()
  WHERE id = (SELECT id FROM orders ORDER BY random() LIMIT 1);
$( ((round % 3 == 0)) && echo "DELETE FROM orders WHERE id = (SELECT min(id) FROM orders);" )
SQL
  kill -0 "$sluice_pid" 2>/dev/null || { tail -n 30 "$demo_dir/sluice.log" >&2; die "sluice exited"; }
  sleep 2
done
# DEMO_ROUNDS: give the reader a moment to print the last changes.
sleep 3
