#!/usr/bin/env bash
# Time of `uaqf rank` (issue 22: the bootstrap recomputes every record-based metric from resampled
# records): on a study's results.json as it is, and on the same results grown to ITEMS task items
# per variant (bench/make_large_results.py), under a profile that weights the task accuracies.
# Wall time of the whole command (reading results.json included), best of 3.
#   bench/bench_rank.sh RESULTS.json [--preset release] [--items 10000] [--out docs/results/rank-time.md] [--no-build]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
results="" items=10000
while [ $# -gt 0 ]; do
  bench_common_option "$@"
  if [ "$bench_shift" -gt 0 ]; then shift "$bench_shift"; continue; fi
  case "$1" in
    --items) items=$2; shift 2 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) results=$1; shift ;;
  esac
done
[ -n "$results" ] || { echo "usage: bench/bench_rank.sh RESULTS.json [--items N]" >&2; exit 2; }
[ "$build" = 1 ] && bash "$root/scripts/build.sh" "$preset" uaqf
bin="$root/build/$preset/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=${out:-$root/docs/results/rank-time.md}

best_of_3() {  # prints the best wall time in seconds of "$@"
  local best="" t
  for _ in 1 2 3; do
    t=$( { /usr/bin/time -f %e "$@" >/dev/null; } 2>&1 | tail -1)
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
  done
  echo "$best"
}

tasks=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(",".join(sorted({t["task"] for v in r["variants"] for t in (v.get("tasks") or [])})))' "$results")
weights=$(python3 -c 'import json,sys; print(json.dumps({t + ".acc": 0.1 for t in sys.argv[1].split(",") if t}))' "$tasks")
cat > "$work/profile.json" <<JSON
{"name": "interactive-and-tasks", "base": "interactive", "weights": {"decode_tps": 0.35, "ttft_ms": 0.25, "itl_p99_ms": 0.2, "same_top_rate": 0.2, $(sed 's/^{//; s/}$//' <<<"$weights")}}
JSON
python3 "$root/bench/make_large_results.py" "$results" "$items" "$work/large.json"
t_default=$(best_of_3 "$bin/uaqf" rank "$results" --profile interactive)
t_tasks=$(best_of_3 "$bin/uaqf" rank "$results" --profile "$work/profile.json")
t_large=$(best_of_3 "$bin/uaqf" rank "$work/large.json" --profile "$work/profile.json")
size_large=$(du -m "$work/large.json" | cut -f1)
{
  echo "# Time of \`uaqf rank\`"
  echo
  echo "\`bench/bench_rank.sh $(basename "$results") --items $items\` ($(date -u +%Y-%m-%d), $(git -C "$root" rev-parse --short HEAD), $(nproc) cores, 1000 bootstrap resamples; best of 3 wall times of the whole command)."
  echo
  echo "| results | profile | wall time (s) |"
  echo "|---|---|---|"
  echo "| the study's results.json | interactive | $t_default |"
  echo "| the study's results.json | interactive + task accuracies ($tasks) | $t_tasks |"
  echo "| grown to $items task items per variant and task (${size_large} MB) | interactive + task accuracies | $t_large |"
} > "$out"
cat "$out"
