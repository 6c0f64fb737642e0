#!/usr/bin/env bash
# Builds with warnings as errors and runs the whole test suite (unit + tiny-model integration).
# The shared models and data are found through UAQF_SHARED_DIR (default: ../shared).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export UAQF_SHARED_DIR="${UAQF_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}"
bash scripts/build.sh ci
ctest --preset ci -j "$(nproc)" "$@"
