#!/usr/bin/env bash
# Why uaqf's F16 prefill on the llama3-8b shape came out 0.946 of llama-bench's on an H100
# (docs/results/gpu-h100-reference.md), when the llama2-7b shape agreed: per shape (llama2-7b with
# the LLaMA-2 vocabulary, llama3-8b with LLaMA 3's 128,256 tokens), F16 only, alternating
#   llama-bench pp512 | uaqf bench (the model as the first and only one) | llama-bench pp512 |
#   uaqf bench on the model twice in one process (the second run is not the process's first model) |
#   llama-bench pp512
# so that a warm-up of the first variant and a card drift show apart from the output layer's size.
#   bench/make_carry.sh (here), then on the GPU machine: bench/gpu_prefill_probe.sh
# Results: out/gpu-prefill-probe/summary.txt (and an archive in $OUT).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out="$root/out/gpu-prefill-probe"
mkdir -p "$out"
bin="$root/build/cuda/bin"
models=/dev/shm/uaqf-models
mkdir -p "$models"
[ -x "$bin/uaqf" ] && [ -x "$bin/llama-bench" ] || OUT="" bash "$root/bench/gpu_reference.sh" build
cp out/gpu-reference/gpu.csv "$out/" 2>/dev/null || true
reps=10
pp() {  # llama-bench's pp512 median
  "$bin/llama-bench" -m "$1" -p 512 -n 0 -r "$reps" -ngl 99 -o json 2>/dev/null |
    python3 -c 'import json,sys,statistics; print(round(statistics.median(json.load(sys.stdin)[0]["samples_ts"]),1))'
}
upp() {  # uaqf's pp512 medians, one per model argument
  "$bin/uaqf" bench "$@" -p 512 -n 0 -r 1 --prefill-reps "$reps" --no-hash --no-latency --gpu-layers 99 \
    --json "$out/uaqf.json" >/dev/null 2>&1
  python3 -c 'import json,sys
for m in json.load(open(sys.argv[1]))["models"]:
    x=[x for x in m["metrics"] if x["name"]=="prefill_tps"][0]
    print(round(x["summary"]["median"],1), end=" ")' "$out/uaqf.json"
}
for spec in llama2-7b:ggml-vocab-llama-spm llama3-8b:ggml-vocab-llama-bpe; do
  shape=${spec%%:*} vocab=$root/carry/models/${spec#*:}.gguf
  model="$models/$shape-f16.gguf"
  [ -f "$model" ] || "$bin/uaqf" synth --shape "$shape" -o "$model" --vocab "$vocab" >>"$out/synth.txt" 2>&1
  {
    echo "$shape: llama-bench $(pp "$model")"
    echo "$shape: uaqf alone $(upp "$model")"
    echo "$shape: llama-bench $(pp "$model")"
    echo "$shape: uaqf twice in one process $(upp "$model" "$model")"
    echo "$shape: llama-bench $(pp "$model")"
  } | tee -a "$out/summary.txt"
  rm -f "$model"
done
[ -n "${OUT:-}" ] && tar czf "$OUT/gpu-prefill-probe.tgz" -C "$root/out" gpu-prefill-probe
