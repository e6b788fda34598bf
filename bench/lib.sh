# Shared by the end-to-end benchmarks (source it after setting `repo`):
# finds the sluice binary, makes a temp dir with two free-ish loopback ports,
# and removes everything (sluice, emulator, Postgres, the dir) on exit.
#
#   bench_setup NAME PORT_BASE   sets sluice, work, pg_port, kin_port, sluice_pid
#   psql_ ARGS...                psql on the bench's Postgres, database app
#   lsn_ge A B                   prints t when LSN A >= LSN B
#   now_us                       wall clock, microseconds since the epoch
#   proc_cpu_ticks PID           user + system clock ticks of a process (all threads)
#   proc_hwm_kb PID              peak resident set (VmHWM) of a process, in KiB
#   port_free PORT               true when nothing listens on 127.0.0.1:PORT
#   free_port FROM               prints the first free port from FROM on
export AWS_EC2_METADATA_DISABLED=true

bench_setup() {
  local name="$1" base="$2"
  sluice="${SLUICE_BIN:-$repo/build/src/cli/sluice}"
  [[ -x "$sluice" ]] || { echo "build sluice first (expected $sluice)" >&2; exit 1; }
  work="$(mktemp -d "/tmp/sluice-$name.XXXXXX")"
  chmod 755 "$work"
  pg_port=$((base + RANDOM % 500))
  kin_port=$((base + 600 + RANDOM % 300))
  sluice_pid=""
  trap bench_cleanup EXIT
}

bench_cleanup() {
  [[ -n "$sluice_pid" ]] && kill -9 "$sluice_pid" 2>/dev/null || true
  "$repo/scripts/kinesis.sh" stop "$work/kinesis" >/dev/null 2>&1 || true
  # Further endpoints a bench started in $work/kinesis-<name>.
  local extra
  for extra in "$work"/kinesis-*; do
    [[ -d "$extra" ]] && "$repo/scripts/kinesis.sh" stop "$extra" >/dev/null 2>&1 || true
  done
  "$repo/scripts/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}

psql_() { psql -X -q -v ON_ERROR_STOP=1 -h "$work/pg" -p "$pg_port" -U postgres -d app "$@"; }
lsn_ge() { psql_ -Atc "SELECT '$1'::pg_lsn >= '$2'::pg_lsn"; }
now_s() { date +%s.%N; }
now_us() { date +%s%6N; }
proc_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
proc_hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local port="$1"
  until port_free "$port"; do port=$((port + 1)); done
  echo "$port"
}
