#!/usr/bin/env bash
# A throwaway Kinesis emulator on 127.0.0.1, for tests, the demo and benchmarks.
#
#   scripts/kinesis.sh start DIR PORT [kinesis-local|kinesalite|bench]
#   scripts/kinesis.sh stop DIR
#
# kinesis-local (default) serves plain HTTP on PORT and HTTPS on PORT+1 (or
# KINESIS_TLS_PORT); kinesalite serves plain HTTP on PORT, in memory. Both are
# started with tests/support/loopback_preload.js, which pins every server they
# open to 127.0.0.1. Start waits until PORT answers; DIR gets kinesis.pid and
# kinesis.log. Region us-east-1, account 000000000000 unless AWS_REGION /
# AWS_ACCOUNT_ID say otherwise.
#
# bench is tools/bench_kinesis (build/tools/bench_kinesis/bench_kinesis, or
# BENCH_KINESIS_BIN; build it with `ninja -C build bench_kinesis`): plain HTTP
# on 127.0.0.1:PORT, BENCH_KINESIS_SHARDS shards (default 4), PutRecords
# requests up to BENCH_KINESIS_MAX_REQUEST_MIB (default 10, SPEC §4), every stream
# exists, nothing is stored; it measures commit-to-arrival latency (GET /stats,
# POST /reset). stop writes its final stats to DIR/stats.json.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly node_modules="$repo_root/tools/node/node_modules"
readonly preload="$repo_root/tests/support/loopback_preload.js"

die() { printf '[kinesis.sh] error: %s\n' "$*" >&2; exit 1; }
usage() { die "usage: $0 start DIR PORT [kinesis-local|kinesalite|bench] | stop DIR"; }

[[ $# -ge 2 ]] || usage
cmd="$1"
dir="$2"

pid_alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }

# Guards against a stale pid file whose pid now belongs to something else.
is_emulator() {
  pid_alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qE 'loopback_preload|bench_kinesis'
}

port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local port="${1:-}" flavour="${2:-kinesis-local}"
  [[ "$port" =~ ^[0-9]+$ ]] || usage
  [[ "$flavour" == kinesis-local || "$flavour" == kinesalite || "$flavour" == bench ]] || usage
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local pid_file="$dir/kinesis.pid" log_file="$dir/kinesis.log"
  if [[ -f "$pid_file" ]] && is_emulator "$(cat "$pid_file")"; then
    die "an emulator is already running from $dir (pid $(cat "$pid_file"))"
  fi
  if port_answers "$port"; then
    die "port $port is already in use"
  fi
  local -a env_vars=(
    "AWS_REGION=${AWS_REGION:-us-east-1}"
    "AWS_ACCOUNT_ID=${AWS_ACCOUNT_ID:-000000000000}"
  )
  local -a command
  local workdir
  case "$flavour" in
    kinesis-local)
      workdir="$node_modules/kinesis-local"
      env_vars+=(
        "KINESIS_MOCK_PLAIN_PORT=$port"
        "KINESIS_MOCK_TLS_PORT=${KINESIS_TLS_PORT:-$((port + 1))}"
        "LOG_LEVEL=${KINESIS_LOG_LEVEL:-WARN}"
        "CREATE_STREAM_DURATION=${KINESIS_CREATE_STREAM_DURATION:-100ms}"
        "SHARD_LIMIT=${KINESIS_SHARD_LIMIT:-1000}"
      )
      command=(node -r "$preload" main.js)
      ;;
    kinesalite)
      workdir="$node_modules/kinesalite"
      command=(node -r "$preload" cli.js --port "$port" --createStreamMs 50
               --deleteStreamMs 50 --updateStreamMs 50 --shardLimit 1000)
      ;;
    bench)
      local bin="${BENCH_KINESIS_BIN:-$repo_root/build/tools/bench_kinesis/bench_kinesis}"
      [[ -x "$bin" ]] || die "$bin missing: build it with ninja -C build bench_kinesis"
      bin="$(realpath "$bin")"
      workdir="$dir"
      rm -f "$dir/stats.json"
      command=("$bin" --listen "127.0.0.1:$port" --shards "${BENCH_KINESIS_SHARDS:-4}"
               --max-request-mib "${BENCH_KINESIS_MAX_REQUEST_MIB:-10}" --stats-file "$dir/stats.json")
      ;;
    *) usage ;;
  esac
  [[ -d "$workdir" ]] || die "$workdir missing: run scripts/setup.sh"
  # setsid: its own session, so a Ctrl-C in the caller's terminal does not
  # reach it and stop decides when it ends. The emulator's shell writes its
  # own pid (then execs node), whether or not setsid had to fork.
  rm -f "$pid_file"
  (cd "$workdir" && exec env "${env_vars[@]}" setsid bash -c 'echo $$ >"$0"; exec "$@"' \
      "$pid_file" "${command[@]}" </dev/null >"$log_file" 2>&1) &
  local launcher=$! pid=""
  while [[ -z "$pid" ]]; do
    pid="$(cat "$pid_file" 2>/dev/null || true)"
    if [[ -z "$pid" ]] && ! pid_alive "$launcher"; then
      pid="$(cat "$pid_file" 2>/dev/null || true)"
      [[ -n "$pid" ]] || die "could not start $flavour (see $log_file)"
    fi
    [[ -n "$pid" ]] || sleep 0.05
  done
  local waited=0
  until port_answers "$port"; do
    if ! pid_alive "$pid"; then
      tail -n 30 "$log_file" >&2 || true
      rm -f "$pid_file"
      die "$flavour exited before listening on port $port"
    fi
    if (( waited >= 600 )); then  # 60 s in 0.1 s steps
      kill "$pid" 2>/dev/null || true
      rm -f "$pid_file"
      die "$flavour did not listen on port $port within 60 s"
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  echo "http://127.0.0.1:$port"
}

stop() {
  local pid_file="$dir/kinesis.pid"
  [[ -f "$pid_file" ]] || return 0
  local pid
  pid="$(cat "$pid_file")"
  if is_emulator "$pid"; then
    kill "$pid" 2>/dev/null || true
    local waited=0
    while pid_alive "$pid" && (( waited < 100 )); do
      sleep 0.1
      waited=$((waited + 1))
    done
    if pid_alive "$pid"; then
      kill -9 "$pid" 2>/dev/null || true
      waited=0
      while pid_alive "$pid" && (( waited < 50 )); do
        sleep 0.1
        waited=$((waited + 1))
      done
      pid_alive "$pid" && die "emulator pid $pid survived SIGKILL"
    fi
  fi
  rm -f "$pid_file"
}

case "$cmd" in
  start) shift 2; start "$@" ;;
  stop) stop ;;
  *) usage ;;
esac
