#!/usr/bin/env bash
# The long fuzzing run of issue #17 (acceptance: at least 30 minutes per target): every libFuzzer
# target of tests/fuzz for MINUTES_PER_TARGET (default 30) over its committed corpus, through
# scripts/fuzz.sh, then a summary (per target: time, inputs run, coverage, corpus growth, finding
# or not) appended to docs/results/fuzz.md (or --out FILE). Inputs that crashed are left in
# build/fuzz/findings/; each one fixed becomes a regression test (tests/unit/fuzz_regression_test.cpp)
# and a corpus file.
#   bench/fuzz_long.sh [MINUTES_PER_TARGET] [--out FILE] [TARGET...]
# Env as scripts/fuzz.sh (UAQF_FUZZ_JOBS: targets side by side, default the number of cores).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
minutes=30
out="$root/docs/results/fuzz.md"
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    [0-9]*) minutes=$1; shift ;;
    *) targets+=("$1"); shift ;;
  esac
done
keep="$root/build/fuzz/long-run"
rm -rf "$keep"
start=$(date -u +%Y-%m-%dT%H:%MZ)
status=0
UAQF_FUZZ_KEEP_CORPUS="$keep" bash "$root/scripts/fuzz.sh" $((minutes * 60)) "${targets[@]}" | tee "$keep.summary" ||
  status=$?
{
  echo
  echo "### Run of $start: $minutes min per target"
  echo
  echo "Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1); $(clang --version | head -1);"
  echo "${UAQF_FUZZ_JOBS:-$(nproc)} targets side by side. Command: \`bench/fuzz_long.sh $minutes ${targets[*]}\`."
  echo
  echo "| target | result | inputs run | coverage (edges, features) | corpus files (seeds → end) |"
  echo "|---|---|---|---|---|"
  for log in "$keep"/*.log; do
    [ -f "$log" ] || continue
    target=$(basename "$log" .log)
    runs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -aoE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 | sed 's/cov: //; s/ ft: /, /')
    seeds=$(find "$root/tests/fuzz/corpus/${target#fuzz_}" -type f | wc -l)
    grown=$(find "$keep/$target" -type f | wc -l)
    result="no finding"
    if grep -aqE '==ERROR|runtime error|deadly signal|ERROR: libFuzzer' "$log"; then
      result="FINDING: $(grep -aoE 'ERROR: [A-Za-z]+: [a-z-]+|runtime error: [^ ]+ [^ ]+|deadly signal|ERROR: libFuzzer: [a-z-]+' "$log" | head -1)"
    fi
    echo "| $target | $result | ${runs:-?} | ${cov:-?} | $seeds → $grown |"
  done
} >>"$out"
echo "fuzz_long: summary appended to $out"
exit "$status"
