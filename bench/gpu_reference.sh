#!/usr/bin/env bash
# The H100 reference run, in one go on the GPU machine (under 10 minutes):
#   1. CUDA build (sm_90) of uaqf, llama-bench, llama-server and llama-batched-bench, with only the kernel
#      instances the models use (FlashAttention head size 128, MMQ for the measured types);
#   2. for the LLaMA-2-7B and 13B shapes: synthesize the F16 model (random weights), quantize it to
#      Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M and Q2_K (synthetic weights take uaqf's tiled-rows
#      path: llama.cpp's per-tensor types and file layout, a few quantized rows repeated), and run
#      llama-bench and uaqf bench on every variant, same settings, one after the other (llama-bench's
#      prefill before and after uaqf's); the next variant is quantized while one is measured;
#   3. bench/gpu_reference.sh study: the regime study, one `uaqf run` on the 7B shape with a
#      64-sequence concurrency level, ranked as interactive (batch 1) and as batch serving (64
#      sequences), with llama-batched-bench beside it (run while the machine is warm).
# Models live in /dev/shm (RAM: fast to write, and 13B F16 plus a variant fit where the disk would
# not hold all of them); each variant is deleted once measured. Results go to out/gpu-reference
# and, as one archive renewed after the build and after each shape, to $OUT when it is set.
# Needs, in ignored folders that travel with `carry`: carry/ (see bench/gpu_7b.sh: toml++ and
# sqlite3 headers, the LLaMA vocabulary, the trimmed llama.cpp tree) and third_party/report-assets.
#   bench/gpu_reference.sh [all|build|measure|study] [--shapes llama2-7b,llama2-13b,llama3-8b] [--reps 2]
#                          [--prefill-reps 10]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
step=${1:-all}
[ $# -gt 0 ] && shift
shapes=llama2-7b,llama2-13b reps=2 prefill_reps=10
types=(Q8_0 Q6_K Q5_K_M Q4_K_M Q4_0 Q3_K_M Q2_K)
while [ $# -gt 0 ]; do
  case "$1" in
    --shapes) shapes=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --prefill-reps) prefill_reps=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
out="$root/out/gpu-reference"
mkdir -p "$out"
bin="$root/build/cuda/bin"
models=/dev/shm/uaqf-models
mkdir -p "$models"
vocab="$root/carry/models/ggml-vocab-llama-spm.gguf"
# The vocabulary a shape's synthetic model gets: LLaMA 3's 128,256 tokens for llama3-*, else LLaMA 2's.
vocab_for() { case "$1" in llama3-*) echo "$root/carry/models/ggml-vocab-llama-bpe.gguf" ;; *) echo "$vocab" ;; esac; }
t0=$(date +%s)
log() { echo "[$(($(date +%s) - t0)) s] $*" | tee -a "$out/timeline.txt"; }
# The results so far, as one archive in $OUT (the device tool returns at most 8 files, and nothing
# of a command it stops at its time limit but what is already there).
save_out() {
  [ -n "${OUT:-}" ] && [ "$out" != "$OUT" ] || return 0
  tar czf "$OUT/gpu-reference-$step.tgz.partial" -C "$(dirname "$out")" "$(basename "$out")" &&
    mv "$OUT/gpu-reference-$step.tgz.partial" "$OUT/gpu-reference-$step.tgz"
}
# Runs a command and appends its wall time to steps.tsv (where the ten minutes go).
timed() {
  local label=$1 start rc=0
  shift
  start=$EPOCHREALTIME
  "$@" || rc=$?
  awk -v label="$label" -v s="$start" -v e="$EPOCHREALTIME" -v rc="$rc" \
    'BEGIN { printf "%s\t%.2f\t%d\n", label, e - s, rc }' >>"$out/steps.tsv"
  return $rc
}

build() {
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv >"$out/gpu.csv"
  source_dir="$root/third_party/llama.cpp"
  [ -f "$source_dir/CMakeLists.txt" ] || source_dir="$root/carry/llama.cpp"
  extra=()
  # The machine has the SQLite library but maybe not its development files: carried headers.
  if [ ! -f /usr/include/sqlite3.h ]; then
    lib=$(ls /usr/lib/x86_64-linux-gnu/libsqlite3.so* 2>/dev/null | head -1)
    extra+=("-DSQLite3_INCLUDE_DIR=$root/carry/include" "-DSQLite3_LIBRARY=$lib")
  fi
  # The same for libcurl (the OpenAI client, managed llama-server): carried headers, the machine's library.
  if [ ! -f /usr/include/curl/curl.h ] && [ ! -f /usr/include/x86_64-linux-gnu/curl/curl.h ]; then
    lib=$(ls /usr/lib/x86_64-linux-gnu/libcurl.so* /usr/lib64/libcurl.so* 2>/dev/null | head -1)
    [ -n "$lib" ] || { echo "no libcurl on this machine" >&2; ls /usr/lib/x86_64-linux-gnu | grep -i curl >&2; exit 1; }
    extra+=("-DCURL_INCLUDE_DIR=$root/carry/include" "-DCURL_LIBRARY=$lib")
  fi
  # Only the CUDA kernel instances these models use: FlashAttention for head size 128 (LLaMA-2)
  # and MMQ for the quantized types measured (and those their mixes contain); the others abort if
  # ever called (cmake/cuda_instances.cmake). uaqf and llama-bench share the build. This takes
  # about 40 % off the compile work, most of the ten minutes otherwise.
  trim=(-DUAQF_CUDA_FA_HEAD_SIZES=128 "-DUAQF_CUDA_MMQ_TYPES=q8_0;q6_k;q5_k;q4_k;q4_0;q3_k;q2_k")
  printf '%s\n' "${trim[@]}" >"$out/build-options.txt"
  cmake --preset cuda -DUAQF_BUILD_TESTS=OFF -DUAQF_TOMLPP_INCLUDE="$root/carry/include" "${trim[@]}" \
    -DUAQF_LLAMA_SOURCE_DIR="$source_dir" "${extra[@]}" >"$out/configure.log" 2>&1 ||
    { tail -30 "$out/configure.log"; exit 1; }
  cmake --build --preset cuda -j "$(nproc)" --target uaqf llama-bench llama-server "$@" >"$out/build.log" 2>&1 ||
    { grep -E "error|Error" "$out/build.log" | head -30; exit 1; }
  cp "build/cuda/.ninja_log" "$out/ninja_log.txt" 2>/dev/null || true
  log "built"
  save_out
}

# llama-bench and uaqf bench on one model, same tests (pp512, tg128), same repetitions.
measure_model() {
  local model=$1 name
  name=$(basename "$model" .gguf)
  # Prefill runs take tens of milliseconds: they get more repetitions than decode runs (llama-bench
  # has one count for all tests, so it runs separately for each). The card's speed drifts by a
  # few per cent between processes (its clocks), so llama-bench's prefill runs right before and
  # right after uaqf's: uaqf's prefill is compared with the mean of the two runs' medians.
  timed "llama-bench-pp $name" "$bin/llama-bench" -m "$model" -p 512 -n 0 -r "$prefill_reps" -ngl 99 -o json \
    >"$out/llama-bench-$name-pp.json" 2>/dev/null || log "llama-bench (prefill) failed on $name"
  timed "uaqf-bench $name" "$bin/uaqf" bench "$model" -p 512 -n 128 -r "$reps" --prefill-reps "$prefill_reps" --gpu-layers 99 --no-hash \
    --no-latency --json "$out/uaqf-$name.json" >"$out/uaqf-$name.txt" 2>&1 || log "uaqf bench failed on $name"
  timed "llama-bench-pp-after $name" "$bin/llama-bench" -m "$model" -p 512 -n 0 -r "$prefill_reps" -ngl 99 -o json \
    >"$out/llama-bench-$name-pp-after.json" 2>/dev/null || log "llama-bench (prefill, after) failed on $name"
  timed "llama-bench-tg $name" "$bin/llama-bench" -m "$model" -p 0 -n 128 -r "$reps" -ngl 99 -o json \
    >"$out/llama-bench-$name-tg.json" 2>/dev/null || log "llama-bench (decode) failed on $name"
  log "measured $name"
}

shm_free_bytes() { df -B1 --output=avail "$models" | tail -1; }

measure() {
  local half=$(( $(nproc) / 2 ))
  for shape in ${shapes//,/ }; do
    base="$models/$shape-f16.gguf"  # variants: $shape-<TYPE>.gguf
    timed "synth $shape" "$bin/uaqf" synth --shape "$shape" -o "$base" --vocab "$(vocab_for "$shape")" >>"$out/synth.txt" 2>&1
    log "synthesized $shape ($(( $(shm_free_bytes) >> 30 )) GiB free in $models)"
    # The next variant is quantized while this one is measured (CPU and RAM work beside GPU work:
    # it hides most of the quantization time), on half the cores at the lowest priority, where
    # /dev/shm holds two variants beside the base; otherwise one after the other.
    local overlap=0 pending=""
    [ "$(shm_free_bytes)" -gt "$(stat -c %s "$base")" ] && overlap=1
    start_quantize() {
      if [ "$overlap" = 1 ]; then
        nice -n 19 "$bin/uaqf" quantize "$base" --types "$1" --out "$models" -t "$half" >>"$out/quantize.txt" 2>&1 &
        pending=$!
      else
        timed "quantize $shape-$1" "$bin/uaqf" quantize "$base" --types "$1" --out "$models" >>"$out/quantize.txt" ||
          log "quantize $shape-$1 failed"
      fi
    }
    start_quantize "${types[0]}"
    measure_model "$base"
    for i in "${!types[@]}"; do
      type=${types[$i]}
      if [ -n "$pending" ]; then
        timed "quantize-wait $shape-$type" wait "$pending" || log "quantize $shape-$type failed"
        pending=""
      fi
      if [ $((i + 1)) -lt ${#types[@]} ]; then
        start_quantize "${types[$((i + 1))]}"
      fi
      if [ -f "$models/$shape-$type.gguf" ]; then
        measure_model "$models/$shape-$type.gguf"
      fi
      rm -f "$models/$shape-$type.gguf" "$models/$shape-$type.gguf.uaqf.json"
    done
    rm -f "$base"  # room for the next shape (the study synthesizes its own)
    save_out
  done
}

study() {
  build llama-batched-bench  # incremental: only what the measure step did not build
  base="$models/llama2-7b-f16.gguf"
  [ -f "$base" ] || "$bin/uaqf" synth --shape llama2-7b -o "$base" --vocab "$vocab" >>"$out/synth.txt" 2>&1
  cat >"$out/regime.toml" <<EOF
# The regime study: the 7B shape at four precisions, measured once at batch 1 and with 64
# sequences decoding side by side; ranked as interactive here and as batch serving by uaqf rank.
[study]
name = "h100-7b-regime"
output = "$models/regime"
[model]
path = "$base"
types = ["Q8_0", "Q4_K_M", "Q4_0"]
[runtime]
gpu_layers = -1
[workload]
prompt_tokens = [512]
gen_tokens = 128
reps = $reps
parallel = [64]
[profile]
name = "interactive"
EOF
  cat >"$out/batch64.toml" <<EOF
# Batch serving: aggregate decode with 64 sequences, prefill, and device memory.
name = "batch-throughput"
weights = { parallel_decode_tps = 0.6, prefill_tps = 0.25, device_memory_gib = 0.15 }
EOF
  "$bin/uaqf" run "$out/regime.toml" >"$out/regime-interactive.txt" 2>&1
  cp "$models/regime/results.json" "$out/regime-results.json"
  "$bin/uaqf" rank "$out/regime-results.json" --profile "$out/batch64.toml" >"$out/regime-batch64.txt" 2>&1
  log "regime study done"
  # llama-batched-bench beside it: S_TG at 1 and 64 sequences, 512-token prompts, 128 generated.
  for model in "$base" "$models/regime/variants/llama2-7b-Q4_0.gguf"; do
    name=$(basename "$model" .gguf)
    "$bin/llama-batched-bench" -m "$model" -c 50000 -b 2048 -ub 512 -npp 512 -ntg 128 -npl 1,64 -ngl 99 \
      >"$out/batched-bench-$name.txt" 2>&1 || log "llama-batched-bench failed on $name"
  done
  log "batched-bench done"
}

case "$step" in
  build) build ${EXTRA_TARGETS:-} ;;  # EXTRA_TARGETS: more targets of the same build (e.g. ggml-rpc-server)
  measure) measure ;;
  study) study ;;
  all) build; measure ;;
  *) echo "usage: bench/gpu_reference.sh [all|build|measure|study] [--shapes ...] [--reps N]" >&2; exit 2 ;;
esac
log "end"
save_out
