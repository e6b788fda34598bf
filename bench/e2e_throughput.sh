#!/usr/bin/env bash
# End-to-end throughput of sluice against the logical decoding ceiling.
#
#   bench/e2e_throughput.sh [--single N] [--big N] [--transform N] [--endpoint kinesalite|kinesis-local]
#
# For each scenario it creates two slots at the same WAL position (one for
# sluice, one for pg_recvlogical), runs the load with nobody reading, then
# drains the same WAL twice: pg_recvlogical to /dev/null (the ceiling), and
# sluice to a Kinesis emulator (start to slot confirmed past the load). It
# prints rows/s for both, their ratio, sluice's CPU seconds per million changes
# and its peak RSS. Scenarios: N single-row insert transactions (default
# 100,000), one transaction inserting N rows (default 1,000,000), and one
# transaction of N rows (default 300,000) delivered without and with a Lua
# transform that reshapes each record (0 skips a scenario).
#
# Everything runs on 127.0.0.1 in a temp dir that is removed at the end.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
single=100000
big=1000000
transform=300000
endpoint_kind=kinesalite
while [[ $# -gt 0 ]]; do
  case "$1" in
    --single) single="$2"; shift 2 ;;
    --big) big="$2"; shift 2 ;;
    --transform) transform="$2"; shift 2 ;;
    --endpoint) endpoint_kind="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 64 ;;
  esac
done

pg_bin=/usr/lib/postgresql/15/bin
source "$repo/bench/lib.sh"
bench_setup bench 26000

PG_EXTRA_CONF=$'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_wal_size = 4GB\nwal_sender_timeout = 0' \
  "$repo/scripts/pg.sh" start "$work/pg" "$pg_port" >/dev/null
"$repo/scripts/kinesis.sh" start "$work/kinesis" "$kin_port" "$endpoint_kind" >/dev/null
endpoint="http://127.0.0.1:$kin_port"
node "$repo/tools/node/create_stream.mjs" --endpoint "$endpoint" --stream bench --shards 4 >/dev/null

psql_ -c "CREATE TABLE bench_rows (id bigserial PRIMARY KEY, account int, status text, total numeric(12,2), created_at timestamptz DEFAULT now())"
psql_ -c "CREATE PUBLICATION bench_pub FOR TABLE bench_rows"

cat >"$work/sluice.yaml" <<YAML
data_dir: $work/data
databases:
  - name: app
    url: postgres://postgres@127.0.0.1:$pg_port/app
    slot: {name: sluice_bench}
    publication: {name: bench_pub}
sinks:
  - name: bench
    database: app
    batch_size: 500
    destination:
      type: kinesis
      stream_arn: arn:aws:kinesis:us-east-1:000000000000:stream/bench
      access_key_id: AKIDBENCH
      secret_access_key: bench-secret
      endpoint_url: $endpoint
YAML

# The same sink with a transform (the cost of running Lua per message).
sed -e 's/^sinks:$/functions:\
  - name: reshape\
    type: transform\
    code: |\
      function transform(action, record, changes, metadata)\
        return {id = record.id, account = record.account, total = record.total,\
                action = action, table = metadata.table_name}\
      end\
sinks:/' -e 's/^    batch_size: 500$/    batch_size: 500\
    transform: reshape/' "$work/sluice.yaml" >"$work/sluice-transform.yaml"

lsn_of() { psql_ -Atc "SELECT pg_current_wal_lsn()"; }

run_scenario() {
  local name="$1" rows="$2" load_sql="$3" config="${4:-$work/sluice.yaml}"
  [[ "$rows" -gt 0 ]] || return 0
  psql_ -c "SELECT pg_create_logical_replication_slot('sluice_bench', 'pgoutput')" >/dev/null
  psql_ -c "SELECT pg_create_logical_replication_slot('recv_bench', 'pgoutput')" >/dev/null
  eval "$load_sql"
  local target
  target="$(lsn_of)"

  # The ceiling: pg_recvlogical drains the same WAL to /dev/null.
  local t0 t1
  t0="$(now_s)"
  "$pg_bin/pg_recvlogical" -h "$work/pg" -p "$pg_port" -U postgres -d app --slot recv_bench --start \
    -o proto_version=1 -o publication_names=bench_pub --endpos="$target" --no-loop -f /dev/null
  t1="$(now_s)"
  local recv_s
  recv_s="$(echo "$t1 - $t0" | bc -l)"

  # sluice: from process start until the slot is confirmed past the load.
  local emu_pid emu_ticks0
  emu_pid="$(cat "$work/kinesis/kinesis.pid")"
  emu_ticks0="$(awk '{print $14 + $15}' "/proc/$emu_pid/stat")"
  t0="$(now_s)"
  "$sluice" run -c "$config" 2>"$work/sluice-$name.log" &
  sluice_pid=$!
  while :; do
    local confirmed
    confirmed="$(psql_ -Atc "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'sluice_bench'")"
    [[ "$(lsn_ge "$confirmed" "$target")" == t ]] && break
    kill -0 "$sluice_pid" 2>/dev/null || { cat "$work/sluice-$name.log" >&2; exit 1; }
    sleep 0.05
  done
  t1="$(now_s)"
  local ticks hz rss
  ticks="$(awk '{print $14 + $15}' "/proc/$sluice_pid/stat")"
  hz="$(getconf CLK_TCK)"
  rss="$(awk '/VmHWM/ {print $2}' "/proc/$sluice_pid/status")"
  local emu_cpu_s
  emu_cpu_s="$(echo "($(awk '{print $14 + $15}' "/proc/$emu_pid/stat") - $emu_ticks0) / $(getconf CLK_TCK)" | bc -l)"
  kill -TERM "$sluice_pid"
  wait "$sluice_pid" || true
  sluice_pid=""
  local sluice_s cpu_s
  sluice_s="$(echo "$t1 - $t0" | bc -l)"
  cpu_s="$(echo "$ticks / $hz" | bc -l)"
  printf '| %s | %d | %.0f | %.0f | %.2f | %.2f | %d | %.2f |\n' \
    "$name" "$rows" "$(echo "$rows / $recv_s" | bc -l)" "$(echo "$rows / $sluice_s" | bc -l)" \
    "$(echo "$recv_s / $sluice_s" | bc -l)" "$(echo "$cpu_s * 1000000 / $rows" | bc -l)" "$((rss / 1024))" \
    "$(echo "$emu_cpu_s * 1000000 / $rows" | bc -l)"
  psql_ -c "SELECT pg_drop_replication_slot('sluice_bench'), pg_drop_replication_slot('recv_bench')" >/dev/null
}

echo "endpoint: $endpoint_kind, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "| scenario | changes | pg_recvlogical rows/s | sluice rows/s | ratio | sluice CPU s per 1M changes | sluice peak RSS MB | emulator CPU s per 1M changes |"
echo "|---|---|---|---|---|---|---|---|"
echo "INSERT INTO bench_rows (account, status, total) VALUES (:client_id, 'new', 10.50);" >"$work/insert.sql"
run_scenario "single-row transactions" "$single" \
  "\"$pg_bin/pgbench\" -n -h \"$work/pg\" -p $pg_port -U postgres -c 2 -j 2 -t $((single / 2)) -f \"$work/insert.sql\" app >/dev/null"
run_scenario "one ${big}-row transaction" "$big" \
  "psql_ -c \"INSERT INTO bench_rows (account, status, total) SELECT g % 1000, 'new', g / 100.0 FROM generate_series(1, $big) g\""
big_insert() {
  echo "psql_ -c \"INSERT INTO bench_rows (account, status, total) SELECT g % 1000, 'new', g / 100.0 FROM generate_series(1, $1) g\""
}
run_scenario "one ${transform}-row transaction, no function" "$transform" "$(big_insert "$transform")"
run_scenario "one ${transform}-row transaction, Lua transform" "$transform" "$(big_insert "$transform")" \
  "$work/sluice-transform.yaml"
