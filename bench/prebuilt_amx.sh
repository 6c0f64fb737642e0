#!/usr/bin/env bash
# The AMX question of the prebuilt engine (docs/prebuilt-engine.md): on a CPU with AMX, ggml picks
# its sapphirerapids variant, whose AMX kernels the source build compiles out (-mno-amx-*) because
# they crash on small Q8_0/Q4_0 models. This runs bench/prebuilt_amx_probe.cpp twice: with every
# variant of the package, and with the variants uaqf ships (sapphirerapids left out).
#   bench/prebuilt_amx.sh build      # here: builds the probe into carry/amx with the libraries and the tiny model
#   bench/prebuilt_amx.sh run [OUT]  # anywhere (also a machine without compilers or packages)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="$root/carry/amx"
case "${1:-run}" in
  build)
    llama="$root/third_party/llama.cpp"
    pb="$root/third_party/llama-prebuilt"
    rm -rf "$dir" && mkdir -p "$dir/all"
    cp "$pb"/libllama.v0.4.0.so "$pb"/libggml.v0.4.0.so "$pb"/libggml-base.so "$pb"/libggml-cpu-*.so "$dir/all/"
    g++ -std=c++20 -O1 -I"$llama/include" -I"$llama/ggml/include" "$root/bench/prebuilt_amx_probe.cpp" \
      -o "$dir/prebuilt_amx_probe" -L"$dir/all" -l:libllama.v0.4.0.so -l:libggml.v0.4.0.so -l:libggml-base.so \
      -Wl,-rpath,'$ORIGIN/all'
    cp "${UAQF_SHARED_DIR:-$root/../shared}/models/uaqf-tiny/uaqf-tiny-15m-f16.gguf" "$dir/"
    ;;
  run)
    out="${2:-$(mktemp -d)}"
    mkdir -p "$out" "$dir/shipped"
    for lib in "$dir"/all/*.so; do
      case "$(basename "$lib")" in libggml-cpu-sapphirerapids.so) ;; *) ln -sf "$lib" "$dir/shipped/" ;; esac
    done
    echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
    echo "AMX flags: $(grep -m1 '^flags' /proc/cpuinfo | grep -o 'amx[a-z0-9_]*' | sort -u | tr '\n' ' ')"
    for set in all shipped; do
      echo "== variants: $set"
      set +e
      "$dir/prebuilt_amx_probe" "$dir/$set" "$dir/uaqf-tiny-15m-f16.gguf" "$out" 2>"$out/$set.log" | grep -v '^\['
      rc=${PIPESTATUS[0]}
      set -e
      echo "exit status: $rc$([ "$rc" -gt 128 ] && echo " (signal $((rc - 128)))")"
    done
    ;;
  *) echo "usage: bench/prebuilt_amx.sh build|run [OUT]" >&2; exit 2 ;;
esac
