#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (preset fuzz: clang, ASan, UBSan) and runs each for
# SECONDS_PER_TARGET (default 60) over a copy of its committed corpus (tests/fuzz/corpus/TARGET),
# with its dictionary when there is one. Fails when any target finds a crash, a leak, a sanitizer
# report, an input slower than the per-input timeout or a memory blow-up; the input that did it is
# kept in build/fuzz/findings/ (libFuzzer's crash-*, timeout-*, oom-*, leak-* files).
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Env: UAQF_FUZZ_JOBS targets run side by side (default: the number of cores), UAQF_FUZZ_TIMEOUT_S
# per input (default 10), UAQF_FUZZ_RSS_MB (default 2048), UAQF_FUZZ_KEEP_CORPUS=DIR keeps the
# grown corpora there (bench/fuzz_long.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds="${1:-60}"
shift || true
all_targets=(fuzz_study_toml fuzz_profile fuzz_results fuzz_task_data fuzz_sse fuzz_gguf)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
jobs="${UAQF_FUZZ_JOBS:-$(nproc)}"
timeout_s="${UAQF_FUZZ_TIMEOUT_S:-10}"
rss_mb="${UAQF_FUZZ_RSS_MB:-2048}"
cd "$root"

bash scripts/setup-deps.sh
bash scripts/fetch-llama.sh
bash scripts/fetch-report-assets.sh
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
extra=()
[ -n "${UAQF_SHARED_DIR:-}" ] && extra+=("-DUAQF_SHARED_DIR=$UAQF_SHARED_DIR")
cmake --preset fuzz "${extra[@]}" >/dev/null
cmake --build --preset fuzz -j "$(nproc)"

bin="$root/build/fuzz/bin"
work="$root/build/fuzz/fuzz-work"
findings="$root/build/fuzz/findings"
rm -rf "$work"
mkdir -p "$work" "$findings"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

run_target() {
  local target=$1
  local corpus="$work/$target/corpus"
  mkdir -p "$corpus"
  cp -r "tests/fuzz/corpus/${target#fuzz_}/." "$corpus/"
  local dict=()
  [ -f "tests/fuzz/dict/${target#fuzz_}.dict" ] && dict=("-dict=tests/fuzz/dict/${target#fuzz_}.dict")
  local status=0
  TMPDIR="$work/$target" "$bin/$target" "$corpus" "${dict[@]}" -max_total_time="$seconds" -timeout="$timeout_s" \
    -rss_limit_mb="$rss_mb" -artifact_prefix="$findings/$target-" -print_final_stats=1 \
    >"$work/$target.log" 2>&1 || status=$?
  local runs
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$' || echo "?")
  local files cov
  files=$(find "$corpus" -type f | wc -l)
  cov=$(grep -aoE 'cov: [0-9]+ ft: [0-9]+' "$work/$target.log" | tail -1 || true)
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $target FAILED (exit $status) after $runs inputs; log: $work/$target.log, input: $findings/$target-*" >&2
    grep -m 3 -E 'ERROR: |runtime error|==ERROR|terminate called|deadly signal' "$work/$target.log" >&2 || true
  else
    echo "fuzz: $target ok: ${seconds} s, $runs inputs, ${cov:-cov: ?}, corpus $files files"
  fi
  if [ -n "${UAQF_FUZZ_KEEP_CORPUS:-}" ]; then
    mkdir -p "$UAQF_FUZZ_KEEP_CORPUS/$target"
    cp -r "$corpus/." "$UAQF_FUZZ_KEEP_CORPUS/$target/"
    cp "$work/$target.log" "$UAQF_FUZZ_KEEP_CORPUS/$target.log"
  fi
  return "$status"
}

pids=()
names=()
failed=()
for target in "${targets[@]}"; do
  [ -x "$bin/$target" ] || { echo "fuzz: $bin/$target was not built" >&2; exit 1; }
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
  run_target "$target" &
  pids+=($!)
  names+=("$target")
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${names[$i]}")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]} (inputs in $findings)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, no finding"
