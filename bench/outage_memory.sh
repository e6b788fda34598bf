#!/usr/bin/env bash
# Memory and the local store during a Kinesis outage.
#
#   bench/outage_memory.sh [--rows N] [--memory-mb M] [--spill-after-ms MS]
#
# sluice runs with a small memory budget (default max_memory_mb 64) against
# kinesalite. The emulator is stopped, then N rows (default 300,000) are
# inserted in single transactions of 1,000 rows. The script waits until the
# replication slot's confirmed LSN passes the load while the emulator is still
# down (everything went to the local store), then starts the emulator again
# (fresh, with the stream re-created) and waits until a reader (AWS SDK) sees
# all N records. It prints how long each phase took, sluice's peak RSS (VmHWM)
# and the store's size at the end of the outage.
#
# Everything runs on 127.0.0.1 in a temp dir that is removed at the end.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rows=300000
memory_mb=64
spill_after_ms=2000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    --memory-mb) memory_mb="$2"; shift 2 ;;
    --spill-after-ms) spill_after_ms="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 64 ;;
  esac
done

source "$repo/bench/lib.sh"
bench_setup outage 27000

PG_EXTRA_CONF=$'fsync = off\nsynchronous_commit = off\nmax_wal_size = 4GB\nwal_sender_timeout = 0' \
  "$repo/scripts/pg.sh" start "$work/pg" "$pg_port" >/dev/null
endpoint="http://127.0.0.1:$kin_port"
start_emulator() {
  "$repo/scripts/kinesis.sh" start "$work/kinesis" "$kin_port" kinesalite >/dev/null
  node "$repo/tools/node/create_stream.mjs" --endpoint "$endpoint" --stream outage --shards 4 >/dev/null
}
start_emulator

psql_ -c "CREATE TABLE outage_rows (id bigserial PRIMARY KEY, account int, status text, total numeric(12,2))"
psql_ -c "CREATE PUBLICATION outage_pub FOR TABLE outage_rows"

cat >"$work/sluice.yaml" <<YAML
data_dir: $work/data
max_memory_mb: $memory_mb
spill_after_ms: $spill_after_ms
databases:
  - name: app
    url: postgres://postgres@127.0.0.1:$pg_port/app
    slot: {name: sluice_outage, create_if_not_exists: true}
    publication: {name: outage_pub}
sinks:
  - name: outage
    database: app
    batch_size: 500
    destination:
      type: kinesis
      stream_arn: arn:aws:kinesis:us-east-1:000000000000:stream/outage
      access_key_id: AKIDBENCH
      secret_access_key: bench-secret
      endpoint_url: $endpoint
      request_timeout_ms: 2000
      connect_timeout_ms: 500
YAML

"$sluice" run -c "$work/sluice.yaml" 2>"$work/sluice.log" &
sluice_pid=$!
until psql_ -Atc "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'sluice_outage' AND active" | grep -q 1; do
  kill -0 "$sluice_pid" 2>/dev/null || { cat "$work/sluice.log" >&2; exit 1; }
  sleep 0.1
done

"$repo/scripts/kinesis.sh" stop "$work/kinesis" >/dev/null
t0="$(now_s)"
psql_ -c "DO \$\$ BEGIN FOR i IN 1..$((rows / 1000)) LOOP
  INSERT INTO outage_rows (account, status, total) SELECT g % 1000, 'new', g / 100.0 FROM generate_series(1, 1000) g;
  COMMIT; END LOOP; END \$\$"
target="$(psql_ -Atc "SELECT pg_current_wal_lsn()")"
while :; do
  confirmed="$(psql_ -Atc "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'sluice_outage'")"
  [[ "$(lsn_ge "$confirmed" "$target")" == t ]] && break
  kill -0 "$sluice_pid" 2>/dev/null || { cat "$work/sluice.log" >&2; exit 1; }
  sleep 0.2
done
t1="$(now_s)"
store_mb="$(du -sm "$work/data" | cut -f1)"
rss_outage="$(awk '/VmHWM/ {print $2}' "/proc/$sluice_pid/status")"

start_emulator
t2="$(now_s)"
node "$repo/tools/node/read_stream.mjs" --endpoint "$endpoint" --stream outage --expect "$rows" \
  --timeout-ms 1800000 | wc -l >"$work/count"
t3="$(now_s)"
rss_end="$(awk '/VmHWM/ {print $2}' "/proc/$sluice_pid/status")"
# The reader's own time: read everything again, now that it is all there.
t4="$(now_s)"
node "$repo/tools/node/read_stream.mjs" --endpoint "$endpoint" --stream outage --expect "$rows" \
  --timeout-ms 1800000 >/dev/null
t5="$(now_s)"
kill -TERM "$sluice_pid"
wait "$sluice_pid" || true
sluice_pid=""

echo "rows: $rows in transactions of 1,000; max_memory_mb $memory_mb; spill_after_ms $spill_after_ms; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "| phase | seconds | rows/s | sluice peak RSS MB |"
echo "|---|---|---|---|"
printf '| outage: slot confirmed past the load, emulator down (store %s MB) | %.1f | %.0f | %d |\n' \
  "$store_mb" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$rows / ($t1 - $t0)" | bc -l)" "$((rss_outage / 1024))"
printf '| recovery: reader sees all %s records (%s read) | %.1f | %.0f | %d |\n' \
  "$rows" "$(cat "$work/count")" "$(echo "$t3 - $t2" | bc -l)" "$(echo "$rows / ($t3 - $t2)" | bc -l)" "$((rss_end / 1024))"
printf '| (the reader alone, reading all %s again) | %.1f | %.0f | |\n' \
  "$rows" "$(echo "$t5 - $t4" | bc -l)" "$(echo "$rows / ($t5 - $t4)" | bc -l)"
