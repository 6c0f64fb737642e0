#!/usr/bin/env bash
# Served precisions on the GPU machine: the LLaMA-2-7B shape (random weights, real shapes) at F16,
# Q8_0, Q4_K_M and Q4_0, each served by a managed llama-server from the same CUDA build, under a
# closed-loop concurrency sweep (1..64 in flight) and an open-loop Poisson rate sweep, with
# goodput under ttft_ms <= 500 and tpot_ms <= 50 and the highest load that keeps 99 % of requests
# within both. Resumable across the device tool's 10-minute calls: every step skips what is
# already in out/gpu-serving (the build and the models survive while the machine stays warm).
#   bench/make_carry.sh                     here, once (carry/: headers, vocabulary, llama.cpp tree, prompts)
#   bench/gpu_serving.sh [build|prepare|study|serve|ttft|all] [--budget SECONDS]
# `study` runs the four variants as one study (in-process benchmark + the closed-loop sweep behind
# managed llama-servers) and ranks it under the interactive and the serving profile; `serve` adds an
# open-loop Poisson sweep per variant (serve-bench). Managed servers run without llama-server's host
# prompt cache (--cache-ram 0, uaqf's default).
# Results: out/gpu-serving, and one archive of it in $OUT after every step when $OUT is set.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
step=${1:-all}
[ $# -gt 0 ] && shift
budget_s=540
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) budget_s=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
out="$root/out/gpu-serving"
mkdir -p "$out"
bin="$root/build/cuda/bin"
models=/dev/shm/uaqf-models
mkdir -p "$models"
prompts="$root/carry/prompts-gsm8k.jsonl"
types=(Q8_0 Q4_K_M Q4_0)
t0=$(date +%s)
log() { echo "[$(($(date +%s) - t0)) s] $*" | tee -a "$out/timeline.txt"; }
time_left() { [ $(($(date +%s) - t0)) -lt "$budget_s" ]; }
save_out() {
  [ -n "${OUT:-}" ] || return 0
  tar czf "$OUT/gpu-serving.tgz.partial" -C "$(dirname "$out")" "$(basename "$out")" &&
    mv "$OUT/gpu-serving.tgz.partial" "$OUT/gpu-serving.tgz"
}

build() {
  if [ -x "$bin/uaqf" ] && [ -x "$bin/llama-server" ]; then
    log "build present"
    return
  fi
  OUT="" bash "$root/bench/gpu_reference.sh" build
  cp out/gpu-reference/gpu.csv "$out/gpu.csv"
  log "built"
}

prepare() {
  local base="$models/llama2-7b-f16.gguf"
  [ -f "$base" ] || "$bin/uaqf" synth --shape llama2-7b -o "$base" --vocab "$root/carry/models/ggml-vocab-llama-spm.gguf" \
    >>"$out/prepare.txt" 2>&1
  local missing=()
  for type in "${types[@]}"; do
    [ -f "$models/llama2-7b-$type.gguf" ] || missing+=("$type")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    "$bin/uaqf" quantize "$base" --types "$(IFS=,; echo "${missing[*]}")" --out "$models" >>"$out/prepare.txt" 2>&1
  fi
  ls -la "$models" >>"$out/prepare.txt"
  log "models ready"
}

# Random weights pick byte tokens (<0x80>..<0xFF>, ids 131..258 in the LLaMA vocabulary) now and then;
# their bytes do not form UTF-8, and this llama-server then fails the request at its end ("does not
# match the expected Content-only format"). A real model's output does not do that: those tokens are
# banned here with a logit bias (a few hundred additions per sampled token; the same for every variant).
ban_bytes=$(python3 -c 'import json; print(json.dumps({"logit_bias": {str(t): -100 for t in range(131, 259)}}))')

# One variant: the concurrency sweep, then the rate sweep, each a managed llama-server of its own.
serve_variant() {
  local model=$1 name
  name=$(basename "$model" .gguf)
  local common=(--serve "$model" --gpu-layers -1 --api completions --prompts "$prompts" --max-new-tokens 128
    --ignore-eos --slo 'ttft_ms<=500' --slo 'tpot_ms<=50' --ctx-per-slot 512 --timeout 120
    --extra-body "$ban_bytes")
  if [ ! -f "$out/open-$name.json" ] && time_left; then
    "$bin/uaqf" serve-bench "${common[@]}" --parallel 64 --rate 4,16,64 --arrivals poisson --duration 12 --requests 1000 \
      --search-budget 40 --json "$out/open-$name.json.tmp" --csv "$out/open-$name.csv" >"$out/open-$name.txt" 2>&1 &&
      mv "$out/open-$name.json.tmp" "$out/open-$name.json" || log "open loop failed on $name"
    log "open loop $name"
    save_out
  fi
}

# The study: the baseline and three quantized types, benchmarked in-process (pp512, tg128) and served
# at 1..64 requests in flight (chat API); the service must carry 16 in flight. Then the decision
# under `interactive` (single-user speed and memory) next to `serving` (goodput at 16 in flight and
# the most load within the SLOs). Random weights: no quality unit, the profiles drop quality.
study() {
  local dir="$out/study" toml="$out/study.toml" text_prompts="$out/prompts-gsm8k.txt"
  [ -f "$dir/results.json" ] && { log "study present"; return; }
  python3 -c 'import json,sys; [print(json.loads(l)["prompt"].replace("\n", " ")) for l in open(sys.argv[1])]' \
    "$prompts" >"$text_prompts"
  local bias
  bias=$(python3 -c 'print(", ".join(f"\"{t}\" = -100" for t in range(131, 259)))')
  cat >"$toml" <<EOF
[study]
name = "gpu-7b-serving"
output = "$dir"
seed = 42

[model]
path = "$models/llama2-7b-f16.gguf"
types = ["Q8_0", "Q4_K_M", "Q4_0"]
variants_dir = "$models"

[runtime]
gpu_layers = -1

[workload]
prompt_tokens = [512]
gen_tokens = 128
reps = 5
warmup = 1

[workload.serving]
prompts = "file"
file = "$text_prompts"
requests = 64
concurrency = [1, 4, 16, 64]
duration_s = 10
max_new_tokens = 128
ignore_eos = true
slos = ["ttft_ms<=500", "tpot_ms<=50"]
search_budget_s = 30
parallel = 64
ctx_per_slot = 512
service_level = 16
extra_body = { logit_bias = { $bias } }

[profile]
name = "serving"
EOF
  "$bin/uaqf" run "$toml" >"$out/study.txt" 2>&1 || log "study failed"
  for profile in interactive serving; do
    "$bin/uaqf" rank "$dir/results.json" --profile "$profile" --json "$out/rank-$profile.json" \
      >"$out/rank-$profile.txt" 2>&1 || log "rank $profile failed"
  done
  log "study"
  save_out
}

serve() {
  # SERVE_ONLY=Q4_0 (a list) serves only those files.
  local name
  for name in f16 "${types[@]}"; do
    if [ -z "${SERVE_ONLY:-}" ] || [[ " $SERVE_ONLY " == *" $name "* ]]; then
      serve_variant "$models/llama2-7b-$name.gguf"
    fi
  done
}

# TTFT against llama-server's prompt_ms at concurrency 1 (Q4_0), with the server on all cores and on
# one thread: how much of the time outside the server's timers is the CPU threads' doing.
ttft() {
  local threads
  for threads in 16 1; do
    [ -f "$out/ttft-t$threads.json" ] && continue
    "$bin/uaqf" serve-bench --serve "$models/llama2-7b-Q4_0.gguf" --gpu-layers -1 --threads "$threads" \
      --api completions --prompts "$prompts" --concurrency 1 --requests 40 --max-new-tokens 16 --ignore-eos \
      --warmup 5 --timeout 60 --extra-body "$ban_bytes" --json "$out/ttft-t$threads.json" \
      >"$out/ttft-t$threads.txt" 2>&1 || log "ttft with $threads threads failed"
    python3 - "$out/ttft-t$threads.json" <<'PY' | tee -a "$out/timeline.txt"
import json, statistics, sys
records = [r for r in json.load(open(sys.argv[1]))["requests"] if r["ok"] and r.get("server_timings")]
gap = [r["ttft_ms"] - r["server_timings"]["prompt_ms"] for r in records]
out = [r["e2e_ms"] - r["server_timings"]["prompt_ms"] - r["server_timings"]["predicted_ms"] for r in records]
print(f"{sys.argv[1]}: n {len(gap)} ttft-prompt_ms median {statistics.median(gap):.2f} ms, "
      f"outside timers median {statistics.median(out):.2f} ms, ttft median {statistics.median(r['ttft_ms'] for r in records):.2f} ms")
PY
  done
  save_out
}

case "$step" in
  build) build ;;
  prepare) prepare ;;
  study) study ;;
  serve) serve ;;
  ttft) ttft ;;
  all) build; prepare; study; serve ;;
  *) echo "usage: bench/gpu_serving.sh [build|prepare|study|serve|ttft|all] [--budget SECONDS]" >&2; exit 2 ;;
esac
log "end of $step"
save_out
