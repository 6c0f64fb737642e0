#!/usr/bin/env bash
# Does uaqf serve-bench measure what llama-server measures, and is the load generator ever the
# bottleneck? On this machine's CPUs, with the tiny model and the pinned llama-server:
#   1. TTFT agreement at concurrency 1: uaqf's time to first token minus the server's own
#      timings.prompt_ms, per request (median and p90), plus what the server leaves out of its
#      timings (e2e - prompt_ms - predicted_ms).
#   2. Aggregate output tokens/s at concurrency 8: uaqf's (tokens / first send to last end) against
#      the server's (its predicted_n summed / the span of its own request windows, each window
#      being prompt_ms + predicted_ms ending when the request ended), and the token counts.
#   3. Load-generator capacity: 64 concurrent streams from tests/server/fault_server.py, which
#      streams canned tokens as fast as it can; uaqf's CPU time per streamed token (user + sys of
#      the whole uaqf process, so everything: curl, SSE, JSON, timestamps, records) and tokens per
#      CPU-second, and the cost of one timestamp (steady_clock::now) on this machine.
#   bench/bench_serving.sh [--out DIR]     (default out/bench-serving; results also as summary.md)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out="$root/out/bench-serving"
[ "${1:-}" = "--out" ] && out=$2
mkdir -p "$out"
export UAQF_SHARED_DIR="${UAQF_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}"
model="$UAQF_SHARED_DIR/models/uaqf-tiny/uaqf-tiny-15m-f16.gguf"
bash scripts/build.sh ci uaqf llama-server >/dev/null
bin="$root/build/ci/bin"

"$bin/uaqf" serve-bench --serve "$model" --api completions --prompts gsm8k --concurrency 1 --requests 100 \
  --max-new-tokens 32 --ignore-eos --warmup 5 --threads 2 --json "$out/ttft-c1.json" >"$out/ttft-c1.txt" 2>&1
"$bin/uaqf" serve-bench --serve "$model" --api completions --prompts gsm8k --concurrency 8 --requests 160 \
  --max-new-tokens 64 --ignore-eos --warmup 5 --threads 2 --json "$out/tps-c8.json" >"$out/tps-c8.txt" 2>&1

# The canned-token server: 64 streams of 400 tokens each, as fast as it can.
python3 -u tests/server/fault_server.py 0 >"$out/fault_port.txt" 2>/dev/null &
fault_pid=$!
trap 'kill $fault_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$out/fault_port.txt" ] && break; sleep 0.1; done
port=$(head -1 "$out/fault_port.txt")
/usr/bin/time -f "%U %S %e" -o "$out/generator-time.txt" "$bin/uaqf" serve-bench --url "http://127.0.0.1:$port/v1" \
  --model normal:400 --prompts gsm8k --concurrency 64 --requests 256 --max-new-tokens 400 --warmup 0 \
  --json "$out/generator.json" >"$out/generator.txt" 2>&1
kill $fault_pid
trap - EXIT

cat >"$out/clock.cpp" <<'EOF'
#include <chrono>
#include <cstdio>
int main() {
  using clock = std::chrono::steady_clock;
  constexpr int n = 20'000'000;
  volatile long sink = 0;
  const auto start = clock::now();
  for (int i = 0; i < n; ++i) sink = sink + clock::now().time_since_epoch().count();
  const double ns = std::chrono::duration<double, std::nano>(clock::now() - start).count() / n;
  std::printf("%.1f\n", ns);
}
EOF
g++ -O2 -std=c++20 "$out/clock.cpp" -o "$out/clock"
"$out/clock" >"$out/clock-ns.txt"

python3 - "$out" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def load(name):
    with open(f"{out}/{name}") as f:
        return json.load(f)
def pct(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo = int(k); hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)

c1 = [r for r in load("ttft-c1.json")["requests"] if r["ok"]]
gap = [r["ttft_ms"] - r["server_timings"]["prompt_ms"] for r in c1]
outside = [r["e2e_ms"] - r["server_timings"]["prompt_ms"] - r["server_timings"]["predicted_ms"] for r in c1]

c8 = load("tps-c8.json")
level = c8["levels"][0]
reqs = [r for r in c8["requests"] if r["ok"]]
starts = [r["done_s"] - (r["server_timings"]["prompt_ms"] + r["server_timings"]["predicted_ms"]) / 1e3 for r in reqs]
server_span = max(r["done_s"] for r in reqs) - min(starts)
server_tokens = sum(r["server_timings"]["predicted_n"] for r in reqs)
uaqf_tokens = sum(r["output_tokens"] for r in reqs)
server_tps = server_tokens / server_span

gen = load("generator.json")
user, sys_, wall = map(float, open(f"{out}/generator-time.txt").read().split())
tokens = sum(r["output_tokens"] for r in gen["requests"] if r["ok"])
chunks = sum(len(r["itl_ms"]) + 1 for r in gen["requests"] if r["ok"])
clock_ns = float(open(f"{out}/clock-ns.txt").read())

lines = [
    "| what | value |", "| --- | --- |",
    f"| TTFT − server prompt_ms, concurrency 1, {len(gap)} requests: median | {statistics.median(gap):.2f} ms |",
    f"| the same, p90 | {pct(gap, 90):.2f} ms |",
    f"| median TTFT / server prompt_ms | {statistics.median(r['ttft_ms'] for r in c1):.2f} ms / "
    f"{statistics.median(r['server_timings']['prompt_ms'] for r in c1):.2f} ms |",
    f"| e2e − (prompt_ms + predicted_ms): time outside the server's timings, median | {statistics.median(outside):.2f} ms |",
    f"| output tokens/s at concurrency 8, uaqf ({len(reqs)} requests) | {level['output_tps']:.1f} |",
    f"| output tokens/s at concurrency 8, llama-server's own timings | {server_tps:.1f} |",
    f"| uaqf / server | {level['output_tps'] / server_tps:.4f} |",
    f"| tokens counted by uaqf (usage) / by the server (predicted_n) | {uaqf_tokens} / {server_tokens} |",
    f"| load generator: streams, tokens, wall | 64 in flight, {tokens} tokens, {wall:.1f} s ({tokens / wall:.0f} tokens/s) |",
    f"| load generator: uaqf CPU (user + sys) | {user + sys_:.2f} s |",
    f"| load generator: tokens per uaqf CPU-second | {tokens / (user + sys_):.0f} |",
    f"| load generator: uaqf CPU per streamed token | {(user + sys_) / tokens * 1e6:.1f} µs |",
    f"| one timestamp (steady_clock::now) | {clock_ns:.1f} ns |",
    f"| generator's worst lag behind schedule (closed loop) | {gen['levels'][0]['max_send_lag_ms']:.2f} ms |",
]
with open(f"{out}/summary.md", "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
