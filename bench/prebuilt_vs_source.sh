#!/usr/bin/env bash
# The prebuilt engine against the source build, same machine, same run (docs/prebuilt-engine.md).
#   bench/prebuilt_vs_source.sh [OUT_DIR]
# Needs build/release/bin/uaqf (source: scripts/build.sh release uaqf) and
# build/prebuilt/bin/uaqf (scripts/build.sh prebuilt uaqf). Models: the tiny model; aidreams260K
# (the shared llama2.c checkpoint with real weights, converted to GGUF by llama.cpp's
# convert-llama2c-to-ggml, compiled here against the prebuilt libraries); for speed also a
# synthetic model of another shape (random weights: uaqf computes no quality for it). Each in F16
# (F32 for aidreams260K), Q8_0, Q4_K_M and Q4_0:
#   1. quantizes with each build and compares the files' sha256;
#   2. perplexity on WikiText-2 (20 chunks of 512; 128 for aidreams260K, its context) with each
#      build: the printed digits and the full double of the results compared;
#   3. prefill (512 tokens) and decode (128 tokens) speed, ROUNDS rounds (default 3) alternating
#      source, prebuilt, source, ... with 5 repetitions each, the 1-minute load average beside.
# Writes OUT_DIR/{quantize,perplexity,speed}.tsv and prints them. PARTS="speed" (a subset of
# "quantize perplexity speed") runs only those, on the models an earlier run left in OUT_DIR;
# THREADS (default 2) sets the threads of every run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="${1:-$root/out/prebuilt-vs-source}"
rounds="${ROUNDS:-3}"
threads="${THREADS:-2}"
export UAQF_SHARED_DIR="${UAQF_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}"
declare -A bin=([source]="$root/build/release/bin/uaqf" [prebuilt]="$root/build/prebuilt/bin/uaqf")
for b in source prebuilt; do
  [ -x "${bin[$b]}" ] || { echo "missing ${bin[$b]}: build it first (see the header)" >&2; exit 1; }
done
mkdir -p "$out/models"
tiny="$UAQF_SHARED_DIR/models/uaqf-tiny/uaqf-tiny-15m-f16.gguf"
synth="$out/models/synth-512x6-f16.gguf"
[ -f "$synth" ] || "${bin[source]}" synth --shape custom:n_embd=512,n_layer=6,n_head=8,n_head_kv=4,n_ff=1408,n_ctx=2048 \
  -o "$synth" >/dev/null
aidreams="$out/models/aidreams260K-f32.gguf"
if [ ! -f "$aidreams" ]; then
  llama="$root/third_party/llama.cpp"
  pb="$root/third_party/llama-prebuilt"
  g++ -std=c++17 -O1 -I"$llama/include" -I"$llama/ggml/include" -I"$llama/common" -I"$llama/vendor" \
    "$llama/examples/convert-llama2c-to-ggml/convert-llama2c-to-ggml.cpp" -o "$out/convert-llama2c" -L"$pb" \
    -l:libllama-common.so -l:libllama.v0.4.0.so -l:libggml.v0.4.0.so -l:libggml-base.so -l:libggml-cpu-x64.so \
    -Wl,-rpath,"$pb"
  src="$UAQF_SHARED_DIR/models/llama2c/aidreams260K"
  "$out/convert-llama2c" --copy-vocab-from-model "$src/tok512.bin" --llama2c-model "$src/aidreams260K.bin" \
    --llama2c-output-model "$aidreams" >/dev/null 2>&1
fi
types=(Q8_0 Q4_K_M Q4_0)

parts="${PARTS:-quantize perplexity speed}"
has() { [[ " $parts " == *" $1 "* ]]; }
has quantize && echo -e "model\ttype\tsource_sha256\tprebuilt_sha256\tsame" >"$out/quantize.tsv"
has quantize && for base in "$tiny" "$aidreams" "$synth"; do
  name=$(basename "$base" .gguf)
  name=${name%-f16}
  name=${name%-f32}
  for b in source prebuilt; do
    "${bin[$b]}" quantize "$base" --types "$(IFS=,; echo "${types[*]}")" --out "$out/models/$b" -t "$threads" >/dev/null 2>&1
  done
  for t in "${types[@]}"; do
    s=$(sha256sum "$out/models/source/$name-$t.gguf" | cut -c1-16)
    p=$(sha256sum "$out/models/prebuilt/$name-$t.gguf" | cut -c1-16)
    echo -e "$name\t$t\t$s\t$p\t$([ "$s" = "$p" ] && echo yes || echo NO)" >>"$out/quantize.tsv"
  done
done

models=()
for base in "$tiny" "$aidreams"; do
  name=$(basename "$base" .gguf)
  name=${name%-f16}
  name=${name%-f32}
  models+=("$base")
  for t in "${types[@]}"; do models+=("$out/models/source/$name-$t.gguf"); done
done

has perplexity && echo -e "model\tsource_ppl\tprebuilt_ppl\tsame_printed\tsource_ppl_full\tprebuilt_ppl_full\tsame_full" >"$out/perplexity.tsv"
has perplexity && for m in "${models[@]}"; do
  declare -A ppl=() full=()
  for b in source prebuilt; do
    ctx=512
    case "$(basename "$m")" in aidreams*) ctx=128 ;; esac
    "${bin[$b]}" eval "$m" --tasks perplexity --chunks 20 -c "$ctx" -t "$threads" --json "$out/ppl-$b.json" \
      >"$out/ppl-$b.txt" 2>&1
    # As uaqf prints it ("eval MODEL: PPL 100.0594 (1.1s)"), and the double the results record.
    ppl[$b]=$(sed -n 's/.*: PPL \([0-9.]*\) .*/\1/p' "$out/ppl-$b.txt" | head -1)
    full[$b]=$(python3 -c 'import json,sys; print(repr(json.load(open(sys.argv[1]))["models"][0]["perplexity"]["ppl"]))' \
      "$out/ppl-$b.json")
  done
  echo -e "$(basename "$m")\t${ppl[source]}\t${ppl[prebuilt]}\t$([ "${ppl[source]}" = "${ppl[prebuilt]}" ] && echo yes || echo NO)\t${full[source]}\t${full[prebuilt]}\t$([ "${full[source]}" = "${full[prebuilt]}" ] && echo yes || echo NO)" \
    >>"$out/perplexity.tsv"
done

speed="$out/speed-t$threads.tsv"
has speed && echo -e "model\tround\tengine\tprefill_tps\tdecode_tps\tload_1min" >"$speed"
has speed && for m in "$tiny" "$out/models/source/uaqf-tiny-15m-Q4_0.gguf" "$synth" "$out/models/source/synth-512x6-Q4_0.gguf"; do
  for r in $(seq 1 "$rounds"); do
    for b in source prebuilt; do
      "${bin[$b]}" bench "$m" -p 512 -n 128 -r 5 --warmup 1 -t "$threads" --no-latency --no-hash \
        --json "$out/bench.json" >/dev/null 2>&1
      python3 - "$out/bench.json" "$(basename "$m")" "$r" "$b" "$(cut -d' ' -f1 /proc/loadavg)" >>"$speed" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
means = {m["name"]: sum(m["samples"]) / len(m["samples"]) for m in j["models"][0]["metrics"] if m["name"] in ("prefill_tps", "decode_tps")}
print("\t".join([sys.argv[2], sys.argv[3], sys.argv[4], f'{means["prefill_tps"]:.1f}', f'{means["decode_tps"]:.1f}', sys.argv[5]]))
PY
    done
  done
done
for f in "$out/quantize.tsv" "$out/perplexity.tsv" "$speed"; do
  [ -f "$f" ] || continue
  echo "== $(basename "$f" .tsv)"
  column -t -s $'\t' "$f"
done
