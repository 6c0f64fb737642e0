#!/usr/bin/env bash
# The main job on one model: build, quantize the variants, benchmark them all.
#   scripts/main.sh [MODEL.gguf]
# MODEL defaults to the tiny model in the shared folder (UAQF_SHARED_DIR, default ../shared).
# Results go to out/ (UAQF_OUT to change): variants/, bench.json, bench.csv.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
shared="${UAQF_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}"
model="${1:-${UAQF_MODEL:-$shared/models/uaqf-tiny/uaqf-tiny-15m-f16.gguf}}"
out="${UAQF_OUT:-$root/out}"
if [ ! -f "$model" ]; then
  cat >&2 <<MSG
uaqf: error: no model at $model
  Pass one: scripts/main.sh path/to/model-f16.gguf (a GGUF in F16/BF16, e.g. converted with
  llama.cpp's convert_hf_to_gguf.py), or set UAQF_SHARED_DIR to a folder with models/uaqf-tiny/.
MSG
  exit 2
fi
bash scripts/build.sh release
uaqf="$root/build/release/bin/uaqf"
mkdir -p "$out"
"$uaqf" quantize "$model" --types Q8_0,Q4_K_M,Q4_0 --out "$out/variants"
stem=$(basename "$model" .gguf)
stem=${stem%-f16}; stem=${stem%-F16}; stem=${stem%-bf16}; stem=${stem%-BF16}
"$uaqf" bench "$model" "$out/variants/$stem-Q8_0.gguf" "$out/variants/$stem-Q4_K_M.gguf" \
  "$out/variants/$stem-Q4_0.gguf" --reps "${UAQF_REPS:-5}" --json "$out/bench.json" --csv "$out/bench.csv"
echo "results: $out/bench.json, $out/bench.csv" >&2
