#!/usr/bin/env bash
# Task-suite benchmark on the tiny model:
#  1. HellaSwag accuracy of `uaqf eval --mc-normalization llama` against llama-perplexity
#     --hellaswag on the same items (uaqf draws them as llama-perplexity does);
#  2. items/s of the batched multiple-choice path (shared context, choices side by side) against
#     the naive one (each choice from an empty cache), with the predictions compared; and on the
#     `invariant` preset with --batch-invariant, where the log-likelihoods must be bit-identical;
#  3. items/s of batched generation (8 prompts side by side) against one prompt at a time, with
#     the generated answers compared token for token: on the default build (llama.cpp's tinyBLAS,
#     one shared cache), and with --batch-invariant on the `invariant` preset (no tinyBLAS, a
#     cache stream per prompt, no flash attention, no weight repacking), whose answers must not
#     depend on batching.
#   bench/bench_tasks.sh [--preset release] [--hellaswag-tasks 400] [--limit 100] [--mc-reps 3] [--gen-limit 32]
#                        [--threads N] [--out docs/results/tasks-cpu.md] [--no-build]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hs_tasks=400 limit=100 gen_limit=32 mc_reps=3
while [ $# -gt 0 ]; do
  bench_common_option "$@"
  if [ "$bench_shift" -gt 0 ]; then shift "$bench_shift"; continue; fi
  case "$1" in
    --hellaswag-tasks) hs_tasks=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --gen-limit) gen_limit=$2; shift 2 ;;
    --mc-reps) mc_reps=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bench_setup bench-tasks
model="$shared/models/uaqf-tiny/uaqf-tiny-15m-f16.gguf"

"$bin/llama-perplexity" -m "$model" -f "$shared/data/hellaswag/hellaswag_val_full.txt" --hellaswag \
  --hellaswag-tasks "$hs_tasks" -t "$threads" >"$work/llama-hellaswag.txt" 2>&1
data=(--data-dir "$shared/data")
"$bin/uaqf" eval "$model" "${data[@]}" --tasks hellaswag_llamacpp --mc-normalization llama --limit "$hs_tasks" -t "$threads" \
  --json "$work/uaqf-hellaswag.json" >/dev/null 2>&1

# Multiple choice on the default build, the two ways alternated $mc_reps times (this machine's
# speed varies from run to run by up to a quarter); then once each on the invariant preset with
# --batch-invariant, where the log-likelihoods must be bit-identical.
mc=(--tasks hellaswag_llamacpp,arc_easy,piqa,winogrande --limit "$limit" -t "$threads")
for rep in $(seq 1 "$mc_reps"); do
  for mode in shared naive; do
    flag=""; [ "$mode" = naive ] && flag="--mc-naive"
    "$bin/uaqf" eval "$model" "${data[@]}" "${mc[@]}" $flag --json "$work/mc-$mode-$rep.json" >/dev/null 2>&1
  done
done
[ "$build" = 1 ] && bash "$root/scripts/build.sh" invariant
invariant_bin="$root/build/invariant/bin"
for mode in shared naive; do
  flag=""; [ "$mode" = naive ] && flag="--mc-naive"
  "$invariant_bin/uaqf" eval "$model" "${data[@]}" "${mc[@]}" --batch-invariant $flag \
    --json "$work/mc-invariant-$mode.json" >/dev/null 2>&1
done
# Generation. Flash attention off on both sides of the default build's comparison: on this CPU
# it is faster for one prompt at a time as well as for batches.
gen=(--tasks gsm8k --limit "$gen_limit" --max-new-tokens 96 -t "$threads")
for batch in 8 1; do
  "$bin/uaqf" eval "$model" "${data[@]}" "${gen[@]}" --gen-batch "$batch" --flash-attn off \
    --json "$work/gen-$batch.json" >/dev/null 2>&1
  "$invariant_bin/uaqf" eval "$model" "${data[@]}" "${gen[@]}" --gen-batch "$batch" --batch-invariant \
    --json "$work/gen-invariant-$batch.json" >/dev/null 2>&1
done

python3 - "$work" "$hs_tasks" "$limit" "$gen_limit" "$threads" "$mc_reps" "${out:-}" <<'PY'
import json, re, statistics, subprocess, sys
work, hs_tasks, limit, gen_limit, threads, mc_reps, out = sys.argv[1:8]
mc_reps = int(mc_reps)
text = open(f"{work}/llama-hellaswag.txt").read()
rows = re.findall(r"^(\d+)\t([0-9.]+)%\t\[", text, re.M)
llama_acc = float(rows[-1][1])
u = json.load(open(f"{work}/uaqf-hellaswag.json"))["models"][0]["tasks"][0]
uaqf_acc = 100 * u["metrics"][0]["value"]
lines = ["# Task-suite benchmark on the CPU", "",
         f"`bash bench/bench_tasks.sh --out docs/results/tasks-cpu.md` (HellaSwag {hs_tasks} tasks, multiple choice "
         f"--limit {limit}, --mc-reps {mc_reps}, generation --gen-limit {gen_limit}).", "",
         f"## HellaSwag, {hs_tasks} tasks drawn as llama-perplexity draws them", "",
         "| tool | accuracy % |", "|---|---|",
         f"| llama-perplexity --hellaswag | {llama_acc:.2f} |", f"| uaqf eval --mc-normalization llama | {uaqf_acc:.2f} |",
         "", f"difference: {uaqf_acc - llama_acc:+.2f} points", ""]

def tasks(path):
    return {t["task"]: t for t in json.load(open(path))["models"][0]["tasks"]}
def same_predictions(a, b):
    return all(x["prediction"] == y["prediction"] and x["prediction_norm"] == y["prediction_norm"]
               for x, y in zip(a["records"], b["records"]))
def max_delta(a, b):
    return max(abs(p - q) for x, y in zip(a["records"], b["records"])
               for p, q in zip(x["loglikelihoods"], y["loglikelihoods"]))
def identical_items(a, b):
    return sum(x["loglikelihoods"] == y["loglikelihoods"] for x, y in zip(a["records"], b["records"]))
def all_four(runs):  # items/s over the four tasks together
    return sum(len(t["records"]) for t in runs.values()) / sum(len(t["records"]) / t["items_per_second"] for t in runs.values())
runs = {mode: [tasks(f"{work}/mc-{mode}-{r}.json") for r in range(1, mc_reps + 1)] for mode in ("shared", "naive")}
names = list(runs["shared"][0])
def spread(values):
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})" if len(values) > 1 else f"{values[0]:.1f}"
lines += [f"## Multiple choice, {limit} items per task: shared context vs one choice at a time", "",
          f"Default build, the two ways alternated {mc_reps} times: median items/s (range); speed-up = ratio of medians.", "",
          "| task | shared items/s | naive items/s | speed-up | same predictions (every run) | max abs Δ log-likelihood |",
          "|---|---|---|---|---|---|"]
for name in names + ["all four"]:
    pick = (lambda r: all_four(r)) if name == "all four" else (lambda r, n=name: r[n]["items_per_second"])
    a = [pick(r) for r in runs["shared"]]
    b = [pick(r) for r in runs["naive"]]
    if name == "all four":
        same, delta = "", ""
    else:
        same = "yes" if all(same_predictions(x[name], y[name]) for x, y in zip(runs["shared"], runs["naive"])) else "NO"
        delta = f"{max(max_delta(x[name], y[name]) for x, y in zip(runs['shared'], runs['naive'])):.2e}"
    lines.append(f"| {name} | {spread(a)} | {spread(b)} | {statistics.median(a) / statistics.median(b):.2f}x | {same} | {delta} |")
inv = {mode: tasks(f"{work}/mc-invariant-{mode}.json") for mode in ("shared", "naive")}
lines += ["", "`invariant` preset with `--batch-invariant` (a cache stream per choice, no flash attention, no "
          "tinyBLAS, no weight repacking), one run each:", "",
          "| task | shared items/s | naive items/s | speed-up | same predictions | bit-identical log-likelihoods |",
          "|---|---|---|---|---|---|"]
for name in names:
    a, b = inv["shared"][name], inv["naive"][name]
    lines.append(f"| {name} | {a['items_per_second']:.1f} | {b['items_per_second']:.1f} | "
                 f"{a['items_per_second'] / b['items_per_second']:.2f}x | {'yes' if same_predictions(a, b) else 'NO'} | "
                 f"{identical_items(a, b)} of {len(a['records'])} items |")
lines.append(f"| all four | {all_four(inv['shared']):.1f} | {all_four(inv['naive']):.1f} | "
             f"{all_four(inv['shared']) / all_four(inv['naive']):.2f}x | | |")
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
