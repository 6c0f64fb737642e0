#!/usr/bin/env bash
# Agreement benchmark: uaqf eval vs llama-perplexity, same build, model, corpus, n_ctx, chunks and
# threads. Compares PPL, mean KLD, same-top-token rate and RMS delta-p, and the throughput of both
# (tokens evaluated per second of the whole command, loading and tokenizing included).
#
#   bench/bench_vs_llama_perplexity.sh [--preset release] [--chunks 80] [--ctx 512] [--threads N]
#                                      [--out docs/results/perplexity-agreement-cpu.md] [--no-build]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
chunks=80 ctx=512
while [ $# -gt 0 ]; do
  bench_common_option "$@"
  if [ "$bench_shift" -gt 0 ]; then shift "$bench_shift"; continue; fi
  case "$1" in
    --chunks) chunks=$2; shift 2 ;;
    --ctx) ctx=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bench_setup bench-perplexity
rm -rf "$work/cache"  # the KLD workflow is timed with a cold baseline cache
corpus="$shared/data/wikitext-2-raw/wiki.test.raw"
base="$shared/models/uaqf-tiny/uaqf-tiny-15m-f16.gguf"
"$bin/uaqf" quantize "$base" --types Q8_0,Q4_K_M,Q4_0 --out "$work/variants" >/dev/null 2>&1
variants=("$work/variants/uaqf-tiny-15m-Q8_0.gguf" "$work/variants/uaqf-tiny-15m-Q4_K_M.gguf"
          "$work/variants/uaqf-tiny-15m-Q4_0.gguf")
now() { date +%s.%N; }

# Plain perplexity, one process per model and tool, alternating which goes first.
for model in "$base" "${variants[@]}"; do
  name=$(basename "$model" .gguf)
  t0=$(now); "$bin/llama-perplexity" -m "$model" -f "$corpus" -c "$ctx" --chunks "$chunks" -t "$threads" \
    >"$work/$name.llama.txt" 2>&1; t1=$(now)
  "$bin/uaqf" eval "$model" --data "$corpus" --ctx "$ctx" --chunks "$chunks" -t "$threads" \
    --json "$work/$name.uaqf.json" >/dev/null 2>&1; t2=$(now)
  echo "$name $(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc)" >>"$work/times.txt.new"
done
mv "$work/times.txt.new" "$work/times.txt"

# KL-divergence: llama-perplexity stores the baseline's full distributions once, then reads them
# per variant; uaqf caches the baseline's compact distributions once, then evaluates the variants.
t0=$(now)
"$bin/llama-perplexity" -m "$base" -f "$corpus" -c "$ctx" --chunks "$chunks" -t "$threads" \
  --kl-divergence-base "$work/base.kld" >/dev/null 2>&1
for model in "${variants[@]}"; do
  "$bin/llama-perplexity" -m "$model" -c "$ctx" --chunks "$chunks" -t "$threads" \
    --kl-divergence-base "$work/base.kld" --kl-divergence >"$work/$(basename "$model" .gguf).llama-kld.txt" 2>&1
done
t1=$(now)
"$bin/uaqf" eval "${variants[@]}" --tasks perplexity,kld --baseline "$base" --data "$corpus" --ctx "$ctx" \
  --chunks "$chunks" -t "$threads" --cache-dir "$work/cache" --json "$work/kld.uaqf.json" >/dev/null 2>&1
t2=$(now)
echo "kld $(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc)" >"$work/kld-times.txt"
rm -f "$work/base.kld"

python3 - "$work" "$chunks" "$ctx" "$threads" "${out:-}" "$base" "${variants[@]}" <<'PY'
import json, os, re, subprocess, sys
work, chunks, ctx, threads, out = sys.argv[1:6]
models = sys.argv[6:]
chunks, ctx = int(chunks), int(ctx)
times = {l.split()[0]: (float(l.split()[1]), float(l.split()[2])) for l in open(f"{work}/times.txt")}
evaluated = chunks * ctx
lines = ["| model | llama-perplexity PPL | uaqf PPL | rel. diff | llama t/s | uaqf t/s | uaqf/llama |",
         "|---|---|---|---|---|---|---|"]
worst_ppl, speed_ratios = 0.0, []
for model in models:
    name = os.path.basename(model)[:-5]
    text = open(f"{work}/{name}.llama.txt").read()
    llama_ppl = float(re.search(r"Final estimate: PPL = ([0-9.]+)", text).group(1))
    uaqf_ppl = json.load(open(f"{work}/{name}.uaqf.json"))["models"][0]["perplexity"]["ppl"]
    rel = uaqf_ppl / llama_ppl - 1
    worst_ppl = max(worst_ppl, abs(rel))
    tl, tu = times[name]
    speed_ratios.append(tl / tu)
    lines.append(f"| {name} | {llama_ppl:.4f} | {uaqf_ppl:.4f} | {rel * 100:+.3f} % | {evaluated / tl:.0f} | "
                 f"{evaluated / tu:.0f} | {tl / tu:.3f} |")
lines += ["", "| variant | llama KLD | uaqf KLD (± tail sampling) | rel. diff | llama same top % | uaqf same top % | "
          "llama RMS Δp % | uaqf RMS Δp % |", "|---|---|---|---|---|---|---|---|"]
kld = {m["file_name"][:-5]: m["kld"] for m in json.load(open(f"{work}/kld.uaqf.json"))["models"]}
worst_kld, worst_top = 0.0, 0.0
for model in models[1:]:
    name = os.path.basename(model)[:-5]
    text = open(f"{work}/{name}.llama-kld.txt").read()
    l_kld = float(re.search(r"Mean\s+KLD:\s+([0-9.]+)", text).group(1))
    l_top = float(re.search(r"Same top p:\s+([0-9.]+)", text).group(1))
    l_rms = float(re.search(r"RMS Δp\s*:\s+([0-9.]+)", text).group(1))
    u = kld[name]
    rel = u["kld_mean"] / l_kld - 1
    worst_kld = max(worst_kld, abs(rel))
    worst_top = max(worst_top, abs(100 * u["same_top_rate"] - l_top))
    lines.append(f"| {name} | {l_kld:.6f} | {u['kld_mean']:.6f} ± {u['kld_tail_sampling_stderr']:.6f} | "
                 f"{rel * 100:+.1f} % | {l_top:.2f} | {100 * u['same_top_rate']:.2f} | {l_rms:.3f} | "
                 f"{100 * u['delta_p_rms']:.3f} |")
kt = open(f"{work}/kld-times.txt").read().split()
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
summary = (f"WikiText-2 test, n_ctx {ctx}, {chunks} chunks, {threads} threads, CPU: {cpu}. "
           f"Largest PPL difference {worst_ppl * 100:.3f} %; largest KLD difference {worst_kld * 100:.1f} %; "
           f"largest same-top difference {worst_top:.2f} points. Throughput = {evaluated} evaluated tokens / wall "
           f"time of the whole command; uaqf/llama speed ratios {', '.join(f'{r:.3f}' for r in speed_ratios)}. "
           f"KLD workflow (baseline + 3 variants): llama-perplexity {float(kt[1]):.1f} s, uaqf {float(kt[2]):.1f} s.")
table = "\n".join(lines)
print(table)
print(summary)
if out:
    with open(out, "w") as f:
        f.write(table + "\n\n" + summary + "\n")
PY
