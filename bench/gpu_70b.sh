#!/usr/bin/env bash
# The LLaMA-2-70B shape (random weights) on H200s, in one device call: does F16 (128.5 GiB of
# weights) fit whole on one 141 GB H200 at a small context, and what does it cost against Q8_0 on
# one GPU and F16 split over two? uaqf bench beside llama-bench (same flags) for F16 on one GPU.
# Needs RAM for the models: /dev/shm must hold the F16 file and Q8_0 (about 200 GiB: the
# nvidia-h200-x4 kind has 512 GiB; the one- and two-GPU kinds have too little RAM and disk).
#   bench/make_carry.sh (here), then on the GPU machine: bench/gpu_70b.sh
# Results: out/gpu-70b (uaqf JSON with the memory breakdown per GPU, llama-bench JSON, timeline)
# and an archive in $OUT after every step.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out="$root/out/gpu-70b"
mkdir -p "$out"
bin="$root/build/cuda/bin"
models=/dev/shm/uaqf-models
mkdir -p "$models"
t0=$(date +%s)
log() { echo "[$(($(date +%s) - t0)) s] $*" | tee -a "$out/timeline.txt"; }
save_out() { [ -n "${OUT:-}" ] && tar czf "$OUT/gpu-70b.tgz" -C "$root/out" gpu-70b || true; }
free_gib=$(($(df -B1 --output=avail "$models" | tail -1) >> 30))
log "$(nvidia-smi -L | wc -l) GPUs, $free_gib GiB free in $models"
[ "$free_gib" -ge 200 ] || { log "too little room for the 70B files (need about 200 GiB)"; save_out; exit 1; }
[ -x "$bin/uaqf" ] && [ -x "$bin/llama-bench" ] || OUT="" bash "$root/bench/gpu_reference.sh" build
log "built"
f16="$models/llama2-70b-F16.gguf"
[ -f "$f16" ] || "$bin/uaqf" synth --shape llama2-70b -o "$f16" --vocab "$root/carry/models/ggml-vocab-llama-spm.gguf" \
  >>"$out/prepare.txt" 2>&1
log "synthesized F16 ($(($(stat -c %s "$f16") >> 30)) GiB)"
save_out
bench() {  # NAME MODEL FLAGS...: uaqf bench at a small context
  local name=$1 model=$2
  shift 2
  "$bin/uaqf" bench "$model" -p 512 -n 32 -r 2 --prefill-reps 3 --ctx 1024 --no-hash --no-latency "$@" \
    --json "$out/uaqf-$name.json" >"$out/uaqf-$name.txt" 2>&1 || log "uaqf bench $name failed (see uaqf-$name.txt)"
  log "measured $name"
  save_out
}
bench f16-one-gpu "$f16" --n-gpu-layers 99 --split-mode none --main-gpu 0
"$bin/llama-bench" -m "$f16" -p 512 -n 32 -r 2 --n-gpu-layers 99 --split-mode none --main-gpu 0 -o json \
  >"$out/llama-bench-f16-one-gpu.json" 2>"$out/llama-bench-f16-one-gpu.err" || log "llama-bench F16 one GPU failed"
log "llama-bench F16 one GPU done"
bench f16-split-layer-2 "$f16" --n-gpu-layers 99 --split-mode layer --device CUDA0,CUDA1
"$bin/uaqf" quantize "$f16" --types Q8_0 --out "$models" >>"$out/prepare.txt" 2>&1
log "quantized Q8_0"
bench q8_0-one-gpu "$models/llama2-70b-Q8_0.gguf" --n-gpu-layers 99 --split-mode none --main-gpu 0
log "end"
save_out
