#!/usr/bin/env bash
# Builds uaqf with a CMake preset (default: release), or only the given targets:
#   scripts/build.sh [PRESET] [TARGET...]
# Installs missing Debian packages, fetches
# the pinned llama.cpp source, the HTML report's chart library and the browser test's
# puppeteer-core (each a no-op when up to date), configures and builds. ccache keeps rebuilds fast.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
preset="${1:-release}"
shift || true
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cd "$root"
bash scripts/setup-deps.sh
bash scripts/fetch-llama.sh
bash scripts/fetch-report-assets.sh
bash scripts/fetch-browser-test.sh
# Paths relative to the checkout, so that clones in other folders share cache entries.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
export CCACHE_DIR="${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ccache}"
ccache --max-size=5G >/dev/null 2>&1 || true
extra=()
# The shared models and data folder, when given, is the one the tests use.
[ -n "${UAQF_SHARED_DIR:-}" ] && extra+=("-DUAQF_SHARED_DIR=$UAQF_SHARED_DIR")
cmake --preset "$preset" "${extra[@]}" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)" "${targets[@]}"
