#!/usr/bin/env bash
# Is the prebuilt llama.cpp (third_party/llama-prebuilt) the engine the source build makes?
#   scripts/check/prebuilt-engine.sh SOURCE_BUILD_DIR [PREBUILT_BUILD_DIR]
# SOURCE_BUILD_DIR: a build of the bundled source (e.g. build/release or build/ci);
# PREBUILT_BUILD_DIR (default build/prebuilt): a build of the `prebuilt` preset.
# Compares, and fails on any difference in the first three:
#   1. the C API each library exports (llama_*, ggml_*, gguf_* symbols): libllama, libggml +
#      libggml-base, and the CPU backend (each prebuilt variant against the source's libggml-cpu,
#      less the two entry points of a loadable backend);
#   2. that every llama/ggml/gguf function the prebuilt uaqf binary imports is exported there;
#   3. ggml's version string;
# and reports, without failing, what is left: the C++ symbols and the string literals of libllama
# that only one side has (compiler and linker differences: GCC 11 against the local compiler,
# inlining, merged string tails), for a reader to judge. The struct layouts are checked at run time
# (backend/llama/llama_abi.cpp; test EngineBuild.LoadedLibraryHasTheLayoutOfTheHeaders).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
src_build=${1:?usage: prebuilt-engine.sh SOURCE_BUILD_DIR [PREBUILT_BUILD_DIR]}
pb_build=${2:-$root/build/prebuilt}
pb="$root/third_party/llama-prebuilt"
s="$src_build/llama.cpp"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

c_api() { grep -E '^(llama_|ggml_|gguf_)' | sort -u; }
exported() { nm -D --defined-only "$@" | awk 'NF == 3 && $2 ~ /^[TDBRVWi]$/ {print $3}'; }
defined() { nm --defined-only "$@" 2>/dev/null | awk 'NF == 3 && $2 ~ /^[TDBRVWi]$/ {print $3}'; }

compare() {  # NAME PREBUILT_LIST SOURCE_LIST
  local only_pb only_src
  only_pb=$(comm -23 "$2" "$3" | wc -l)
  only_src=$(comm -13 "$2" "$3" | wc -l)
  if [ "$only_pb" -eq 0 ] && [ "$only_src" -eq 0 ]; then
    echo "same   $1: $(wc -l <"$2") C functions and variables"
  else
    echo "DIFFER $1: $only_pb only in the prebuilt, $only_src only in the source build:"
    comm -3 "$2" "$3" | head -20 | sed 's/^/         /'
    fail=1
  fi
}

exported "$pb/libllama.v0.4.0.so" | c_api >"$work/pb-llama"
defined "$s/src/libllama.a" | c_api >"$work/src-llama"
compare "libllama" "$work/pb-llama" "$work/src-llama"
exported "$pb/libggml-base.so" "$pb/libggml.v0.4.0.so" | c_api >"$work/pb-ggml"
defined "$s/ggml/src/libggml-base.a" "$s/ggml/src/libggml.a" | c_api >"$work/src-ggml"
compare "libggml + libggml-base" "$work/pb-ggml" "$work/src-ggml"
defined "$s/ggml/src/libggml-cpu.a" | c_api >"$work/src-cpu"
for variant in "$pb"/libggml-cpu-*.so; do
  # ggml_backend_init and ggml_backend_score: the entry points of a dynamically loaded backend
  # (GGML_BACKEND_DL), which a statically linked one does not have.
  exported "$variant" | c_api | grep -vxE 'ggml_backend_(init|score)' >"$work/pb-cpu"
  compare "$(basename "$variant")" "$work/pb-cpu" "$work/src-cpu"
done

if [ -x "$pb_build/bin/uaqf" ]; then
  nm -D --undefined-only "$pb_build/bin/uaqf" | awk '{print $2}' | sed 's/@.*//' | c_api >"$work/imports"
  cat "$work/pb-llama" "$work/pb-ggml" | sort -u >"$work/pb-all"
  missing=$(comm -23 "$work/imports" "$work/pb-all")
  if [ -z "$missing" ]; then
    echo "same   uaqf imports $(wc -l <"$work/imports") llama/ggml/gguf functions, all exported by the prebuilt libraries"
  else
    echo "DIFFER uaqf imports functions the prebuilt libraries lack: $missing"
    fail=1
  fi
else
  echo "(no $pb_build/bin/uaqf: the imports check needs a build of the prebuilt preset)"
fi

pb_version=$(strings -a "$pb/libggml-base.so" | grep -xE '[0-9]+\.[0-9]+\.[0-9]+' | head -1)
src_version=$(sed -n 's/^set(GGML_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\))/\2/p' \
  "$root/third_party/llama.cpp/ggml/CMakeLists.txt" | paste -sd.)
if [ "$pb_version" = "$src_version" ]; then
  echo "same   ggml version $pb_version"
else
  echo "DIFFER ggml version: prebuilt '$pb_version', source '$src_version'"
  fail=1
fi

# What is left, reported: C++ symbols and string literals of libllama.
nm -D --defined-only "$pb/libllama.v0.4.0.so" | awk '$2 ~ /^[TW]$/ {print $3}' | sort -u >"$work/pb-cxx"
nm --defined-only "$s/src/libllama.a" 2>/dev/null | awk '$2 ~ /^[TW]$/ {print $3}' | sort -u >"$work/src-cxx"
echo "report libllama functions (C++ included): $(wc -l <"$work/pb-cxx") prebuilt, $(wc -l <"$work/src-cxx") source;" \
  "$(comm -23 "$work/pb-cxx" "$work/src-cxx" | wc -l) only prebuilt, $(comm -13 "$work/pb-cxx" "$work/src-cxx" | wc -l) only source" \
  "(out-of-line copies of inline functions and templates differ between compilers)"
strings -a -n 8 "$pb/libllama.v0.4.0.so" | grep -E '%|: ' | sort -u >"$work/pb-str"
strings -a -n 8 "$s/src/libllama.a" | grep -E '%|: ' | sort -u >"$work/src-str"
echo "report libllama messages and format strings: $(wc -l <"$work/pb-str") prebuilt, $(wc -l <"$work/src-str") source; only in one:"
comm -3 "$work/pb-str" "$work/src-str" | sed 's/^\t/         source:   /; t; s/^/         prebuilt: /'
exit "$fail"
