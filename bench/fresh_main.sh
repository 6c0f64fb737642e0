#!/usr/bin/env bash
# Time to the first recommendation from a fresh clone (docs/results/prebuilt-engine-cpu.md):
#   bench/fresh_main.sh WORK_DIR
# Clones this checkout's HEAD into WORK_DIR/uaqf and runs ./scripts/main.sh there with empty caches
# (XDG_CACHE_HOME and npm_config_cache in WORK_DIR: no uaqf tarballs, no ccache, no npm cache),
# the models from UAQF_SHARED_DIR (default ../shared). WORK_DIR/log gets every output line with
# its time (seconds since the epoch), the load average at start and end, and the exit status.
# Debian packages are not removed first: if they are installed, their installation is not timed.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:?usage: bench/fresh_main.sh WORK_DIR}
shared="${UAQF_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}"
rm -rf "$work"
mkdir -p "$work"
echo "$(date +%s.%N) START load=$(cut -d' ' -f1-3 /proc/loadavg)" >"$work/log"
git clone -q "$root" "$work/uaqf"
echo "$(date +%s.%N) CLONED $(git -C "$work/uaqf" rev-parse --short HEAD)" >>"$work/log"
export XDG_CACHE_HOME=$work/cache npm_config_cache=$work/npm-cache UAQF_SHARED_DIR=$shared UAQF_OUT=$work/out
cd "$work/uaqf"
./scripts/main.sh 2>&1 | while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done >>"$work/log"
echo "$(date +%s.%N) END rc=${PIPESTATUS[0]} load=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$work/log"
