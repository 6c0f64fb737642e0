#!/usr/bin/env bash
# On the GPU machine, in two steps that fit its 10-minute calls (the build stays while it is warm):
#   bench/gpu_7b.sh build     CUDA build (sm_90) of uaqf and llama-bench (bench/gpu_reference.sh build)
#   bench/gpu_7b.sh sweep     the concurrency sweep (1..64 sequences) on F16 and Q4_0
#   bench/gpu_7b.sh measure   synthesize the LLaMA-2-7B shape, quantize it to Q8_0 and Q4_0, and run
#                             llama-bench and uaqf bench on the same variants, same settings
# Needs third_party/report-assets (carried) and, in the ignored folder carry/: include/toml++ and
# sqlite3 headers (the machine has no packages of them),
# models/ggml-vocab-llama-spm.gguf, and llama.cpp/ (the pinned tree without .git, trimmed to what
# the build uses) when third_party/llama.cpp does not travel. The machine has no package registry. Results go to $OUT (default out/gpu).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out="${OUT:-$root/out/gpu}"
mkdir -p "$out"
bin="$root/build/cuda/bin"
models="${UAQF_GPU_MODELS:-/tmp/uaqf-models}"
case "${1:-}" in
  build)
    # One CUDA build for every GPU script (toml++/SQLite fallbacks, the carried llama.cpp tree).
    bash "$root/bench/gpu_reference.sh" build
    ls -la "$bin"
    ;;
  measure)
    mkdir -p "$models"
    base="$models/llama2-7b-f16.gguf"
    [ -f "$base" ] || "$bin/uaqf" synth --shape llama2-7b -o "$base" --vocab "$root/carry/models/ggml-vocab-llama-spm.gguf"
    "$bin/uaqf" quantize "$base" --types Q8_0,Q4_0 --out "$models" | tee "$out/quantize.txt"
    for model in "$base" "$models/llama2-7b-Q8_0.gguf" "$models/llama2-7b-Q4_0.gguf"; do
      name=$(basename "$model" .gguf)
      "$bin/llama-bench" -m "$model" -p 512 -n 128 -r 5 -ngl 99 -o json >"$out/llama-bench-$name.json" 2>/dev/null
      "$bin/uaqf" bench "$model" -p 512 -n 128 -r 5 --gpu-layers 99 --no-hash --json "$out/uaqf-$name.json" \
        >"$out/uaqf-$name.txt" 2>&1
    done
    cat "$out"/uaqf-*.txt
    ;;
  sweep)
    # Aggregate decode and per-sequence step time with 1 to 64 sequences side by side (S_TG of
    # llama-batched-bench -npp 128 -ntg 128), F16 against Q4_0.
    mkdir -p "$models"
    base="$models/llama2-7b-f16.gguf"
    [ -f "$base" ] || "$bin/uaqf" synth --shape llama2-7b -o "$base" --vocab "$root/carry/models/ggml-vocab-llama-spm.gguf"
    "$bin/uaqf" quantize "$base" --types Q4_0 --out "$models" >/dev/null
    for model in "$base" "$models/llama2-7b-Q4_0.gguf"; do
      name=$(basename "$model" .gguf)
      "$bin/uaqf" bench "$model" -p 128 -n 128 -r 2 --no-latency --gpu-layers 99 --no-hash \
        --parallel 1,2,4,8,16,32,64 --json "$out/sweep-$name.json" >"$out/sweep-$name.txt" 2>&1
    done
    grep -h -E "aggregate|per-seq" "$out"/sweep-*.txt
    ;;
  *)
    echo "usage: bench/gpu_7b.sh build|measure|sweep" >&2
    exit 2
    ;;
esac
