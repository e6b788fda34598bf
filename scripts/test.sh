#!/usr/bin/env bash
# The test command: installs dependencies, builds, and runs every test suite.
#
#   scripts/test.sh
#
# Stages: setup -> build (build/, Ninja) -> clang-format check -> ctest labels unit, integration,
# compat, e2e -> bench smoke (bench/run.sh --quick) -> unit tests under ASan+UBSan (build-asan/) -> fuzz smoke (clang, build-fuzz/,
# ctest -L fuzz). Every stage
# runs even if an earlier test stage failed; the exit status is non-zero if
# any failed. Environment knobs:
#   SLUICE_TEST_JOBS     parallel build/test jobs (default: nproc)
#   SLUICE_TEST_SKIP     space-separated stages to skip: setup format unit integration compat e2e bench sanitize fuzz
#   SLUICE_TEST_BENCH=0  skip building the benchmarks (built by default so they keep compiling)
#                        and so the bench smoke stage too
#   SLUICE_BUILD_DIR / SLUICE_ASAN_BUILD_DIR / SLUICE_FUZZ_BUILD_DIR   build directories
#   SLUICE_OUTAGE_SECONDS  length of the Kinesis outage in e2e.outage (default 20 here so the
#                          run stays short; 180 gives the full several-minute outage)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

jobs="${SLUICE_TEST_JOBS:-$(nproc)}"
skip=" ${SLUICE_TEST_SKIP:-} "
build="${SLUICE_BUILD_DIR:-build}"
build_fuzz="${SLUICE_FUZZ_BUILD_DIR:-build-fuzz}"
build_asan="${SLUICE_ASAN_BUILD_DIR:-build-asan}"
export AWS_EC2_METADATA_DISABLED=true
export SLUICE_OUTAGE_SECONDS="${SLUICE_OUTAGE_SECONDS:-20}"

failed=()
started_at=$SECONDS

stage() { printf '\n=== %s (%ds elapsed)\n' "$*" $((SECONDS - started_at)); }
skipped() { [[ "$skip" == *" $1 "* ]]; }

if ! skipped setup; then
  stage "setup"
  scripts/setup.sh
fi

stage "configure + build ($build/)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSLUICE_BUILD_TESTS=ON -DSLUICE_BUILD_BENCH="$([[ "${SLUICE_TEST_BENCH:-1}" == 1 ]] && echo ON || echo OFF)"
ninja -C "$build" -j "$jobs"

# run_ctest NAME LABEL_REGEX NO_TESTS_POLICY [ctest args...]
run_ctest() {
  local name="$1" labels="$2" no_tests="$3"
  shift 3
  if skipped "$name"; then return; fi
  stage "ctest: $name"
  if ! ctest --test-dir "$build" --output-on-failure --no-tests="$no_tests" -L "$labels" "$@"; then
    failed+=("$name")
  fi
}

if ! skipped format; then
  stage "format (clang-format --dry-run on src/ tests/ bench/)"
  if ! find src tests bench \( -name '*.cc' -o -name '*.h' \) -print0 |
       xargs -0 clang-format --dry-run --Werror; then
    echo "run: clang-format -i on the files above" >&2
    failed+=(format)
  fi
fi

run_ctest unit '^unit$' error -j "$jobs"
run_ctest integration '^integration$' ignore
run_ctest compat '^compat$' ignore
# End-to-end files each start their own Postgres and emulator on free ports,
# but share two cores with the emulator: run them one at a time.
run_ctest e2e '^e2e$' error

if ! skipped bench && [[ "${SLUICE_TEST_BENCH:-1}" == 1 ]]; then
  # The benchmark suite at a tenth of its size: it must run end to end, every
  # record must arrive and per-key order must hold (its figures are not
  # judged here: a loaded CI machine is no place for them).
  stage "bench smoke (bench/run.sh --quick)"
  if ! SLUICE_BIN="$build/src/cli/sluice" BENCH_KINESIS_BIN="$build/tools/bench_kinesis/bench_kinesis" \
       bench/run.sh --quick --out "$build/bench-smoke" ||
     ! node -e '
       const r = JSON.parse(require("fs").readFileSync(process.argv[1]));
       const all = [...r.scenarios, ...r.latency];
       const want = ["big_txn", "single_txns", "hot_updates", "wide_rows", "lua_transform",
                     "kinesalite", "latency", "latency_1"];
       const missing = want.filter((k) => !all.some((s) => s.key === k));
       if (missing.length) console.error(`scenarios missing: ${missing.join(", ")}`);
       // At least once: every change arrives, a retried one possibly twice.
       const bad = all.filter((s) => s.order_violations !== 0 || !(s.unique_records >= s.changes));
       for (const s of bad) console.error(`${s.key}: ${s.order_violations} order violations, ${s.unique_records} distinct records of ${s.changes}`);
       process.exit(missing.length || bad.length ? 1 : 0);' "$build/bench-smoke/latest.json"; then
    failed+=(bench)
  fi
fi

if ! skipped sanitize; then
  # Unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
  # Leak checking is off: Lua's longjmp past C++ frames on a memory error in
  # a function leaks a few bytes by design (docs/functions.md).
  stage "sanitize ($build_asan/, ASan + UBSan, unit tests)"
  if cmake -S . -B "$build_asan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_SANITIZE=ON \
       -DSLUICE_BUILD_TESTS=ON -DSLUICE_BUILD_BENCH=OFF >/dev/null &&
     ninja -C "$build_asan" -j "$jobs"; then
    if ! ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
         ctest --test-dir "$build_asan" --output-on-failure --no-tests=error -L '^unit$' -j "$jobs"; then
      failed+=(sanitize)
    fi
  else
    failed+=(sanitize)
  fi
fi

if ! skipped fuzz; then
  stage "fuzz smoke ($build_fuzz/, clang + libFuzzer)"
  if cmake -S . -B "$build_fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
       -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
       -DSLUICE_BUILD_FUZZ=ON -DSLUICE_BUILD_TESTS=ON -DSLUICE_BUILD_BENCH=OFF; then
    # Build only the fuzz folder (CMake's Ninja generator gives each folder
    # an `<dir>/all` target), not a second copy of the unit tests.
    if ! ninja -C "$build_fuzz" -j "$jobs" tests/fuzz/all ||
       ! ctest --test-dir "$build_fuzz" --output-on-failure --no-tests=error -L '^fuzz$'; then
      failed+=(fuzz)
    fi
  else
    failed+=(fuzz)
  fi
fi

stage "done"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all test stages passed"
