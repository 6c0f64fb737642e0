# Shared by the bench/ scripts (sourced): the options they all take and the set-up they all need.
#   --preset NAME (release)   --threads N (physical cores)   --out FILE   --no-build
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
preset=release threads="" out="" build=1

# Consumes one common option from "$@"; sets bench_shift to the arguments used (0: not common).
bench_common_option() {
  bench_shift=2
  case "$1" in
    --preset) preset=$2 ;;
    --threads) threads=$2 ;;
    --out) out=$2 ;;
    --no-build) build=0; bench_shift=1 ;;
    *) bench_shift=0 ;;
  esac
}

# Builds (unless --no-build) and sets bin, work (build/<preset>/<name>), threads and shared.
bench_setup() {
  [ "$build" = 1 ] && bash "$root/scripts/build.sh" "$preset"
  bin="$root/build/$preset/bin"
  work="$root/build/$preset/$1"
  mkdir -p "$work"
  [ -n "$threads" ] || threads=$(lscpu -p=Core,Socket 2>/dev/null | grep -v '^#' | sort -u | wc -l)
  shared="${UAQF_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}"
  # The allocator policy uaqf sets for itself (src/perf/memory.h), for the llama.cpp tools too.
  export MALLOC_MMAP_THRESHOLD_=131072
}
