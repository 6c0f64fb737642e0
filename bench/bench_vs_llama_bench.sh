#!/usr/bin/env bash
# Agreement benchmark: uaqf bench vs llama-bench, same build, model, threads and token counts.
# Runs the two tools in alternating rounds (so machine drift hits both) and prints the ratio of
# their mean prefill and decode tokens/s per model, then writes a Markdown table.
#
#   bench/bench_vs_llama_bench.sh [--preset release] [--rounds 3] [--reps 5] [--threads N]
#                                 [--prompt 512] [--gen 128] [--ngl -1] [--out docs/results/x.md]
#                                 [MODEL.gguf ...]
# Without models: the tiny model from the shared folder and its Q8_0, Q4_K_M and Q4_0 variants.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
rounds=3 reps=5 prompt=512 gen=128 ngl=-1
models=()
while [ $# -gt 0 ]; do
  bench_common_option "$@"
  if [ "$bench_shift" -gt 0 ]; then shift "$bench_shift"; continue; fi
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --prompt) prompt=$2; shift 2 ;;
    --gen) gen=$2; shift 2 ;;
    --ngl) ngl=$2; shift 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
bench_setup bench-agreement
if [ ${#models[@]} -eq 0 ]; then
  base="$shared/models/uaqf-tiny/uaqf-tiny-15m-f16.gguf"
  "$bin/uaqf" quantize "$base" --types Q8_0,Q4_K_M,Q4_0 --out "$work/variants" >/dev/null
  models=("$base" "$work/variants/uaqf-tiny-15m-Q8_0.gguf" "$work/variants/uaqf-tiny-15m-Q4_K_M.gguf"
          "$work/variants/uaqf-tiny-15m-Q4_0.gguf")
fi

for round in $(seq 1 "$rounds"); do
  for model in "${models[@]}"; do
    name=$(basename "$model" .gguf)
    # Alternate which tool goes first, so that neither always runs on a warmer machine.
    if [ $((round % 2)) = 1 ]; then order="llama uaqf"; else order="uaqf llama"; fi
    for tool in $order; do
      if [ "$tool" = llama ]; then
        "$bin/llama-bench" -m "$model" -t "$threads" -p "$prompt" -n "$gen" -r "$reps" -ngl "$ngl" -o json \
          >"$work/$name.llama.$round.json" 2>/dev/null
      else
        "$bin/uaqf" bench "$model" -t "$threads" -p "$prompt" -n "$gen" -r "$reps" --gpu-layers "$ngl" \
          --no-latency --no-hash --json "$work/$name.uaqf.$round.json" >/dev/null 2>&1
      fi
    done
  done
done

python3 - "$work" "$rounds" "$prompt" "$gen" "$threads" "$reps" "${out:-}" "${models[@]}" <<'PY'
# Per round, each tool ran in its own process; per-process effects (memory placement, core
# scheduling) vary by a few percent on a small VM, so the ratio is judged over rounds:
# mean of the per-round ratios with a 95 % interval (t distribution).
import json, os, statistics, subprocess, sys
work, rounds, prompt, gen, threads, reps, out = sys.argv[1:8]
models = sys.argv[8:]
rounds = int(rounds)
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 19: 2.093, 24: 2.064, 29: 2.045}

def t975(dof):
    keys = [k for k in T975 if k <= dof]
    return T975[max(keys)] if keys else 12.706

rows, worst = [], 0.0
for model in models:
    name = os.path.basename(model)[:-5]
    tools = {"llama": {"pp": [], "tg": []}, "uaqf": {"pp": [], "tg": []}}
    for r in range(1, rounds + 1):
        per = {"llama": {"pp": [], "tg": []}, "uaqf": {"pp": [], "tg": []}}
        for entry in json.load(open(f"{work}/{name}.llama.{r}.json")):
            per["llama"]["pp" if entry["n_prompt"] > 0 else "tg"] += entry["samples_ts"]
        for metric in json.load(open(f"{work}/{name}.uaqf.{r}.json"))["models"][0]["metrics"]:
            kind = {"prefill_tps": "pp", "decode_tps": "tg"}.get(metric["name"])
            if kind:
                per["uaqf"][kind] += metric["samples"]
        for tool in tools:
            for kind in ("pp", "tg"):
                tools[tool][kind].append(statistics.mean(per[tool][kind]))
    row = [name]
    for kind in ("pp", "tg"):
        l, u = tools["llama"][kind], tools["uaqf"][kind]
        ratios = [b / a for a, b in zip(l, u)]
        mean_ratio = statistics.mean(ratios)
        half = t975(len(ratios) - 1) * statistics.stdev(ratios) / len(ratios) ** 0.5 if len(ratios) > 1 else float("nan")
        worst = max(worst, abs(mean_ratio - 1))
        row += [f"{statistics.mean(l):.1f}", f"{statistics.mean(u):.1f}", f"{mean_ratio:.3f} ± {half:.3f}"]
    rows.append(row)
head = ["model", f"llama-bench pp{prompt}", f"uaqf pp{prompt}", "ratio (95% CI)",
        f"llama-bench tg{gen}", f"uaqf tg{gen}", "ratio (95% CI)"]
lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
lines += ["| " + " | ".join(r) + " |" for r in rows]
table = "\n".join(lines)
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
summary = (f"tokens/s: mean of {rounds} alternating rounds (each a fresh process per tool, {reps} repetitions "
           f"after 1 warm-up); ratio = uaqf / llama-bench per round, mean ± 95% CI half-width; {threads} threads; "
           f"CPU: {cpu}; largest deviation of a mean ratio from 1: {worst * 100:.1f} %")
print(table)
print(summary)
if out:
    with open(out, "w") as f:
        f.write(table + "\n\n" + summary + "\n")
PY
