#!/usr/bin/env bash
# The benchmark suite: sluice against the logical decoding ceiling.
#
#   bench/run.sh [--quick] [--out DIR] [--endpoint bench|kinesalite] [--perf DIR]
#                [--only KEY[,KEY...]]
#
# Writes DIR/latest.md (a table), DIR/latest.json (every figure and the raw
# measurements) and the plots DIR/throughput.png and DIR/latency.png
# (DIR defaults to bench/results). The default run takes a few minutes on a
# 2-core machine; --quick runs every scenario at a tenth of its size and the
# latency runs for 10 s (a smoke test, under a minute; start-up dominates its
# figures).
#
# Throughput scenarios. Each creates two slots at the same WAL position (one
# for sluice, one for pg_recvlogical), runs its load with nobody reading, then
# drains the same WAL twice: pg_recvlogical into a file (the logical decoding
# ceiling, from process start until an end marker after the load comes out)
# and sluice to a Kinesis endpoint
# (from process start to the endpoint's receipt of the last record). Their
# ratio is the figure that holds on a noisy machine.
#   big_txn        one transaction inserting 1,000,000 rows
#   single_txns    100,000 single-row insert transactions
#   hot_updates    100,000 single-row update transactions on 10 hot rows (ordering:
#                  each row is one Kinesis partition key)
#   wide_rows      100,000 inserts of ~2 KB rows with a jsonb column, 100 per transaction
#   lua_transform  one 300,000-row transaction through a Lua transform
#   kinesalite     50,000 single-row insert transactions to kinesalite (a
#                  Node.js emulator: realism, not speed), order checked by
#                  reading the stream back
# Latency: sluice streams live while pgbench offers 5,000 single-row insert
# transactions per second for 30 s (synchronous_commit on); the endpoint
# measures each record's commit_timestamp against its arrival (the
# acknowledgement is the answer to that same request). Twice: with the
# suite's sink config (batch_size 500, max_in_flight 8) and with
# max_in_flight 1 (one request at a time, so batches fill meanwhile).
#
# The endpoint is tools/bench_kinesis (a low-CPU Kinesis-compatible server
# that counts, checks order and measures latency) when it is built in build/,
# else kinesalite (then latency and order figures are missing and the rates
# are kinesalite's). Figures per scenario: changes/s of both readers and their
# ratio, sluice's CPU time per change (user + system, all threads, from
# /proc), its peak RSS (VmHWM), the endpoint's CPU as a share of one core over
# sluice's run, and order violations (records of a key arriving out of commit
# order; must be 0).
#
# --only runs just the named scenarios (keys below, plus latency and
# latency_1) and writes latest.md and latest.json without plots; its --out
# defaults to /tmp/sluice-bench-only so the published results stay as they are.
#
# --perf DIR records a CPU profile of sluice in every scenario (perf record
# -g, attached from start to the last record; latency: the measured span) as
# DIR/KEY.perf.data; read one with `perf report -i DIR/KEY.perf.data`.
# BENCH_PERF_CALLGRAPH replaces perf's -g (frame pointers, which this build
# omits), e.g. "--call-graph dwarf,32768" for inclusive costs per function.
#
# SLUICE_BIN picks the sluice binary (default build/src/cli/sluice) and
# BENCH_KINESIS_BIN the endpoint (default build/tools/bench_kinesis/bench_kinesis).
# Everything runs on 127.0.0.1 in a temp dir that is removed at the end.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The command as run, with the binaries it was pointed at (paths relative to the repo).
command_line="bench/run.sh${*:+ $*}"
for var in BENCH_KINESIS_BIN SLUICE_BIN; do
  [[ -n "${!var:-}" ]] && command_line="$var=${!var#"$repo/"} $command_line"
done
quick=0
out="$repo/bench/results"
endpoint_kind=auto
perf_dir=""
only=""
out_given=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --out) out="$2"; out_given=1; shift 2 ;;
    --only) only=",$2,"; shift 2 ;;
    --endpoint) endpoint_kind="$2"; shift 2 ;;
    --perf) perf_dir="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 64 ;;
  esac
done

[[ -n "$only" && "$out_given" == 0 ]] && out=/tmp/sluice-bench-only
if [[ -n "$perf_dir" && "$quick" == 1 ]]; then
  echo "note: --quick scenarios can end before perf has attached (empty profiles)" >&2
fi
# wanted KEY: whether this run includes scenario KEY.
wanted() { [[ -z "$only" || "$only" == *",$1,"* ]]; }

# The commit measured, read now: the binaries are built from the tree as it is
# at the start (edits made while the suite runs do not change them).
commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  commit="$commit (with uncommitted changes)"
fi

# Sizes: the full suite, or a tenth of it.
scale=1
[[ "$quick" == 1 ]] && scale=10
big=$((1000000 / scale))
single=$((100000 / scale))
hot=$((100000 / scale))
hot_rows=10
wide=$((100000 / scale))
wide_per_txn=100
transform=$((300000 / scale))
realism=$((50000 / scale))
latency_rate=5000
latency_seconds=30
[[ "$quick" == 1 ]] && latency_seconds=10
batch_size=500
max_in_flight=8
max_memory_mb=256

# scripts/kinesis.sh finds bench_kinesis the same way.
export BENCH_KINESIS_BIN="${BENCH_KINESIS_BIN:-$repo/build/tools/bench_kinesis/bench_kinesis}"
if [[ "$endpoint_kind" == auto ]]; then
  endpoint_kind=kinesalite
  [[ -x "$BENCH_KINESIS_BIN" ]] && endpoint_kind=bench
fi
[[ "$endpoint_kind" == bench || "$endpoint_kind" == kinesalite ]] ||
  { echo "--endpoint is bench or kinesalite" >&2; exit 64; }
if [[ "$endpoint_kind" == kinesalite ]]; then
  echo "note: tools/bench_kinesis is not built (ninja -C build bench_kinesis): using kinesalite;" \
    "rates are kinesalite's and latency/order figures are missing" >&2
fi

pg_bin=/usr/lib/postgresql/15/bin
for tool in gnuplot node curl psql "$pg_bin/pg_recvlogical" "$pg_bin/pgbench"; do
  command -v "$tool" >/dev/null || { echo "missing $tool (scripts/setup.sh installs it)" >&2; exit 1; }
done
source "$repo/bench/lib.sh"
bench_setup suite 28000
api_port="$(free_port $((kin_port + 1000)))"
hz="$(getconf CLK_TCK)"
mkdir -p "$out"

log() { printf '[bench] %s\n' "$*" >&2; }

# ---- Postgres, endpoint, tables ---------------------------------------------

PG_EXTRA_CONF=$'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_wal_size = 4GB\nshared_buffers = 256MB' \
  "$repo/scripts/pg.sh" start "$work/pg" "$pg_port" >/dev/null

# start_endpoint DIR PORT KIND STREAM: an endpoint with a 4-shard stream.
start_endpoint() {
  local dir="$1" port="$2" kind="$3" stream="$4"
  "$repo/scripts/kinesis.sh" start "$dir" "$port" "$kind" >/dev/null
  if [[ "$kind" == kinesalite ]]; then
    node "$repo/tools/node/create_stream.mjs" --endpoint "http://127.0.0.1:$port" \
      --stream "$stream" --shards 4 >/dev/null
  fi
}
endpoint="http://127.0.0.1:$kin_port"
start_endpoint "$work/kinesis" "$kin_port" "$endpoint_kind" bench

# The endpoint's counters (bench_kinesis only; prints null otherwise).
endpoint_stats() {
  if [[ "$endpoint_kind" == bench ]]; then
    curl -sf "$endpoint/stats" || echo null
  else
    echo null
  fi
}
endpoint_reset() {
  [[ "$endpoint_kind" == bench ]] && curl -sf -X POST "$endpoint/reset" >/dev/null
  return 0
}
# The endpoint's CPU ticks, from the pid its script recorded.
endpoint_ticks() {
  local pid
  pid="$(cat "$1/kinesis.pid" 2>/dev/null || true)"
  if [[ -n "$pid" && -r "/proc/$pid/stat" ]]; then proc_cpu_ticks "$pid"; else echo 0; fi
}
# A top-level integer field of a JSON object, or 0 (cheap: polled often).
json_int() {
  local v
  v="$(grep -o "\"$2\": *[0-9]\+" <<<"$1" | head -n 1 | grep -o '[0-9]\+$' || true)"
  echo "${v:-0}"
}

psql_ <<'SQL'
CREATE TABLE bench_rows (id bigserial PRIMARY KEY, account int, status text,
                         total numeric(12,2), created_at timestamptz DEFAULT now());
CREATE TABLE hot_rows (id int PRIMARY KEY, counter bigint NOT NULL DEFAULT 0,
                       status text, updated_at timestamptz);
CREATE TABLE wide_rows (id bigserial PRIMARY KEY, account int, title text, doc jsonb,
                        created_at timestamptz DEFAULT now());
CREATE PUBLICATION bench_pub FOR TABLE bench_rows, hot_rows, wide_rows;
CREATE TABLE bench_end (id serial PRIMARY KEY, marker text);
CREATE PUBLICATION bench_end_pub FOR TABLE bench_end;
SQL

# write_config FILE ENDPOINT_URL STREAM [TRANSFORM [MAX_IN_FLIGHT]]
write_config() {
  local file="$1" url="$2" stream="$3" transform="${4:-}" inflight="${5:-$max_in_flight}"
  {
    cat <<YAML
data_dir: $work/data
max_memory_mb: $max_memory_mb
api: {listen: 127.0.0.1:$api_port, token: bench-api-token}
databases:
  - name: app
    url: postgres://postgres@127.0.0.1:$pg_port/app
    slot: {name: sluice_bench}
    publication: {name: bench_pub}
YAML
    if [[ -n "$transform" ]]; then
      cat <<'YAML'
functions:
  - name: reshape
    type: transform
    code: |
      function transform(action, record, changes, metadata)
        return {id = record.id, account = record.account, total = record.total,
                action = action, table = metadata.table_name}
      end
YAML
    fi
    cat <<YAML
sinks:
  - name: bench
    database: app
    batch_size: $batch_size
    max_in_flight: $inflight
YAML
    [[ -n "$transform" ]] && echo "    transform: reshape"
    cat <<YAML
    destination:
      type: kinesis
      stream_arn: arn:aws:kinesis:us-east-1:000000000000:stream/$stream
      access_key_id: AKIDBENCH
      secret_access_key: bench-secret
      endpoint_url: $url
YAML
  } >"$file"
}
write_config "$work/sluice.yaml" "$endpoint" bench
write_config "$work/sluice-transform.yaml" "$endpoint" bench transform

# ---- sluice --------------------------------------------------------------------

# Changes delivered so far. With bench_kinesis, its own count (since the last
# reset): asking it costs sluice nothing. Otherwise sluice's metric.
delivered() {
  if [[ "$1" == bench ]]; then
    json_int "$(curl -sf "$endpoint/stats" || true)" records
  else
    curl -sf "http://127.0.0.1:$api_port/metrics" 2>/dev/null |
      awk '/^sluice_messages_delivered_total/ {n += $2} END {print n + 0}'
  fi
}

start_sluice() {
  rm -rf "$work/data"
  "$sluice" run -c "$1" 2>"$2" &
  sluice_pid=$!
}

stop_sluice() {
  kill -TERM "$sluice_pid" 2>/dev/null || true
  wait "$sluice_pid" 2>/dev/null || true
  sluice_pid=""
}

# wait_delivered ENDPOINT_KIND N LOG TIMEOUT_S POLL_S: until N changes are
# delivered; exits the bench when sluice dies or the time runs out.
wait_delivered() {
  local kind="$1" want="$2" log_file="$3" deadline=$(($(date +%s) + $4)) poll="$5"
  while (( $(delivered "$kind") < want )); do
    if ! kill -0 "$sluice_pid" 2>/dev/null; then
      tail -n 30 "$log_file" >&2
      log "sluice exited early"
      exit 1
    fi
    if (( $(date +%s) > deadline )); then
      tail -n 30 "$log_file" >&2
      log "timed out: sluice delivered $(delivered "$kind") of $want"
      exit 1
    fi
    sleep "$poll"
  done
}

slot_sql() {
  local fn="$1"
  psql_ -c "SELECT $fn('sluice_bench'$([[ $fn == pg_create* ]] && echo ", 'pgoutput'"))" >/dev/null
  if [[ "${2:-}" == both ]]; then
    psql_ -c "SELECT $fn('recv_bench'$([[ $fn == pg_create* ]] && echo ", 'pgoutput'"))" >/dev/null
  fi
}

# pg_recvlogical's end. Its --endpos cannot be used: it is not aware of
# transaction boundaries (its documentation says so) and here it ended early
# inside large transactions (a 300k-row transaction came out empty or cut
# short in 4 of 6 runs). So each load is followed by one row of bench_end, a
# table published to pg_recvlogical only (publication bench_end_pub), carrying
# a text that nothing else contains. pg_recvlogical writes to a file (cheap
# like /dev/null: no reader to wake) and bench/recv_until_marker.mjs, one
# process checking the file's last bytes every 10 ms, times it from its start
# to the marker. Prints microseconds and the bytes received.
end_marker="sluice-bench-end-of-load-5f2c9a"
recv_until_marker() {
  local file="$work/recv.out"
  rm -f "$file"
  node "$repo/bench/recv_until_marker.mjs" --out "$file" --marker "$end_marker" -- \
    "$pg_bin/pg_recvlogical" -h 127.0.0.1 -p "$pg_port" -U postgres -d app --slot recv_bench \
    --start -o proto_version=1 -o publication_names=bench_pub,bench_end_pub -F 0 -f "$file" ||
    { log "pg_recvlogical ended before the end marker"; exit 1; }
  rm -f "$file"
}

# --perf: a CPU profile of the running sluice as $perf_dir/KEY.perf.data.
# perf -p follows the threads that exist when it attaches: it waits for the
# sender threads first (the profile misses sluice's first milliseconds).
perf_pid=""
perf_start() {
  [[ -n "$perf_dir" ]] || return 0
  while (( $(ls "/proc/$sluice_pid/task" 2>/dev/null | wc -l) < 4 )); do
    kill -0 "$sluice_pid" 2>/dev/null || return 0  # wait_delivered reports it
    sleep 0.01
  done
  perf record -q -e cpu-clock ${BENCH_PERF_CALLGRAPH:--g} -F 1999 -p "$sluice_pid" \
    -o "$perf_dir/$1.perf.data" 2>"$perf_dir/$1.perf.log" &
  perf_pid=$!
}
perf_stop() {
  [[ -n "$perf_pid" ]] || return 0
  kill -INT "$perf_pid" 2>/dev/null || true
  wait "$perf_pid" 2>/dev/null || true
  perf_pid=""
}

results="$work/results.jsonl"
: >"$results"

# ---- throughput ------------------------------------------------------------------

# run_throughput KEY TITLE CHANGES PREPARE_SQL LOAD_SQL CONFIG [ENDPOINT_DIR ENDPOINT_KIND STREAM]
run_throughput() {
  local key="$1" title="$2" changes="$3" prepare="$4" load="$5" config="$6"
  local ep_dir="${7:-$work/kinesis}" ep_kind="${8:-$endpoint_kind}" stream="${9:-bench}"
  wanted "$key" || return 0
  local ep_url="http://127.0.0.1:$(awk -F: '/endpoint_url/ {print $NF}' "$config")"
  log "$key: $title"
  psql_ -c "$prepare" >/dev/null
  slot_sql pg_create_logical_replication_slot both
  local t0 t1
  t0="$(now_us)"
  psql_ -c "$load" >/dev/null
  t1="$(now_us)"
  local load_us=$((t1 - t0))
  # Committed with synchronous_commit on, so the WAL is flushed through the
  # marker now (a walsender decodes only flushed WAL; the server's default here
  # is off, which would leave it to the WAL writer's next round).
  psql_ -c "SET synchronous_commit = on" -c "INSERT INTO bench_end (marker) VALUES ('$end_marker')" >/dev/null

  # The ceiling: pg_recvlogical drains the same WAL, from process start until
  # the end marker (decoded after the whole load) comes out of it.
  local recv recv_us recv_bytes
  recv="$(recv_until_marker)"
  read -r recv_us recv_bytes <<<"$recv"

  # sluice: from process start to the endpoint's receipt of the last record.
  [[ "$ep_dir" == "$work/kinesis" ]] && endpoint_reset
  local log_file="$work/sluice-$key.log" ep_ticks0 start_us
  ep_ticks0="$(endpoint_ticks "$ep_dir")"
  start_us="$(now_us)"
  start_sluice "$config" "$log_file"
  perf_start "$key"
  local poll=0.05
  # The endpoint timestamps the last record itself; each /stats costs it O(records).
  [[ "$ep_kind" == bench ]] && poll=0.5
  wait_delivered "$ep_kind" "$changes" "$log_file" $((120 + changes / 1000)) "$poll"
  local seen_us cpu_ticks hwm_kb ep_ticks
  seen_us="$(now_us)"
  cpu_ticks="$(proc_cpu_ticks "$sluice_pid")"
  hwm_kb="$(proc_hwm_kb "$sluice_pid")"
  ep_ticks=$(($(endpoint_ticks "$ep_dir") - ep_ticks0))
  perf_stop
  stop_sluice
  local stats=null order=null end_us="$seen_us"
  if [[ "$ep_kind" == bench ]]; then
    stats="$(endpoint_stats)"
    local last
    last="$(json_int "$stats" last_record_unix_us)"
    (( last > start_us )) && end_us="$last"
  elif [[ "$ep_dir" != "$work/kinesis" ]]; then
    # A separate emulator is this scenario's alone: read it back for order.
    order="$(node "$repo/bench/check_order.mjs" --endpoint "$ep_url" --stream "$stream" \
      --expect "$changes")"
  fi
  slot_sql pg_drop_replication_slot both
  printf '{"kind":"throughput","key":"%s","title":"%s","changes":%d,"endpoint":"%s","load_us":%d,"recv_us":%d,"recv_bytes":%d,"sluice_start_us":%d,"sluice_end_us":%d,"sluice_seen_us":%d,"sluice_cpu_ticks":%d,"sluice_hwm_kb":%d,"endpoint_cpu_ticks":%d,"hz":%d,"endpoint_stats":%s,"order_check":%s}\n' \
    "$key" "$title" "$changes" "$ep_kind" "$load_us" "$recv_us" "$recv_bytes" "$start_us" "$end_us" "$seen_us" \
    "$cpu_ticks" "$hwm_kb" "$ep_ticks" "$hz" "$stats" "$order" >>"$results"
}

insert_rows() {  # one transaction of $1 rows
  echo "INSERT INTO bench_rows (account, status, total) SELECT g % 1000, 'new', g / 100.0 FROM generate_series(1, $1) g"
}
truncate_sql="TRUNCATE bench_rows, wide_rows RESTART IDENTITY"

run_throughput big_txn "one $big-row transaction" "$big" "$truncate_sql" "$(insert_rows "$big")" \
  "$work/sluice.yaml"

run_throughput single_txns "$single single-row transactions" "$single" "$truncate_sql" \
  "DO \$\$ BEGIN FOR i IN 1..$single LOOP
     INSERT INTO bench_rows (account, status, total) VALUES (i % 1000, 'new', i / 100.0); COMMIT;
   END LOOP; END \$\$" "$work/sluice.yaml"

run_throughput hot_updates "$hot updates of $hot_rows hot rows, one per transaction" "$hot" \
  "TRUNCATE hot_rows; INSERT INTO hot_rows (id, status) SELECT g, 'new' FROM generate_series(1, $hot_rows) g" \
  "DO \$\$ BEGIN FOR i IN 1..$hot LOOP
     UPDATE hot_rows SET counter = counter + 1, status = 'seen ' || i, updated_at = now()
       WHERE id = 1 + i % $hot_rows;
     COMMIT;
   END LOOP; END \$\$" "$work/sluice.yaml"

# ~2 KB rows: a 160-character title and a jsonb document of 36 fields.
run_throughput wide_rows "$wide wide rows (~2 KB, jsonb), $wide_per_txn per transaction" "$wide" \
  "$truncate_sql" \
  "DO \$\$ BEGIN FOR t IN 0..$((wide / wide_per_txn - 1)) LOOP
     INSERT INTO wide_rows (account, title, doc)
       SELECT g % 1000, repeat(md5(g::text), 5),
              (SELECT jsonb_object_agg('field_' || k, md5((g * 100 + k)::text))
                 FROM generate_series(1, 36) k)
         FROM generate_series(t * $wide_per_txn + 1, (t + 1) * $wide_per_txn) g;
     COMMIT;
   END LOOP; END \$\$" "$work/sluice.yaml"
wide_row_bytes="$(psql_ -Atc "SELECT round(avg(pg_column_size(w.*))) FROM (SELECT * FROM wide_rows LIMIT 1000) w")"

run_throughput lua_transform "one $transform-row transaction, Lua transform" "$transform" \
  "$truncate_sql" "$(insert_rows "$transform")" "$work/sluice-transform.yaml"

# Realism: kinesalite (its own instance and stream), order checked by reading back.
real_port="$(free_port $((kin_port + 1500)))"
wanted kinesalite && start_endpoint "$work/kinesis-real" "$real_port" kinesalite real
write_config "$work/sluice-real.yaml" "http://127.0.0.1:$real_port" real
run_throughput kinesalite "$realism single-row transactions to kinesalite" "$realism" \
  "$truncate_sql" \
  "DO \$\$ BEGIN FOR i IN 1..$realism LOOP
     INSERT INTO bench_rows (account, status, total) VALUES (i % 1000, 'new', i / 100.0); COMMIT;
   END LOOP; END \$\$" "$work/sluice-real.yaml" "$work/kinesis-real" kinesalite real
wanted kinesalite && "$repo/scripts/kinesis.sh" stop "$work/kinesis-real" >/dev/null

# ---- latency ---------------------------------------------------------------------

# run_latency KEY RATE SECONDS MAX_IN_FLIGHT
run_latency() {
  local key="$1" rate="$2" seconds="$3" inflight="$4"
  wanted "$key" || return 0
  log "$key: $rate single-row transactions/s for $seconds s, max_in_flight $inflight, sluice streaming live"
  write_config "$work/sluice-$key.yaml" "$endpoint" bench "" "$inflight"
  psql_ -c "$truncate_sql" >/dev/null
  slot_sql pg_create_logical_replication_slot
  local log_file="$work/sluice-$key.log"
  start_sluice "$work/sluice-$key.yaml" "$log_file"
  # Warm up: the first records open the connection and describe the stream.
  # The endpoint counts from a reset, so the wait sees these 100 and nothing
  # of the scenario before; the measured span starts from a second reset.
  endpoint_reset
  psql_ -c "$(insert_rows 100)" >/dev/null
  wait_delivered "$endpoint_kind" 100 "$log_file" 60 0.05
  endpoint_reset
  local base=0 ticks0 ep_ticks0 start_us
  [[ "$endpoint_kind" == bench ]] || base="$(delivered "$endpoint_kind")"
  ticks0="$(proc_cpu_ticks "$sluice_pid")"
  ep_ticks0="$(endpoint_ticks "$work/kinesis")"
  start_us="$(now_us)"
  perf_start "$key"

  # Delivered changes once a second, for the plot (bounded; ends with $work).
  local samples="$work/delivered-$key.txt" done_flag="$work/$key.done"
  (
    for ((i = 0; i < seconds + 180; i++)); do
      [[ -d "$work" && ! -f "$done_flag" ]] || break
      printf '%d %d\n' "$(now_us)" "$(delivered "$endpoint_kind")" >>"$samples" 2>/dev/null || break
      sleep 1
    done
  ) &
  local sampler=$!

  echo "INSERT INTO bench_rows (account, status, total) VALUES (:client_id, 'new', 10.50);" \
    >"$work/insert.sql"
  # synchronous_commit on (the default in production): with it off, a commit
  # reaches the WAL sender only at the WAL writer's next flush (up to
  # wal_writer_delay, 200 ms, later), which would be measured as sluice's
  # latency. fsync stays off, so a flush is only a write.
  local summary="$work/pgbench-$key.out" progress="$work/pgbench-$key.progress"
  PGOPTIONS="-c synchronous_commit=on" "$pg_bin/pgbench" -n -h 127.0.0.1 -p "$pg_port" -U postgres \
    -c 2 -j 2 --rate "$rate" -T "$seconds" -P 1 -f "$work/insert.sql" app >"$summary" 2>"$progress"
  local committed
  committed="$(awk -F': ' '/number of transactions actually processed/ {print $2}' "$summary" |
    cut -d/ -f1)"
  [[ "$committed" =~ ^[0-9]+$ ]] || { cat "$summary" >&2; log "pgbench reported no count"; exit 1; }
  wait_delivered "$endpoint_kind" $((base + committed)) "$log_file" 120 0.1
  local end_us cpu_ticks hwm_kb ep_ticks
  end_us="$(now_us)"
  cpu_ticks=$(($(proc_cpu_ticks "$sluice_pid") - ticks0))
  hwm_kb="$(proc_hwm_kb "$sluice_pid")"
  ep_ticks=$(($(endpoint_ticks "$work/kinesis") - ep_ticks0))
  perf_stop
  touch "$done_flag"
  wait "$sampler" || true
  local stats
  stats="$(endpoint_stats)"
  stop_sluice
  slot_sql pg_drop_replication_slot
  local lag tps
  lag="$(awk '/schedule lag/ {for (i = 1; i < NF; i++) if ($i == "avg" || $i == "=") {print $(i + 1); exit}}' \
    "$summary")"
  tps="$(awk '/^tps = / {print $3; exit}' "$summary")"
  printf '{"kind":"latency","key":"%s","title":"%s","changes":%d,"endpoint":"%s","offered_rate":%d,"seconds":%d,"max_in_flight":%d,"pgbench_tps":%s,"pgbench_schedule_lag_ms":%s,"start_us":%d,"end_us":%d,"sluice_cpu_ticks":%d,"sluice_hwm_kb":%d,"endpoint_cpu_ticks":%d,"hz":%d,"endpoint_stats":%s,"pgbench_progress_file":"%s","delivered_file":"%s"}\n' \
    "$key" "latency: $rate changes/s for $seconds s, max_in_flight $inflight" "$committed" \
    "$endpoint_kind" "$rate" "$seconds" "$inflight" "${tps:-0}" "${lag:-0}" "$start_us" "$end_us" \
    "$cpu_ticks" "$hwm_kb" "$ep_ticks" "$hz" "$stats" "$progress" "$samples" >>"$results"
}
# The suite's sink config, then one request at a time (batches fill while it
# is out: fewer, larger requests).
run_latency latency "$latency_rate" "$latency_seconds" "$max_in_flight"
run_latency latency_1 "$latency_rate" "$latency_seconds" 1

# ---- report ------------------------------------------------------------------------

build_dir="$(dirname "$(dirname "$(dirname "$sluice")")")"
build_type="$(awk -F= '/^CMAKE_BUILD_TYPE:/ {print $2}' "$build_dir/CMakeCache.txt" 2>/dev/null || true)"
cpu_model="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
mem_gb="$(awk '/^MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)"
node "$repo/bench/report.mjs" --results "$results" --out "$out" \
  --meta "$(node -e 'process.stdout.write(JSON.stringify({
    date: new Date().toISOString().slice(0, 16) + "Z", command: process.argv[1],
    quick: process.argv[2] === "1", commit: process.argv[3],
    machine: `${process.argv[4]} cores (${process.argv[5]}), ${process.argv[6]} GiB, ${process.argv[7]}`,
    build: process.argv[8] || "unknown", endpoint: process.argv[9],
    config: {batch_size: +process.argv[10], max_in_flight: +process.argv[11],
             max_memory_mb: +process.argv[12]},
    wide_row_bytes: +process.argv[13], hot_rows: +process.argv[14]}))' \
    "$command_line" "$quick" "$commit" "$(nproc)" "$cpu_model" "$mem_gb" "$(uname -sr)" \
    "$build_type" "$endpoint_kind" "$batch_size" "$max_in_flight" "$max_memory_mb" \
    "${wide_row_bytes:-0}" "$hot_rows")"
if [[ -n "$only" ]]; then
  log "wrote $out/latest.md and latest.json (--only: no plots)"
  exit 0
fi
gnuplot -e "data='$out/throughput.dat'; out='$out/throughput.png'" "$repo/bench/throughput.gp"
runs="$(awk '!/^#/ {print NF - 1; exit}' "$out/latency-percentiles.dat")"
run_titles="$(awk '!/^#/ {$1 = ""; print substr($0, 2); exit}' "$out/latency-percentiles.dat")"
gnuplot -e "ladder='$out/latency-percentiles.dat'; rate='$out/latency-rate.dat'; runs=$runs; titles='$run_titles'; out='$out/latency.png'" \
  "$repo/bench/latency.gp"
cat "$out/latest.md"
log "wrote $out/latest.md, latest.json, throughput.png, latency.png"
