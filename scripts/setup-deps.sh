#!/usr/bin/env bash
# Installs the Debian packages uaqf builds against. Does nothing when all are present,
# so repeated builds never touch the network.
#   scripts/setup-deps.sh [--no-browser]
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache git python3
  nlohmann-json3-dev libcli11-dev libfmt-dev libtomlplusplus-dev libsqlite3-dev
  libssl-dev libcurl4-openssl-dev libboost-math-dev libgtest-dev libgmock-dev libbenchmark-dev
  python3-langdetect  # IFEval language checks read its profiles at run time
  # The fuzz targets (scripts/fuzz.sh, preset fuzz): clang with libFuzzer and the sanitizer
  # runtimes, OpenMP for ggml-base under clang, llvm-symbolizer for readable reports.
  clang libclang-rt-dev libomp-dev llvm
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# npm fetches the pinned llama.cpp source and the HTML report's chart library, and runs the
# browser test; any node install that provides it will do.
if ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
# The browser test (ctest label `browser`) drives Debian's chromium, headless. Not for
# `setup-deps.sh --no-browser` (scripts/main.sh: a study needs no browser, and chromium with its
# dependencies is the largest download here).
if [ "${1:-}" != --no-browser ] && ! command -v chromium >/dev/null; then
  missing+=(chromium)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "uaqf setup: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "uaqf setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
