#!/usr/bin/env python3
"""Measures what the lm-eval alignment of issue 23 changed, from `uaqf eval --json` files
(docs/tasks.md, "Remaining differences and measured effects").

  acc-norm RUN.json [--data DATA_DIR]     acc_norm with lm-eval's divisor (len(choice), as stored)
                                          against the former one (the continuation with its space),
                                          recomputed from the stored log-likelihoods
  compare BEFORE.json AFTER.json          the same task in two runs: metric values and the items
                                          whose verdict changed
"""
import argparse
import json
import sys
from pathlib import Path

# The data folder and JSON-lines reader are gsm8k_verdicts.py's (this folder is on sys.path).
from gsm8k_verdicts import data_dir
from gsm8k_verdicts import read_jsonl as jsonl


def continuations(task, data):
    """Item id -> the continuations uaqf scores (" " + choice) for the tasks whose divisor matters."""
    if task in ("arc_easy", "arc_challenge"):
        split = task.split("_")[1]
        return {f"arc-{split}-{i + 1}": [" " + c for c in row["choices"]]
                for i, row in enumerate(jsonl(data / "arc" / f"arc_{split}.jsonl"))}
    if task == "piqa":
        return {f"piqa-{i}": [" " + row["sol1"], " " + row["sol2"]]
                for i, row in enumerate(jsonl(data / "piqa" / "valid.jsonl"))}
    if task == "hellaswag_llamacpp":
        lines = (data / "hellaswag" / "hellaswag_val_full.txt").read_text(encoding="utf-8").split("\n")
        return {f"hellaswag-{i // 6}": [" " + e for e in lines[i + 2:i + 6]] for i in range(0, len(lines) - 5, 6)}
    raise SystemExit(f"acc-norm: no continuations for task {task}")


def argmax(values):
    return max(range(len(values)), key=lambda i: values[i])


def acc_norm(args):
    run = json.loads(Path(args.run).read_text(encoding="utf-8"))
    for task in run["models"][0]["tasks"]:
        conts = continuations(task["task"], data_dir(args.data))
        changed = new_right = old_right = 0
        for r in task["records"]:
            ll = r["loglikelihoods"]
            c = conts[r["id"]]
            new = argmax([l / max(1, len(x) - 1) for l, x in zip(ll, c)])
            old = argmax([l / max(1, len(x)) for l, x in zip(ll, c)])
            assert new == r["prediction_norm"], r["id"]  # uaqf's stored prediction is lm-eval's
            changed += new != old
            new_right += new == r["gold"]
            old_right += old == r["gold"]
        n = len(task["records"])
        print(f"{task['task']}: {n} items, acc_norm {new_right / n:.4f} (len(choice)) vs {old_right / n:.4f} "
              f"(with the space): {changed} predictions ({100 * changed / n:.1f} %) changed, "
              f"{100 * (new_right - old_right) / n:+.2f} points")


def verdicts(task):
    key = "correct_strict" if task["task"] == "gsm8k" else "correct"
    return {r["id"]: r[key] for r in task["records"]}


def compare(args):
    before = json.loads(Path(args.before).read_text(encoding="utf-8"))["models"][0]["tasks"][0]
    after = json.loads(Path(args.after).read_text(encoding="utf-8"))["models"][0]["tasks"][0]
    for b, a in zip(before["metrics"], after["metrics"]):
        print(f"{after['task']} {a['name']}: {b['value']:.4f} -> {a['value']:.4f} (n {a['n']})")
    vb, va = verdicts(before), verdicts(after)
    common = sorted(set(vb) & set(va))
    flips = sum(vb[i] != va[i] for i in common)
    print(f"{after['task']}: {len(common)} items in both, {flips} verdicts changed")
    if after["task"] == "gsm8k":
        gen_b = {r["id"]: r["generation"] for r in before["records"]}
        gen_a = {r["id"]: r["generation"] for r in after["records"]}
        print(f"gsm8k: {sum(gen_b[i] != gen_a[i] for i in common)} of {len(common)} generations differ")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("acc-norm")
    a.add_argument("run")
    a.add_argument("--data")
    c = sub.add_parser("compare")
    c.add_argument("before")
    c.add_argument("after")
    args = parser.parse_args()
    {"acc-norm": acc_norm, "compare": compare}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
