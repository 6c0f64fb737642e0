#!/usr/bin/env python3
"""Writes tests/data/tasks/lm_eval_strings.jsonl: a few items per task with the strings
lm-evaluation-harness builds for them, derived here from lm-eval's task definitions (commit
000488380f82: task YAMLs, hellaswag/utils.py, api/samplers.py's ContextSampler, evaluator's
fewshot_random_seed 1234) with Python's own str methods, `re` and `random` -- not from uaqf's code.
The unit test TaskStrings.* compares uaqf's strings with these, item by item.

usage: scripts/tasks/lm_eval_strings.py [SHARED_DIR]   (default: $UAQF_SHARED_DIR or ../shared)
"""
import csv
import json
import os
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("UAQF_SHARED_DIR", ROOT.parent / "shared"))
DATA = SHARED / "data"
OUT = ROOT / "tests" / "data" / "tasks" / "lm_eval_strings.jsonl"
HELLASWAG_RECORDS = ROOT / "tests" / "data" / "tasks" / "hellaswag_records.jsonl"


def jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def mc(task, item_id, contexts, continuations, gold, **extra):
    return {"task": task, "id": item_id, "contexts": contexts, "continuations": continuations, "gold": gold, **extra}


def gsm8k(rows):
    # gsm8k.yaml: doc_to_text "Question: {{question}}\nAnswer:", doc_to_target "{{answer}}",
    # target_delimiter " ", fewshot_delimiter "\n\n", 5 shots from train with the default sampler.
    train, test = jsonl(DATA / "gsm8k" / "train.jsonl"), jsonl(DATA / "gsm8k" / "test.jsonl")
    rnd = random.Random(1234)
    wanted = {0, 1, 7, 1318}
    for index, doc in enumerate(test):
        if index > max(wanted):
            break
        shots = [x for x in rnd.sample(train, 5) if x != doc][:5]
        if index not in wanted:
            continue
        context = "".join(f"Question: {s['question']}\nAnswer:" + " " + s["answer"] + "\n\n" for s in shots)
        rows.append({"task": "gsm8k", "id": f"gsm8k-test-{index}", "prompt": context +
                     f"Question: {doc['question']}\nAnswer:", "shots": 5})


def mmlu_rows(split, subject):
    with open(DATA / "mmlu" / split / f"{subject}_{split}.csv", encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def mmlu_text(row):
    return f"{row[0].strip()}\nA. {row[1]}\nB. {row[2]}\nC. {row[3]}\nD. {row[4]}\nAnswer:"


def mmlu(rows):
    # _default_template_yaml: doc_to_text with question.strip(), choices A-D, first_n dev shots;
    # description "The following are multiple choice questions (with answers) about {subject}.\n\n".
    picked = []
    for path in sorted((DATA / "mmlu" / "test").glob("*.csv")):
        subject = path.name[: -len("_test.csv")]
        for i, row in enumerate(mmlu_rows("test", subject)):
            if row[0] != row[0].strip() and len(picked) < 3:
                picked.append((subject, i, row, 0))
    picked.append(("abstract_algebra", 0, mmlu_rows("test", "abstract_algebra")[0], 0))
    picked.append(("high_school_biology", 3, mmlu_rows("test", "high_school_biology")[3], 5))
    first_ws = picked[0]
    picked.append((first_ws[0], first_ws[1], first_ws[2], 5))
    for subject, i, row, shots in picked:
        description = f"The following are multiple choice questions (with answers) about {' '.join(subject.split('_'))}.\n\n"
        examples = "".join(mmlu_text(d) + " " + d[5] + "\n\n" for d in mmlu_rows("dev", subject)[:shots])
        context = description + examples + mmlu_text(row)
        rows.append(mc("mmlu", f"mmlu-{' '.join(subject.split('_'))}-{i}", [context] * 4, [" A", " B", " C", " D"],
                       "ABCD".index(row[5]), shots=shots))


def preprocess(text):  # lm_eval/tasks/hellaswag/utils.py
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text


def hellaswag(rows):
    for i, doc in enumerate(jsonl(HELLASWAG_RECORDS)):
        ctx = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
        query = preprocess(doc["activity_label"] + ": " + ctx)
        choices = [" " + preprocess(e) for e in doc["endings"]]
        rows.append(mc("hellaswag", f"hellaswag-{i}", [query] * len(choices), choices, int(doc["label"])))


def others(rows):
    # arc_easy/arc_challenge: "Question: {{question}}\nAnswer:" -> " {{choice}}" (the MosaicML file's
    # query already holds "Question: ..."); piqa: "Question: {{goal}}\nAnswer:" -> " {{sol}}";
    # commonsense_qa: "Question: {stem}\nA. ...\nE. ...\nAnswer:" -> " A" ... " E";
    # winogrande: partial scoring, the sentence up to the blank with each option -> " " + the rest.
    for split in ("easy", "challenge"):
        docs = jsonl(DATA / "arc" / f"arc_{split}.jsonl")
        for i in (0, 17):
            d = docs[i]
            ctx = d["query"] + "\nAnswer:"
            rows.append(mc(f"arc_{split}", f"arc-{split}-{i + 1}", [ctx] * len(d["choices"]),
                           [" " + c for c in d["choices"]], d["gold"]))
    goals = jsonl(DATA / "piqa" / "valid.jsonl")
    labels = (DATA / "piqa" / "valid-labels.lst").read_text().split()
    for i in (0, 42):
        ctx = "Question: " + goals[i]["goal"] + "\nAnswer:"
        rows.append(mc("piqa", f"piqa-{i}", [ctx, ctx], [" " + goals[i]["sol1"], " " + goals[i]["sol2"]], int(labels[i])))
    for i, d in enumerate(jsonl(DATA / "commonsenseqa" / "dev_rand_split.jsonl")[:2]):
        q = d["question"]
        ctx = "Question: " + q["stem"] + "".join(f"\n{c['label']}. {c['text']}" for c in q["choices"]) + "\nAnswer:"
        labels_ = [c["label"] for c in q["choices"]]
        rows.append(mc("commonsense_qa", d["id"], [ctx] * len(labels_), [" " + l for l in labels_],
                       labels_.index(d["answerKey"])))
    for i, d in enumerate(jsonl(DATA / "winogrande" / "winogrande.jsonl")[:2]):
        rows.append(mc("winogrande", f"winogrande-{i + 1}", d["context_options"],
                       [" " + d["continuation"]] * len(d["context_options"]), d["gold"]))


def main():
    rows = []
    gsm8k(rows)
    mmlu(rows)
    hellaswag(rows)
    others(rows)
    with open(OUT, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{OUT}: {len(rows)} items")


if __name__ == "__main__":
    main()
