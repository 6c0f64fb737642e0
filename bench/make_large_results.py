#!/usr/bin/env python3
"""Writes a results.json like RESULTS (a study's, schema uaqf.study/1) whose every task has ITEMS
items per variant: each variant's records are its own repeated (answers kept, ids made unique) and
its task metric values set to what the new records give, so `uaqf rank` has that many items to
resample. For bench/bench_rank.sh.
    bench/make_large_results.py RESULTS ITEMS OUT
"""
import json, sys

src, items, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
results = json.load(open(src))
FIELDS = {"acc": "correct", "acc_norm": "correct_norm", "exact_match_strict": "correct_strict",
          "exact_match_flexible": "correct_flexible"}
values = {}
for variant in results["variants"]:
    for task in variant.get("tasks") or []:
        base = task["records"]
        if not base:
            continue
        records = []
        for i in range(items):
            record = dict(base[i % len(base)])
            record["id"] = f"{record.get('id', 'item')}-{i}"
            records.append(record)
        task["records"] = records
        for metric in task["metrics"]:
            field = FIELDS.get(metric)
            if field is None:
                continue
            value = sum(1.0 if r[field] else 0.0 for r in records) / items
            task["metrics"][metric].update({"value": value, "n": items})
            values[(variant["name"], task["task"] + "." + metric)] = value
for inputs in results["decision_inputs"]:
    for (name, metric), value in values.items():
        if name == inputs["name"] and metric in inputs["metrics"]:
            inputs["metrics"][metric]["samples"] = [value]
    for task, correct in inputs.get("item_correct", {}).items():
        inputs["item_correct"][task] = [correct[i % len(correct)] for i in range(items)]
json.dump(results, open(out, "w"))
