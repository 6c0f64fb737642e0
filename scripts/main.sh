#!/usr/bin/env bash
# The main job: build, then run the default study (examples/default.toml): quantize the model to
# Q8_0, Q4_K_M and Q4_0, measure speed, memory, a 20-request prompt workload, perplexity, KLD and
# two tasks for all four variants, and rank them for interactive use.
#   scripts/main.sh [MODEL.gguf]
# MODEL defaults to $UAQF_MODEL, else the tiny model in the shared folder ($UAQF_SHARED_DIR,
# default ../shared). Results: out/ (UAQF_OUT to change), out/<study>/results.json.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export UAQF_SHARED_DIR="${UAQF_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}"
model="${1:-${UAQF_MODEL:-$UAQF_SHARED_DIR/models/uaqf-tiny/uaqf-tiny-15m-f16.gguf}}"
if [ ! -f "$model" ]; then
  cat >&2 <<MSG
uaqf: error: no model at $model
  Pass one: scripts/main.sh path/to/model-f16.gguf (a GGUF in F16/BF16, e.g. converted with
  llama.cpp's convert_hf_to_gguf.py), or set UAQF_SHARED_DIR to a folder with models/uaqf-tiny/.
MSG
  exit 2
fi
# The engine: UAQF_ENGINE=prebuilt links node-llama-cpp's build of the pinned llama.cpp release
# (seconds to fetch, nothing of llama.cpp to compile; Linux x86-64 with glibc 2.35 or later),
# UAQF_ENGINE=source compiles it (minutes). The default, auto, takes the prebuilt engine where it
# runs and the source build elsewhere; docs/prebuilt-engine.md says how the two compare.
engine="${UAQF_ENGINE:-auto}"
if [ "$engine" = auto ]; then
  engine=source
  glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc //p')
  if [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] && [ -n "$glibc" ] &&
    [ "$(printf '%s\n2.35\n' "$glibc" | sort -V | head -1)" = 2.35 ]; then
    engine=prebuilt
  fi
fi
case "$engine" in
  prebuilt) preset=prebuilt ;;
  source) preset=release ;;
  *) echo "uaqf: error: UAQF_ENGINE must be auto, prebuilt or source, not '$engine'" >&2; exit 2 ;;
esac
echo "uaqf: engine: $engine llama.cpp (build/$preset)" >&2
# Only the uaqf binary: the tests and llama.cpp's own tools are not needed to run a study.
bash scripts/build.sh "$preset" uaqf
out="${UAQF_OUT:-$root/out}/$(basename "$model" .gguf)"
exec "$root/build/$preset/bin/uaqf" run examples/default.toml --model "$model" --output "$out"
