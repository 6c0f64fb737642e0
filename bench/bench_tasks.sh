#!/usr/bin/env bash
# Task-suite benchmark on the tiny model:
#  1. HellaSwag accuracy of `uaqf eval --mc-normalization llama` against llama-perplexity
#     --hellaswag on the same items (uaqf draws them as llama-perplexity does);
#  2. items/s of the batched multiple-choice path (shared context, choices side by side) against
#     the naive one (each choice from an empty cache), with the predictions compared;
#  3. items/s of batched generation (8 prompts side by side) against one prompt at a time, with
#     the generated answers compared token for token: on the default build (llama.cpp's tinyBLAS,
#     one shared cache), and with --batch-invariant on the `invariant` preset (no tinyBLAS, a
#     cache stream per prompt, no flash attention, no weight repacking), whose answers must not
#     depend on batching.
#   bench/bench_tasks.sh [--preset release] [--hellaswag-tasks 400] [--limit 100] [--gen-limit 32]
#                        [--threads N] [--out docs/results/tasks-cpu.md] [--no-build]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hs_tasks=400 limit=100 gen_limit=32
while [ $# -gt 0 ]; do
  bench_common_option "$@"
  if [ "$bench_shift" -gt 0 ]; then shift "$bench_shift"; continue; fi
  case "$1" in
    --hellaswag-tasks) hs_tasks=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --gen-limit) gen_limit=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bench_setup bench-tasks
model="$shared/models/uaqf-tiny/uaqf-tiny-15m-f16.gguf"

"$bin/llama-perplexity" -m "$model" -f "$shared/data/hellaswag/hellaswag_val_full.txt" --hellaswag \
  --hellaswag-tasks "$hs_tasks" -t "$threads" >"$work/llama-hellaswag.txt" 2>&1
data=(--data-dir "$shared/data")
"$bin/uaqf" eval "$model" "${data[@]}" --tasks hellaswag --mc-normalization llama --limit "$hs_tasks" -t "$threads" \
  --json "$work/uaqf-hellaswag.json" >/dev/null 2>&1

for mode in shared naive; do
  flag=""; [ "$mode" = naive ] && flag="--mc-naive"
  "$bin/uaqf" eval "$model" "${data[@]}" --tasks hellaswag,arc_easy,piqa,winogrande --limit "$limit" -t "$threads" $flag \
    --json "$work/mc-$mode.json" >/dev/null 2>&1
done
# Generation. Flash attention off on both sides of the default build's comparison: on this CPU
# it is faster for one prompt at a time as well as for batches.
[ "$build" = 1 ] && bash "$root/scripts/build.sh" invariant
invariant_bin="$root/build/invariant/bin"
gen=(--tasks gsm8k --limit "$gen_limit" --max-new-tokens 96 -t "$threads")
for batch in 8 1; do
  "$bin/uaqf" eval "$model" "${data[@]}" "${gen[@]}" --gen-batch "$batch" --flash-attn off \
    --json "$work/gen-$batch.json" >/dev/null 2>&1
  "$invariant_bin/uaqf" eval "$model" "${data[@]}" "${gen[@]}" --gen-batch "$batch" --batch-invariant \
    --json "$work/gen-invariant-$batch.json" >/dev/null 2>&1
done

python3 - "$work" "$hs_tasks" "$limit" "$gen_limit" "$threads" "${out:-}" <<'PY'
import json, re, subprocess, sys
work, hs_tasks, limit, gen_limit, threads, out = sys.argv[1:7]
text = open(f"{work}/llama-hellaswag.txt").read()
rows = re.findall(r"^(\d+)\t([0-9.]+)%\t\[", text, re.M)
llama_acc = float(rows[-1][1])
u = json.load(open(f"{work}/uaqf-hellaswag.json"))["models"][0]["tasks"][0]
uaqf_acc = 100 * u["metrics"][0]["value"]
lines = ["# Task-suite benchmark on the CPU", "",
         f"`bash bench/bench_tasks.sh --out docs/results/tasks-cpu.md` (HellaSwag {hs_tasks} tasks, multiple choice "
         f"--limit {limit}, generation --gen-limit {gen_limit}).", "",
         f"## HellaSwag, {hs_tasks} tasks drawn as llama-perplexity draws them", "",
         "| tool | accuracy % |", "|---|---|",
         f"| llama-perplexity --hellaswag | {llama_acc:.2f} |", f"| uaqf eval --mc-normalization llama | {uaqf_acc:.2f} |",
         "", f"difference: {uaqf_acc - llama_acc:+.2f} points", ""]

def tasks(path):
    return {t["task"]: t for t in json.load(open(path))["models"][0]["tasks"]}
shared, naive = tasks(f"{work}/mc-shared.json"), tasks(f"{work}/mc-naive.json")
lines += [f"## Multiple choice, {limit} items per task: shared context vs one choice at a time", "",
          "| task | shared items/s | naive items/s | speed-up | same predictions | max abs Δ log-likelihood |",
          "|---|---|---|---|---|---|"]
for name in shared:
    a, b = shared[name], naive[name]
    same = all(x["prediction"] == y["prediction"] and x["prediction_norm"] == y["prediction_norm"]
               for x, y in zip(a["records"], b["records"]))
    delta = max(abs(p - q) for x, y in zip(a["records"], b["records"])
                for p, q in zip(x["loglikelihoods"], y["loglikelihoods"]))
    lines.append(f"| {name} | {a['items_per_second']:.1f} | {b['items_per_second']:.1f} | "
                 f"{a['items_per_second'] / b['items_per_second']:.2f}x | {'yes' if same else 'NO'} | {delta:.2e} |")
total = {mode: sum(len(t["records"]) for t in runs.values()) /
         sum(len(t["records"]) / t["items_per_second"] for t in runs.values())
         for mode, runs in (("shared", shared), ("naive", naive))}
lines.append(f"| all four | {total['shared']:.1f} | {total['naive']:.1f} | "
             f"{total['shared'] / total['naive']:.2f}x | | |")
lines += ["", f"## GSM8K generation, {gen_limit} questions (5-shot, up to 96 new tokens): 8 prompts side by side "
          "vs one at a time", "",
          "| build and mode | batched items/s | one-at-a-time items/s | speed-up | identical answers |",
          "|---|---|---|---|---|"]
for label, stem in (("default build (tinyBLAS), shared cache, flash attention off", "gen"),
                    ("`invariant` preset, `--batch-invariant`", "gen-invariant")):
    g8, g1 = (json.load(open(f"{work}/{stem}-{b}.json")) for b in (8, 1))
    t8, t1 = g8["models"][0]["tasks"][0], g1["models"][0]["tasks"][0]
    same_text = sum(x["generated_tokens"] == y["generated_tokens"] and x["generation"] == y["generation"]
                    for x, y in zip(t8["records"], t1["records"]))
    invariant = g8["models"][0]["batch_invariant_kernels"]
    lines.append(f"| {label} (batch-invariant kernels: {'yes' if invariant else 'no'}) | "
                 f"{t8['items_per_second']:.2f} | {t1['items_per_second']:.2f} | "
                 f"{t8['items_per_second'] / t1['items_per_second']:.2f}x | {same_text} of {len(t8['records'])} |")
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
lines += ["", f"uaqf-tiny-15m-f16, {threads} threads, CPU: {cpu}"]
report = "\n".join(lines)
print(report)
if out:
    open(out, "w").write(report + "\n")
PY
