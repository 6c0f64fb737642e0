#!/usr/bin/env python3
"""The overlap table of docs/calibration.md: shared word 13-grams (lower-cased runs of letters and
digits, as src/tasks/calibration.cpp) between calibration texts and evaluated data of the shared folder.

  scripts/calibration_overlap.py [DATA_DIR]      (default: $UAQF_SHARED_DIR/data)"""
import json
import os
import re
import sys

N = 13


def words(text):
    return re.findall(r"[a-z0-9\x80-\U0010ffff]+", text.lower())


def grams(ws):
    return [tuple(ws[i:i + N]) for i in range(len(ws) - N + 1)]


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.environ["UAQF_SHARED_DIR"], "data")
    read = lambda p: open(os.path.join(data, p), encoding="utf-8").read()
    qa = lambda p: [json.loads(l) for l in open(os.path.join(data, p), encoding="utf-8") if l.strip()]
    wiki_valid, wiki_test = read("wikitext-2-raw/wiki.valid.raw"), read("wikitext-2-raw/wiki.test.raw")
    gsm_train = "\n\n".join(f"Question: {q['question']}\nAnswer: {q['answer']}" for q in qa("gsm8k/train.jsonl"))
    evaluated = {"wiki.test.raw (lines)": [l for l in wiki_test.split("\n") if l.strip()],
                 "GSM8K test (problems)": [q["question"] + "\n" + q["answer"] for q in qa("gsm8k/test.jsonl")]}
    print("| calibration | evaluated | shared 13-grams | units overlapping |\n|---|---|---|---|")
    for name, text in (("wiki.valid.raw", wiki_valid), ("wiki.test.raw", wiki_test), ("GSM8K train", gsm_train)):
        index = set(grams(words(text)))
        for ev, units in evaluated.items():
            total = shared = hit = 0
            for unit in units:
                g = grams(words(unit))
                s = sum(x in index for x in g)
                total, shared, hit = total + len(g), shared + s, hit + (s > 0)
            print(f"| {name} | {ev} | {shared:,} of {total:,} ({shared / max(total, 1):.3%}) | {hit:,} of {len(units):,} |")


if __name__ == "__main__":
    main()
