#!/usr/bin/env bash
# Installs every build and test dependency of sluice on Debian 12 (bookworm):
# the toolchain and libraries from Debian, the Node test tools from npm.
# Idempotent: safe to re-run; a second run only checks. Run as root (or with
# passwordless sudo). Network: the Debian mirrors and the npm registry only.
#
#   scripts/setup.sh            # everything
#   SLUICE_SETUP_SKIP_APT=1     # skip the apt part (e.g. already provisioned)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo -n)
else
  die "run as root (apt-get needs it)"
fi

# Build: compiler, CMake/Ninja, ccache. Libraries: see CMakeLists.txt.
# Tests: PostgreSQL 15 server and client, clang + its runtime for libFuzzer,
# Node (kinesis-local, kinesalite, the AWS SDK reader), the AWS CLI.
# Tools the scripts use: curl, ss (iproute2), runuser (util-linux), ps (procps).
# Browser tests (tests/e2e/console.test.mjs): Debian's chromium, driven by
# playwright-core from tools/node (no browser download from npm).
# Benchmarks: gnuplot-nox draws bench/run.sh's PNG plots (no X needed).
readonly apt_packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libpq-dev postgresql-15 postgresql-client-15
  libssl-dev libcurl4-openssl-dev libyaml-cpp-dev libsqlite3-dev liblua5.4-dev
  libcpp-httplib-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  rapidjson-dev nlohmann-json3-dev sqlite3
  clang libclang-rt-14-dev clang-format
  awscli curl ca-certificates iproute2 procps util-linux
  chromium
  gnuplot-nox
)

missing_apt_packages() {
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      printf '%s\n' "$pkg"
    fi
  done
}

install_apt() {
  local -a wanted=("${apt_packages[@]}")
  # Keep a Node that is already on PATH (it may be newer than Debian's 18);
  # only install Debian's nodejs/npm when there is none.
  if ! command -v node >/dev/null 2>&1; then
    wanted+=(nodejs)
  fi
  if ! command -v npm >/dev/null 2>&1; then
    wanted+=(npm)
  fi
  local -a missing
  mapfile -t missing < <(missing_apt_packages "${wanted[@]}")
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "Debian packages: all present"
    return
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -q
  "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The Debian postgresql package starts a cluster on 5432; tests never use it
# (they start their own with scripts/pg.sh), so it is left as the package set it.

check_node() {
  command -v node >/dev/null 2>&1 || die "node not found after install"
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if (( major < 18 )); then
    die "node $(node --version) is too old; need 18 or newer (20 recommended)"
  fi
  if (( major < 20 )); then
    log "warning: node $(node --version): the AWS SDK declares node >= 20"
  fi
}

# True when node_modules holds exactly the versions package-lock.json pins
# (npm records what it installed in node_modules/.package-lock.json).
npm_tree_matches_lock() {
  local dir="$1"
  [[ -f "$dir/node_modules/.package-lock.json" ]] || return 1
  (cd "$dir" && node -e '
    const fs = require("fs");
    const want = JSON.parse(fs.readFileSync("package-lock.json")).packages;
    const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json")).packages;
    for (const [path, meta] of Object.entries(want)) {
      if (path === "") continue;
      if (!have[path] || have[path].version !== meta.version) process.exit(1);
    }
  ') 2>/dev/null
}

install_npm() {
  local dir="$repo_root/tools/node"
  # npm ci wipes node_modules first: skip it when the tree already matches.
  if npm_tree_matches_lock "$dir"; then
    log "npm packages: up to date"
    return
  fi
  log "installing npm packages in tools/node (npm ci)"
  # Install scripts are not needed: kinesalite runs in memory (memdown) and
  # never loads its optional leveldown native module.
  (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
}

verify() {
  local dir="$repo_root/tools/node"
  (cd "$dir" && node -e "
    require('@aws-sdk/client-kinesis');
    require('kinesalite');
    require.resolve('kinesis-local/main.js');
    require('playwright-core');
  ") || die "npm packages in tools/node do not load"
  [[ -x /usr/bin/chromium ]] || die "chromium missing (the browser tests use /usr/bin/chromium)"
  [[ -x /usr/lib/postgresql/15/bin/initdb ]] || die "PostgreSQL 15 server binaries missing"
  command -v clang++ >/dev/null 2>&1 || die "clang++ missing"
}

if [[ "${SLUICE_SETUP_SKIP_APT:-0}" != 1 ]]; then
  install_apt
fi
check_node
install_npm
verify
log "done"
