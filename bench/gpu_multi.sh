#!/usr/bin/env bash
# Placements on the GPU machine: one GPU, two GPUs (split mode layer and row), and two rpc-servers
# (one per GPU) against the same GPUs in-process, for the LLaMA-2-13B shape (random weights, real
# shapes) at F16, Q8_0 and Q4_K_M; uaqf bench beside llama-bench with the same placement flags;
# then one study crossing the types with the placements, ranked as interactive and as
# throughput-per-device. On a one-GPU machine the two-GPU steps are skipped (and said so), the
# one-GPU and RPC-on-one-GPU steps still run, so the script is tested before a two-GPU kind is lent.
#   bench/make_carry.sh                     here, once
#   bench/gpu_multi.sh [build|prepare|measure|study|all] [--shape llama2-13b] [--reps 3]
# Resumable across the device tool's 10-minute calls while the machine stays warm (the build and
# the models in /dev/shm survive); results in out/gpu-multi and, as an archive, in $OUT.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
step=${1:-all}
[ $# -gt 0 ] && shift
shape=llama2-13b reps=3 prefill_reps=10
while [ $# -gt 0 ]; do
  case "$1" in
    --shape) shape=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
out="$root/out/gpu-multi"
mkdir -p "$out"
bin="$root/build/cuda/bin"
models=/dev/shm/uaqf-models
mkdir -p "$models"
vocab="$root/carry/models/ggml-vocab-llama-spm.gguf"
types=(Q8_0 Q4_K_M)
t0=$(date +%s)
log() { echo "[$(($(date +%s) - t0)) s] $*" | tee -a "$out/timeline.txt"; }
save_out() {
  [ -n "${OUT:-}" ] || return 0
  tar czf "$OUT/gpu-multi.tgz.partial" -C "$(dirname "$out")" "$(basename "$out")" &&
    mv "$OUT/gpu-multi.tgz.partial" "$OUT/gpu-multi.tgz"
}
n_gpus=$(nvidia-smi -L 2>/dev/null | wc -l)

build() {
  if [ -x "$bin/uaqf" ] && [ -x "$bin/llama-bench" ] && [ -x "$bin/ggml-rpc-server" ]; then
    log "build present"
    return
  fi
  OUT="" EXTRA_TARGETS=ggml-rpc-server bash "$root/bench/gpu_reference.sh" build
  cp out/gpu-reference/gpu.csv "$out/gpu.csv"
  nvidia-smi topo -m >"$out/topology.txt" 2>&1 || true
  log "built ($n_gpus GPUs)"
}

prepare() {
  local base="$models/$shape-F16.gguf"
  [ -f "$base" ] || "$bin/uaqf" synth --shape "$shape" -o "$base" --vocab "$vocab" >>"$out/prepare.txt" 2>&1
  local missing=()
  for type in "${types[@]}"; do
    [ -f "$models/$shape-$type.gguf" ] || missing+=("$type")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    "$bin/uaqf" quantize "$base" --types "$(IFS=,; echo "${missing[*]}")" --out "$models" >>"$out/prepare.txt" 2>&1
  fi
  ls -la "$models" >>"$out/prepare.txt"
  log "models ready"
}

# llama-bench and uaqf bench on one model and placement: prefill (pp512, more repetitions) and
# decode (tg128); llama-bench's prefill runs before and after uaqf's. $2: a name; the rest: flags
# both tools take the same way, except that llama-bench separates devices with '/'.
measure_placement() {
  local model=$1 label=$2
  shift 2
  local flags=("$@") lb_flags=()
  for flag in "${flags[@]}"; do lb_flags+=("${flag//,/\/}"); done
  local name
  name="$(basename "$model" .gguf)-$label"
  if [ -s "$out/uaqf-$name.json" ] && [ -s "$out/llama-bench-$name-tg.json" ]; then
    return  # measured in an earlier call
  fi
  "$bin/llama-bench" -m "$model" -p 512 -n 0 -r "$prefill_reps" "${lb_flags[@]}" -o json \
    >"$out/llama-bench-$name-pp.json" 2>"$out/llama-bench-$name-pp.err" || log "llama-bench (prefill) failed: $name"
  "$bin/uaqf" bench "$model" -p 512 -n 128 -r "$reps" --prefill-reps "$prefill_reps" --no-hash --no-latency "${flags[@]}" \
    --json "$out/uaqf-$name.json" >"$out/uaqf-$name.txt" 2>&1 || log "uaqf bench failed: $name"
  "$bin/llama-bench" -m "$model" -p 512 -n 0 -r "$prefill_reps" "${lb_flags[@]}" -o json \
    >"$out/llama-bench-$name-pp-after.json" 2>/dev/null || true
  "$bin/llama-bench" -m "$model" -p 0 -n 128 -r "$reps" "${lb_flags[@]}" -o json \
    >"$out/llama-bench-$name-tg.json" 2>"$out/llama-bench-$name-tg.err" || log "llama-bench (decode) failed: $name"
  log "measured $name"
  save_out
}

# Two rpc-servers for llama-bench (uaqf starts its own with --rpc-local): one per GPU, or both on
# GPU 0 when there is only one.
rpc_pids=()
start_rpc_servers() {
  local port
  for i in 0 1; do
    port=$((50152 + i))
    local dev="CUDA$((n_gpus > 1 ? i : 0))"
    "$bin/ggml-rpc-server" -H 127.0.0.1 -p "$port" -d "$dev" >"$out/rpc-server-$i.log" 2>&1 &
    rpc_pids+=($!)
  done
  sleep 3
}
stop_rpc_servers() {
  [ ${#rpc_pids[@]} -gt 0 ] && kill "${rpc_pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rpc_pids=()
}
trap stop_rpc_servers EXIT

measure() {
  local f16="$models/$shape-F16.gguf"
  local q8="$models/$shape-Q8_0.gguf" q4="$models/$shape-Q4_K_M.gguf"  # uaqf quantize's names
  for model in $([ "${SKIP_F16_ONE:-0}" = 1 ] || echo "$f16") "$q8" "$q4"; do
    measure_placement "$model" one-gpu --n-gpu-layers 99 --split-mode none --main-gpu 0
  done
  if [ "$n_gpus" -ge 2 ]; then
    measure_placement "$f16" split-layer --n-gpu-layers 99 --split-mode layer
    # Row split needs split buffers, which this release's CUDA backend does not offer ("device CUDA0
    # does not support split buffers", in llama-bench as in uaqf); tensor split is its successor.
    measure_placement "$f16" split-row --n-gpu-layers 99 --split-mode row
    measure_placement "$f16" split-tensor --n-gpu-layers 99 --split-mode tensor
    measure_placement "$q4" split-layer --n-gpu-layers 99 --split-mode layer
  else
    log "one GPU: split layer/row over two GPUs not measured"
  fi
  [ "${SKIP_RPC:-0}" = 1 ] && { log "rpc skipped (SKIP_RPC=1)"; save_out; return; }
  # The RPC path: uaqf's managed servers, and llama-bench through servers started here.
  "$bin/uaqf" bench "$f16" -p 512 -n 128 -r "$reps" --prefill-reps "$prefill_reps" --no-hash --no-latency --n-gpu-layers 99 \
    --rpc-local "$((n_gpus >= 2 ? 2 : 1))" --json "$out/uaqf-$shape-F16-rpc.json" >"$out/uaqf-$shape-F16-rpc.txt" 2>&1 ||
    log "uaqf bench through rpc failed"
  start_rpc_servers
  local devs="RPC0/RPC1"
  "$bin/llama-bench" -m "$f16" -p 512 -n 128 -r "$reps" -ngl 99 --rpc 127.0.0.1:50152,127.0.0.1:50153 -dev "$devs" \
    -o json >"$out/llama-bench-$shape-F16-rpc.json" 2>"$out/llama-bench-$shape-F16-rpc.err" ||
    log "llama-bench through rpc failed"
  stop_rpc_servers
  log "rpc measured"
  save_out
}

study() {
  local f16="$models/$shape-F16.gguf"
  local split=""
  if [ "$n_gpus" -ge 2 ]; then
    split=$'[[runtime.placements]]\nname = "split-layer"\nsplit_mode = "layer"\n'
    # STUDY_RPC=1 adds two rpc-servers as a third placement (each load sends the weights over loopback).
    [ "${STUDY_RPC:-0}" = 1 ] && split+=$'\n[[runtime.placements]]\nname = "rpc2"\nrpc_local = 2\n'
  fi
  cat >"$out/placements.toml" <<EOF
# Precisions crossed with placements: one GPU, two GPUs (layer split), two rpc-servers.
[study]
name = "placements-$shape"
output = "$models/placements"
[model]
path = "$f16"
types = ["Q8_0", "Q4_K_M"]
variants_dir = "$models"
[runtime]
gpu_layers = "all"
[[runtime.placements]]
name = "one-gpu"
split_mode = "none"
main_gpu = 0
$split
[workload]
prompt_tokens = [512]
gen_tokens = 128
reps = $reps
[profile]
name = "interactive"
EOF
  "$bin/uaqf" run "$out/placements.toml" >"$out/placements-interactive.txt" 2>&1 || log "placement study failed"
  cp "$models/placements/results.json" "$out/placements-results.json" 2>/dev/null || true
  "$bin/uaqf" rank "$out/placements-results.json" --profile throughput-per-device >"$out/placements-per-device.txt" 2>&1 ||
    true
  log "placement study done"
  save_out
}

case "$step" in
  build) build ;;
  prepare) prepare ;;
  measure) measure ;;
  study) study ;;
  all) build; prepare; measure; study ;;
  *) echo "usage: bench/gpu_multi.sh [build|prepare|measure|study|all]" >&2; exit 2 ;;
esac
log "end"
save_out
