#!/usr/bin/env bash
# Builds uaqf with a CMake preset (default: release), or only the given targets:
#   scripts/build.sh [PRESET] [TARGET...]
# Installs missing Debian packages, fetches
# the pinned llama.cpp source (and for the `prebuilt` preset its prebuilt libraries), the HTML
# report's chart library and the browser test's puppeteer-core (each a no-op when up to date),
# configures and builds. ccache keeps rebuilds fast.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
preset="${1:-release}"
shift || true
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cd "$root"
# The browser test's chromium and modules, unless only non-test targets are asked for
# (main.sh: uaqf alone).
need_browser=1
if [ $# -gt 0 ]; then
  need_browser=0
  for t in "$@"; do
    case "$t" in *test* | all) need_browser=1 ;; esac
  done
fi
if [ "$need_browser" = 1 ]; then
  bash scripts/setup-deps.sh
else
  bash scripts/setup-deps.sh --no-browser
fi
bash scripts/fetch-llama.sh  # the prebuilt engine too takes its headers from the source bundle
if [ "$preset" = prebuilt ]; then
  bash scripts/fetch-llama-prebuilt.sh
fi
bash scripts/fetch-report-assets.sh
if [ "$need_browser" = 1 ]; then
  bash scripts/fetch-browser-test.sh
fi
# Paths relative to the checkout, so that clones in other folders share cache entries.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
export CCACHE_DIR="${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ccache}"
ccache --max-size=5G >/dev/null 2>&1 || true
extra=()
# The shared models and data folder, when given, is the one the tests use.
[ -n "${UAQF_SHARED_DIR:-}" ] && extra+=("-DUAQF_SHARED_DIR=$UAQF_SHARED_DIR")
cmake --preset "$preset" "${extra[@]}" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)" "${targets[@]}"
