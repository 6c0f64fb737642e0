#!/usr/bin/env bash
# Builds with warnings as errors and runs the whole test suite (unit + tiny-model integration),
# then the unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
# The shared models and data are found through UAQF_SHARED_DIR (default: ../shared).
# UAQF_SKIP_SANITIZERS=1 leaves out the sanitizer pass (quicker local runs). Last, the libFuzzer
# targets run UAQF_FUZZ_SECONDS (default 60) each over their committed corpora (scripts/fuzz.sh);
# UAQF_SKIP_FUZZ=1 leaves them out.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export UAQF_SHARED_DIR="${UAQF_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}"
bash scripts/setup-deps.sh
# The code's shape first (seconds): short functions and files, includes that run one way.
python3 scripts/check/sizes.py
python3 scripts/check/deps.py
bash scripts/build.sh ci
ctest --preset ci -j "$(nproc)" "$@"
if [ "${UAQF_SKIP_SANITIZERS:-0}" != 1 ]; then
  cmake --preset asan >/dev/null
  cmake --build --preset asan --target uaqf_unit_tests -j "$(nproc)"
  ctest --preset asan -j "$(nproc)"
fi
if [ "${UAQF_SKIP_FUZZ:-0}" != 1 ]; then
  bash scripts/fuzz.sh "${UAQF_FUZZ_SECONDS:-60}"
fi
