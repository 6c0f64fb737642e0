#!/usr/bin/env bash
# Calibration of the decision's uncertainty (issue 22): bench/decide_calibration.cpp simulates
# studies with known true utilities and the default study's noise, decides each under the
# `interactive` weights and checks that 95% utility intervals cover the truth 93-97% of the time
# and that P(best) means what it says (reliability table). Three methods side by side: this
# version (paired records, widened repetitions), without widening, and the decision before issue 22.
#   bench/bench_calibration.sh [--preset release] [--studies 1000] [--resamples 500]
#                              [--out docs/results/decide-calibration.md] [--no-build]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
studies=1000 resamples=500
while [ $# -gt 0 ]; do
  bench_common_option "$@"
  if [ "$bench_shift" -gt 0 ]; then shift "$bench_shift"; continue; fi
  case "$1" in
    --studies) studies=$2; shift 2 ;;
    --resamples) resamples=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$build" = 1 ] && cmake --build "$root/build/$preset" --target uaqf_decide_calibration
bin="$root/build/$preset/bin"
out=${out:-$root/docs/results/decide-calibration.md}
{
  echo "# Calibration of the decision's uncertainty"
  echo
  echo "\`bench/bench_calibration.sh --studies $studies --resamples $resamples\` ($(date -u +%Y-%m-%d), $(git -C "$root" rev-parse --short HEAD))."
  echo "Each simulated study has four variants (the F16 baseline, a middle one and two close contenders)"
  echo "with known true decode speed, TTFT, ITL p99 and same-top rate, measured with the default study's"
  echo "noise: 5 decode repetitions (CV 3%), 20 requests (prompt-length factor shared by every variant,"
  echo "128 token gaps each, 2% stalls of 3x), 20 perplexity chunks of 255 tokens (difficulty shared by"
  echo "every variant). Decided without constraints. A variant's true"
  echo "utility uses the true values (ratio to the baseline's true values); coverage counts the three"
  echo "non-baseline variants of every study; the reliability table bins every variant's P(best)."
  echo
  echo "Two profiles: \`interactive\` (decode_tps 0.35, ttft_ms 0.25, itl_p99_ms 0.2, same_top_rate 0.2) and"
  echo "\`quality\` (decode_tps 0.3, same_top_rate 0.3, and a 200-item task accuracy 0.4: items whose"
  echo "difficulty every variant shares, 10% of answers drawn independently per variant)."
  for profile in interactive quality; do
    for method in paired plain old; do
      echo
      echo "## Profile $profile, method $method"
      echo
      case $method in
        paired) echo "This version: records resampled paired across variants, speed repetitions widened to Student's interval." ;;
        plain) echo "The same without widening the speed repetitions (plain percentile bootstrap)." ;;
        old) echo "As before issue 22: only decode repetitions and per-request TTFT resampled (unpaired); same-top rate, ITL p99 and task accuracy held fixed." ;;
      esac
      echo
      result=$("$bin/uaqf_decide_calibration" --studies "$studies" --resamples "$resamples" --method "$method" --profile "$profile")
      echo '```text'
      sed -n '1,3p' <<<"$result"
      echo '```'
      echo
      sed -n '5,$p' <<<"$result"
    done
  done
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
