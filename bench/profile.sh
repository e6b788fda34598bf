#!/usr/bin/env bash
# CPU profiles of sluice in chosen benchmark scenarios, as text.
#
#   bench/profile.sh [--out DIR] KEY[,KEY...]     e.g. wide_rows,lua_transform,latency
#
# Runs `bench/run.sh --only KEYS --perf` with DWARF call graphs (the build
# omits frame pointers) and writes DIR/KEY.txt per scenario (DIR defaults to
# bench/results/profiles): the run's figures, sluice's CPU per thread, and
# perf's self and inclusive (children) tables. The perf.data files stay in
# a temp dir (tens of MB each) and are removed.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$repo/bench/results/profiles"
if [[ "${1:-}" == --out ]]; then out="$2"; shift 2; fi
[[ $# -eq 1 ]] || { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 64; }
keys="$1"
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 1; }
tmp="$(mktemp -d /tmp/sluice-profile.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
BENCH_PERF_CALLGRAPH="--call-graph dwarf,16384" \
  "$repo/bench/run.sh" --only "$keys" --out "$tmp/results" --perf "$tmp/perf"
commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
IFS=, read -ra list <<<"$keys"
missing=0
for key in "${list[@]}"; do
  data="$tmp/perf/$key.perf.data"
  [[ -s "$data" ]] || { echo "no profile for $key" >&2; missing=$((missing + 1)); continue; }
  {
    echo "# $key: CPU profile of sluice (perf record -e cpu-clock, DWARF call graphs)"
    echo "# made by: bench/profile.sh $keys   at commit $commit, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "## The run"
    node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1]));
      const s = [...r.scenarios, ...r.latency].find((x) => x.key === process.argv[2]);
      const {raw, per_second, ...figures} = s;
      console.log(JSON.stringify(figures, null, 1));' "$tmp/results/latest.json" "$key"
    echo
    echo "## Samples per thread kind (share of sluice's CPU; senders summed)"
    perf script -i "$data" -F comm,tid 2>/dev/null | awk '{print $1}' | sort | uniq -c |
      sort -rn | awk '{n[NR] = $1; t[NR] = $2; s += $1} END {for (i = 1; i <= NR; i++) printf "%5.1f%%  %s\n", 100 * n[i] / s, t[i]}' || true
    echo
    echo "## Self time by library"
    perf report -i "$data" --no-children --sort dso --stdio -g none 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -12 || true
    echo
    echo "## Self time by library and function (top 40; libcrypto's unnamed addresses are its SHA-256 code)"
    perf report -i "$data" --no-children --sort dso,sym --stdio -g none 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -40 | cut -c1-160 || true
    echo
    echo "## Inclusive time (children) of sluice's functions (top 60)"
    perf report -i "$data" --children --sort sym --stdio -g none 2>/dev/null |
      grep -v '^#' | grep -v '^$' | grep -v '0x0000\|(inlined)\|\[k\]' | head -60 | cut -c1-160 || true
  } >"$out/$key.txt"
  echo "wrote $out/$key.txt"
done
(( missing == 0 )) || exit 1
