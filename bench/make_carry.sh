#!/usr/bin/env bash
# Fills the ignored folder carry/ with what a GPU-machine run needs and the machine lacks (it has
# no package registry): toml++, SQLite and libcurl headers, the LLaMA vocabulary for synthetic
# models, and the pinned llama.cpp tree without its history, documentation, models and the
# backends a CUDA build never compiles (the whole checkout must stay under the device tool's 64 MiB).
#   bench/make_carry.sh          then: device run with carry ["carry", "third_party/report-assets"]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
carry="$root/carry"
src="$root/third_party/llama.cpp"
[ -f "$src/CMakeLists.txt" ] || bash "$root/scripts/fetch-llama.sh"
rm -rf "$carry"
mkdir -p "$carry/include" "$carry/models"
cp -r /usr/include/toml++ "$carry/include/"
cp /usr/include/sqlite3.h /usr/include/sqlite3ext.h "$carry/include/"
curl_headers=/usr/include/x86_64-linux-gnu/curl
[ -d "$curl_headers" ] || curl_headers=/usr/include/curl
cp -r "$curl_headers" "$carry/include/curl"
cp "$src/models/ggml-vocab-llama-spm.gguf" "$src/models/ggml-vocab-llama-bpe.gguf" "$carry/models/"  # LLaMA 2, LLaMA 3
excludes=(--exclude=./.git)
for dir in docs models media benches tests examples gguf-py app pocs ci conversion tools/ui/src tools/ui/static \
  tools/ui/tests; do
  excludes+=("--exclude=./$dir")
done
for backend in cann et hexagon metal opencl openvino sycl virtgpu vulkan webgpu zdnn musa hip; do
  excludes+=("--exclude=./ggml/src/ggml-$backend")
done
mkdir -p "$carry/llama.cpp"
tar -C "$src" "${excludes[@]}" -cf - . | tar -C "$carry/llama.cpp" -xf -
# Prompts for the serving runs: GSM8K test questions (the shared folder does not travel).
shared="${UAQF_SHARED_DIR:-$root/../shared}"
python3 - "$shared/data/gsm8k/test.jsonl" "$carry/prompts-gsm8k.jsonl" <<'PY'
import json, sys
with open(sys.argv[1]) as source, open(sys.argv[2], "w") as target:
    for line in list(source)[:300]:
        target.write(json.dumps({"prompt": json.loads(line)["question"]}) + "\n")
PY
# The build reads the commit from the lock file when the tree has no history.
du -sh "$carry" "$carry/llama.cpp"
