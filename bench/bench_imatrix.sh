#!/usr/bin/env bash
# Agreement benchmark: `uaqf imatrix` vs llama-imatrix, and what each matrix does to quantization.
# Same build, model, calibration text, chunks, n_ctx and threads. Compares the matrices value by
# value (per-column mean squared activations), then quantizes Q4_K_M and IQ4_XS with each (uaqf
# quantize and llama-quantize, crossed: each tool reads the other's matrix) and measures every
# file's KLD against F16 on wiki.test.raw with llama-perplexity.
#
# The calibration text is WikiText-2 *validation* (wiki.valid.raw): the train split is not in the
# shared data folder. The tiny model saw it in training, the test split it did not.
#
#   bench/bench_imatrix.sh [--preset release] [--chunks 100] [--kld-chunks 40] [--threads N]
#                          [--out docs/results/imatrix-agreement-cpu.md] [--no-build]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
chunks=100 kld_chunks=40
while [ $# -gt 0 ]; do
  bench_common_option "$@"
  if [ "$bench_shift" -gt 0 ]; then shift "$bench_shift"; continue; fi
  case "$1" in
    --chunks) chunks=$2; shift 2 ;;
    --kld-chunks) kld_chunks=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bench_setup bench-imatrix
base="$shared/models/uaqf-tiny/uaqf-tiny-15m-f16.gguf"
calibration="$shared/data/wikitext-2-raw/wiki.valid.raw"
corpus="$shared/data/wikitext-2-raw/wiki.test.raw"
now() { date +%s.%N; }
rm -f "$work"/*.gguf "$work"/*.gguf.uaqf.json

# The two matrices, llama-imatrix first (no perplexity: the same work as uaqf's).
t0=$(now)
"$bin/llama-imatrix" -m "$base" -f "$calibration" --chunks "$chunks" -t "$threads" --no-ppl \
  -o "$work/llama.imatrix.gguf" >"$work/llama-imatrix.txt" 2>&1
t1=$(now)
"$bin/uaqf" imatrix "$base" --calibration "$calibration" --name wiki.valid.raw --chunks "$chunks" -t "$threads" \
  -o "$work/uaqf.imatrix.gguf" >"$work/uaqf-imatrix.txt" 2>&1
t2=$(now)
echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc)" >"$work/imatrix-times.txt"
python3 "$root/bench/imatrix_compare.py" "$work/llama.imatrix.gguf" "$work/uaqf.imatrix.gguf" >"$work/compare.json"

# Each type with each matrix by each quantizer.
for type in Q4_K_M IQ4_XS; do
  for m in llama uaqf; do
    "$bin/llama-quantize" --imatrix "$work/$m.imatrix.gguf" "$base" "$work/lq-$m-$type.gguf" "$type" \
      >"$work/lq-$m-$type.txt" 2>&1
    "$bin/uaqf" quantize "$base" --types "$type" --imatrix "$work/$m.imatrix.gguf" --out "$work/uq-$m" \
      >"$work/uq-$m-$type.txt" 2>&1
    mv "$work/uq-$m/uaqf-tiny-15m-$type.gguf" "$work/uq-$m-$type.gguf"
  done
done
"$bin/llama-quantize" "$base" "$work/plain-Q4_K_M.gguf" Q4_K_M >"$work/plain-Q4_K_M.txt" 2>&1

# KLD against F16, all with llama-perplexity.
"$bin/llama-perplexity" -m "$base" -f "$corpus" -c 512 --chunks "$kld_chunks" -t "$threads" \
  --kl-divergence-base "$work/base.kld" >/dev/null 2>&1
for f in "$work"/lq-*.gguf "$work"/uq-*.gguf "$work/plain-Q4_K_M.gguf"; do
  "$bin/llama-perplexity" -m "$f" -c 512 --chunks "$kld_chunks" -t "$threads" --kl-divergence-base "$work/base.kld" \
    --kl-divergence >"${f%.gguf}.kld.txt" 2>&1
done
rm -f "$work/base.kld"

python3 - "$work" "$chunks" "$kld_chunks" "$threads" "${out:-}" <<'PY'
import json, re, sys
work, chunks, kld_chunks, threads, out = sys.argv[1:6]
cmp = json.load(open(f"{work}/compare.json"))
t_llama, t_uaqf = (float(x) for x in open(f"{work}/imatrix-times.txt").read().split())

def kld(name):
    text = open(f"{work}/{name}.kld.txt").read()
    m = re.search(r"Mean\s+KLD:\s+([0-9.]+)\s+±\s+([0-9.]+)", text)
    if not m:
        raise SystemExit(f"{name}: no KLD in llama-perplexity's output")
    return float(m.group(1)), float(m.group(2))

lines = [f"Model: uaqf-tiny-15m F16; calibration: wiki.valid.raw, {chunks} chunks of 512 tokens; "
         f"KLD against F16 on wiki.test.raw, {kld_chunks} chunks of 512 (llama-perplexity); {threads} threads.", "",
         "### The matrices", "",
         "| | llama-imatrix | uaqf imatrix |", "|---|---|---|",
         f"| weights with statistics | {cmp['weights_a']} | {cmp['weights_b']} |",
         f"| chunks × chunk size | {cmp['chunks'][0]} × {cmp['chunk_size'][0]} | {cmp['chunks'][1]} × {cmp['chunk_size'][1]} |",
         f"| seconds (whole command) | {t_llama:.1f} | {t_uaqf:.1f} |", "",
         f"Same weights: {cmp['same_weights']}; token counts equal: {cmp['counts_equal']}; "
         f"{cmp['values_compared']} mean squared activations compared, largest relative difference "
         f"{cmp['max_rel_diff']:.3g} (at {cmp['max_rel_diff_at'] or '–'}).", "",
         "### KLD against F16 of the quantized files", "",
         "| type | matrix | quantizer | mean KLD | ± | vs llama-imatrix + llama-quantize |", "|---|---|---|---|---|---|"]
worst = 0.0
for t in ("Q4_K_M", "IQ4_XS"):
    ref = kld(f"lq-llama-{t}")[0]
    for m in ("llama", "uaqf"):
        for q, prefix in (("llama-quantize", "lq"), ("uaqf quantize", "uq")):
            v, e = kld(f"{prefix}-{m}-{t}")
            rel = v / ref - 1
            worst = max(worst, abs(rel))
            lines.append(f"| {t} | {m} imatrix | {q} | {v:.6f} | {e:.6f} | {rel:+.2%} |")
plain = kld("plain-Q4_K_M")[0]
lines += ["", f"Q4_K_M without a matrix: mean KLD {plain:.6f}; with llama-imatrix's: {kld('lq-llama-Q4_K_M')[0]:.6f}.",
          f"Largest KLD difference from the llama-imatrix + llama-quantize file: {worst:.2%} (goal: within 2%)."]
text = "\n".join(lines) + "\n"
print(text)
if out:
    open(out, "w").write(text)
PY
