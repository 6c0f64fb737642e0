#!/usr/bin/env python3
"""Writes tests/data/report/results.json, the small deterministic study that the report's golden
tests (tests/unit/study_report_test.cpp) and browser test read. Hand-made numbers, a profile with
markup in its text, one dominated, one infeasible and one failed variant, answers holding markup.
The stored decision is uaqf's own, computed by `uaqf rank` on the same inputs:
    python3 tests/data/report/make_fixture.py build/ci/bin/uaqf
"""
import json, os, random, subprocess, sys, tempfile
here = os.path.dirname(os.path.abspath(__file__))
uaqf = sys.argv[1]
random.seed(3)
def samples(mean, spread, n):
    return [round(mean + spread * (random.random() - 0.5), 3) for _ in range(n)]
profile = {"name": "chat-fixture", "description": "chat | *fast* <first> token & steady",
           "weights": {"decode_tps": 0.4, "ttft_ms": 0.2, "same_top_rate": 0.25, "gsm8k.exact_match_strict": 0.15},
           "constraints": ["kld_mean <= 0.1", "peak_memory_gib <= 8"], "normalization": "ratio", "pessimistic": True}
spec = {  # name: decode, ttft, same_top, kld, mem, gsm8k correct, nll shift
  "F16":    (100, 50, 1.0, 0.0, 2.0, [True, True, False, True], 0.0, False),
  "Q8_0":   (150, 40, 0.97, 0.004, 1.2, [True, True, False, True], 0.01, True),
  "Q5_K_M": (200, 33.5, 0.89, 0.02, 0.9, [True, False, False, True], 0.03, False),
  "Q4_K_M": (221, 31.8, 0.90, 0.03, 0.8, [True, False, False, True], 0.04, False),
  "Q4_0":   (225, 31, 0.86, 0.06, 0.75, [False, True, False, True], 0.06, False),
  "Q2_K":   (260, 28, 0.70, 0.30, 0.6, [False, False, False, True], 0.2, False),
}
answers = {
  "F16": ["Natalia sold 48 + 24 = 72 clips.\nThe answer is 72.", "She earns $10.\nThe answer is 10.", "It takes 3 bolts.", "The answer is 5."],
  "Q8_0": ["Natalia sold 48 + 24 = 72 clips.\nThe answer is 72.", "She earns $10.\nThe answer is 10.", "It takes 2 bolts.", "The answer is 5."],
  "Q5_K_M": ["Natalia sold 72 clips.\nThe answer is 72.", "She earns $11.", "Bolts: 5", "The answer is 5."],
  "Q4_K_M": ["Natalia sold 72 clips | total *72*.\nThe answer is 72.", "She earns $12.", "Bolts: 4", "The answer is 5."],
  "Q4_0": ["<script>alert(1)</script> The answer is 71.", "She earns $10 \u2028 (line separator).\nThe answer is 10.", "x", "The answer is 5."],
  "Q2_K": ["answer answer answer", "The answer is 3.", "", "The answer is 5."],
}
targets = ["72", "10", "3", "5"]
env = {"build_type": "Release", "compiler": "gcc 12.2.0", "cpu_model": "Test CPU <x86>", "devices": [{"description": "Test CPU", "memory_total_bytes": 8589934592, "name": "CPU", "type": "cpu"}],
       "engine": "llama.cpp", "engine_system_info": "CPU : AVX2 = 1 | ", "extra": {"malloc_mmap_threshold_bytes": "131072"}, "gpus": [], "hostname": "fixture-host",
       "llama_commit": "80fb11ac73e66d89eae2c6a91d8a77428fa733ed", "logical_cores": 2, "memory_total_bytes": 8589934592, "os": "Linux 6.1.0 x86_64",
       "os_release": "Debian GNU/Linux 12 (bookworm)", "physical_cores": 2, "timestamp_utc": "2026-01-02T03:04:05Z", "uaqf_version": "0.1.0"}
variants, inputs = [], []
for name, (dec, ttft, top, kld, mem, correct, nll, unstable) in spec.items():
    gs = [{"id": f"gsm8k-test-{i}", "prompt_hash": f"{i:016x}", "generation": answers[name][i], "generated_tokens": 12 + i, "target": targets[i],
           "strict_answer": targets[i] if correct[i] else None, "flexible_answer": targets[i] if correct[i] else None,
           "correct_strict": correct[i], "correct_flexible": correct[i]} for i in range(4)]
    ife = [{"id": f"ifeval-{i}", "instruction_ids": ["punctuation:no_comma"], "response": (f"Réponse {i} — café ✓ from {name}" if i else f"No commas here </p><b>{name}</b>"),
            "strict": [i != 1], "loose": [True]} for i in range(2)]
    acc = sum(correct) / 4
    variants.append({"name": name, "file": f"out/fixture/variants/model-{name}.gguf", "is_baseline": name == "F16", "kv_cache_type": "f16", "flash_attention": "auto", "threads": 2,
                     "status": "ok", "tasks": [
                         {"task": "gsm8k", "version": 1, "metrics": {"exact_match_strict": {"value": acc, "stderr": 0.25, "n": 4}}, "items_per_second": 2.0, "records": gs},
                         {"task": "ifeval", "version": 1, "metrics": {"prompt_level_strict_acc": {"value": 0.5, "stderr": 0.5, "n": 2}}, "items_per_second": 2.0, "records": ife}]})
    d = samples(dec, dec * (0.2 if unstable else 0.1), 5)
    inputs.append({"name": name, "is_baseline": name == "F16", "metrics": {
        "decode_tps": {"samples": d, "unstable": unstable},
        "prefill_tps": {"samples": samples(dec * 8, dec * 0.2, 5), "unstable": False},
        "ttft_ms": {"samples": samples(ttft, ttft * 0.1, 6), "unstable": False},
        "itl_p99_ms": {"samples": [round(1000 / dec * 1.3, 4)], "unstable": False},
        "peak_memory_gib": {"samples": [mem], "unstable": False},
        "file_size_gib": {"samples": [round(mem * 0.9, 4)], "unstable": False},
        "kld_mean": {"samples": [kld], "unstable": False},
        "same_top_rate": {"samples": [top], "unstable": False},
        "ppl": {"samples": [round(10 * (1 + nll), 4)], "unstable": False},
        "gsm8k.exact_match_strict": {"samples": [acc], "unstable": False},
        "ifeval.prompt_level_strict_acc": {"samples": [0.5], "unstable": False},
        "output_tokens": {"samples": [12, 13, 14, 15], "unstable": False}},
        "item_correct": {"gsm8k": correct},
        "chunk_values": {"nll": [round(2.3 + nll + 0.01 * k, 4) for k in range(4)], "kld": [round(kld + 0.001 * (k - 1.5), 5) if kld else 0.0 for k in range(4)]}})
variants.append({"name": "Q3_K_S", "file": "out/fixture/variants/model-Q3_K_S.gguf", "is_baseline": False, "kv_cache_type": "f16", "flash_attention": "auto", "threads": 2,
                 "status": "failed", "error": "failed to load model-Q3_K_S.gguf: bad <magic> | header"})
results = {"schema": "uaqf.study/1", "study": {"file": "tests/data/report/study.toml", "name": "fixture <study>", "seed": 7},
           "environment": env, "profile": profile, "variants": variants, "decision_inputs": inputs,
           "decision": {"bootstrap_resamples": 200}}
out = os.path.join(here, "results.json")
with tempfile.TemporaryDirectory() as tmp:
    json.dump(results, open(out, "w"), indent=1, ensure_ascii=False)
    json.dump(profile, open(os.path.join(tmp, "profile.json"), "w"))
    subprocess.run([uaqf, "rank", out, "--profile", os.path.join(tmp, "profile.json"), "--bootstrap", "200", "--seed", "7",
                    "--json", os.path.join(tmp, "decision.json")], check=True, stdout=subprocess.DEVNULL)
    results["decision"] = json.load(open(os.path.join(tmp, "decision.json")))
with open(out, "w") as f:
    json.dump(results, f, indent=1, ensure_ascii=False)
    f.write("\n")
