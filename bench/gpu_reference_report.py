#!/usr/bin/env python3
"""Tables for docs/results from what bench/gpu_reference.sh left in its output folder.
   bench/gpu_reference_report.py OUT_DIR > docs/results/gpu-h100-reference.md"""
import json, pathlib, re, statistics, sys

out = pathlib.Path(sys.argv[1])
types = ["f16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"]
gib = 1024 ** 3


def llama(name):
    # One file with both tests (older runs), or one per test, with llama-bench's prefill run once
    # more right after uaqf's (newer runs). Returns the prefill reference (the mean of the prefill
    # runs' medians), the decode samples, and each prefill run's median; None if a test is missing.
    rows = []
    for suffix in ["", "-pp", "-pp-after", "-tg"]:
        path = out / f"llama-bench-{name}{suffix}.json"
        if path.exists():
            rows += json.loads(path.read_text())
    pp_runs = [statistics.median(r["samples_ts"]) for r in rows if r["n_prompt"] > 0 and r["n_gen"] == 0]
    tg = next((r for r in rows if r["n_gen"] > 0 and r["n_prompt"] == 0), None)
    if not pp_runs or tg is None:
        return None
    return statistics.mean(pp_runs), tg["samples_ts"], pp_runs


def uaqf(path):
    model = json.loads(path.read_text())["models"][0]
    metric = {m["name"] + " " + m["test"]: m for m in model["metrics"]}
    return model, metric


lines = []
gpu = (out / "gpu.csv").read_text().splitlines()[1].split(", ")
lines += [f"Card: {gpu[0]} ({gpu[2]}), driver {gpu[1]}, max clocks SM {gpu[3]}, memory {gpu[4]}.", ""]
worst = []
probes = []
# Every shape the run measured, in the order of first appearance of its F16 result.
shapes = []
for path in sorted(out.glob("uaqf-*-f16.json"), key=lambda p: p.stat().st_mtime):
    shape = path.name[len("uaqf-"):-len("-f16.json")]
    if shape not in shapes:
        shapes.append(shape)
for shape in shapes:
    lines += [f"### {shape} (synthetic weights)", "",
              "| type | file GiB | bits/weight | pp512 uaqf | pp512 llama-bench | (before / after) | ratio | tg128 uaqf | tg128 llama-bench | ratio | device GiB | decode J/token | prefill J/token | bandwidth share |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in types:
        name = f"{shape}-{t}"
        lt = out / f"uaqf-{name}.json"
        reference = llama(name)
        if reference is None or not lt.exists():
            lines.append(f"| {t} | missing | | | | | | | | | | | | |")
            continue
        l_pp_ref, l_tg, l_runs = reference
        runs_text = " / ".join(f"{r:,.0f}" for r in l_runs) if len(l_runs) > 1 else "-"
        model, m = uaqf(lt)
        u_pp, u_tg = m["prefill_tps pp512"]["samples"], m["decode_tps tg128"]["samples"]
        # Medians: the first timed prefill of either tool is still warming up.
        r_pp = statistics.median(u_pp) / l_pp_ref
        r_tg = statistics.median(u_tg) / statistics.median(l_tg)
        worst.append((abs(r_pp - 1), "pp512", name, r_pp))
        worst.append((abs(r_tg - 1), "tg128", name, r_tg))
        dev = model.get("peak_device_memory_bytes")
        dj = m.get("decode_j_per_token tg128", {}).get("summary", {}).get("mean")
        pj = m.get("prefill_j_per_token pp512", {}).get("summary", {}).get("mean")
        info = model["info"]
        share = m.get("decode_bandwidth_share tg128", {}).get("summary", {}).get("mean")
        probes.append(model.get("memory_bandwidth_bytes_per_s") or 0)
        share_text = f" {share:.2f} |" if share else " - |"
        lines.append(
            f"| {t} | {info['file_size_bytes'] / gib:.2f} | {info['bits_per_weight']:.2f} | "
            f"{statistics.median(u_pp):,.0f} | {l_pp_ref:,.0f} | {runs_text} | {r_pp:.3f} | "
            f"{statistics.median(u_tg):.1f} | {statistics.median(l_tg):.1f} | {r_tg:.3f} | "
            f"{dev / gib:.2f} | {dj:.3f} | {pj:.4f} |" + share_text if dev and dj and pj else
            f"| {t} | {info['file_size_bytes'] / gib:.2f} | {info['bits_per_weight']:.2f} | "
            f"{statistics.median(u_pp):,.0f} | {l_pp_ref:,.0f} | {runs_text} | {r_pp:.3f} | "
            f"{statistics.median(u_tg):.1f} | {statistics.median(l_tg):.1f} | {r_tg:.3f} | - | - | - |" + share_text)
    lines.append("")
worst.sort(reverse=True)
probes = [p for p in probes if p > 0]
if probes:
    lines += [f"Memory bandwidth measured by uaqf's probe (a matrix-vector product over a buffer larger than "
              f"the caches, once per variant): {min(probes) / 1e9:,.0f} to {max(probes) / 1e9:,.0f} GB/s.", ""]
lines += [f"Largest disagreement: {worst[0][1]} of {worst[0][2]}, uaqf/llama-bench {worst[0][3]:.3f}; "
          f"{sum(1 for w in worst if w[0] <= 0.03)} of {len(worst)} ratios within 3 %.", ""]
timeline = (out / "timeline.txt").read_text()
lines += ["Timeline of the run (seconds from its start):", "", "```", timeline.strip(), "```", ""]
print("\n".join(lines))
