#!/usr/bin/env python3
"""Checks uaqf's GSM8K answer extraction against lm-evaluation-harness's, verdict by verdict.

lm-eval's gsm8k (task version 3.0) reads an answer with two regex filters and compares it with the
reference by exact_match after `regexes_to_ignore`; this script applies those definitions with
Python's `re`, exactly as lm-eval's RegexFilter and exact_match do (findall, group_select 0 or -1,
the first non-empty group of a tuple, strip, fallback "[invalid]"; re.sub of ",", "\\$",
"(?s).*#### ", "\\.$", then lower case), to the responses uaqf scored, and compares the extracted
answers and both verdicts with uaqf's records.

  compare RESPONSES.jsonl UAQF.json [--data DATA_DIR]   one responses file and uaqf's --json of it
  make-reference OUT_DIR [--data DATA_DIR]               the 8,792 reference solutions of GSM8K (train
                                                          and test) as response files, one answer per
                                                          test question in each
  make-fuzz OUT.jsonl N [--seed S]                       N random texts of digits, signs, "####",
                                                          dots, commas, dollars, spaces and words

Exit status 1 when any verdict or extracted answer differs.
"""
import argparse
import json
import os
import random
import re
import sys
from pathlib import Path

STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
IGNORE = [",", "\\$", "(?s).*#### ", "\\.$"]


def regex_filter(pattern, group_select, text):
    match = pattern.findall(text)
    if not match:
        return None  # lm-eval's fallback "[invalid]"
    match = match[group_select]
    if isinstance(match, tuple):
        match = [m for m in match if m]
        match = match[0] if match else None
        if match is None:
            return None
    return match.strip()


def normalize(text):
    for pattern in IGNORE:
        text = re.sub(pattern, "", text)
    return text.lower()


def lm_eval_verdicts(response, worked_answer):
    target = normalize(worked_answer)
    strict = regex_filter(STRICT, 0, response)
    flexible = regex_filter(FLEXIBLE, -1, response)
    prediction = lambda a: normalize("[invalid]" if a is None else a)
    return {"strict_answer": strict, "flexible_answer": flexible, "target": target,
            "correct_strict": prediction(strict) == target, "correct_flexible": prediction(flexible) == target}


def data_dir(given):
    if given:
        return Path(given)
    return Path(os.environ.get("UAQF_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared")) / "data"


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def response_of(row):
    if "question" in row and "response" in row:
        return row["question"], row["response"]
    return row["doc"]["question"], row["resps"][0][0]


def compare(args):
    answers = {row["question"]: row["answer"] for row in read_jsonl(data_dir(args.data) / "gsm8k" / "test.jsonl")}
    uaqf = json.loads(Path(args.uaqf_json).read_text(encoding="utf-8"))
    records = {r["question"]: r for r in uaqf["models"][0]["tasks"][0]["records"]}
    checked = differences = strict_right = flexible_right = 0
    seen = set()
    for row in read_jsonl(args.responses):
        question, response = response_of(row)
        if question in seen:
            continue  # lm-eval's samples log repeats a generation once per filter
        seen.add(question)
        expected = lm_eval_verdicts(response, answers[question])
        record = records[question]
        checked += 1
        strict_right += expected["correct_strict"]
        flexible_right += expected["correct_flexible"]
        for key in ("strict_answer", "flexible_answer", "target", "correct_strict", "correct_flexible"):
            if record[key] != expected[key]:
                differences += 1
                print(f"{args.responses}: {record['id']}: {key}: uaqf {record[key]!r}, lm-eval {expected[key]!r}")
    print(f"{args.responses}: {checked} responses, {differences} differences; lm-eval strict {strict_right}, "
          f"flexible {flexible_right}")
    return 1 if differences or checked != len(records) else 0


def make_reference(args):
    data = data_dir(args.data) / "gsm8k"
    test = read_jsonl(data / "test.jsonl")
    train = [row["answer"] for row in read_jsonl(data / "train.jsonl")]
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # The test split's own solutions answer their questions (all right); the train split's answer
    # the test questions in turn (mostly wrong): both exercise the filters on people's writing.
    chunks = [("test", [row["answer"] for row in test])]
    chunks += [(f"train-{k // len(test):02d}", train[k:k + len(test)]) for k in range(0, len(train), len(test))]
    for name, texts in chunks:
        with open(out / f"reference-{name}.jsonl", "w", encoding="utf-8") as f:
            for i, text in enumerate(texts):
                f.write(json.dumps({"question": test[i]["question"], "response": text}, ensure_ascii=False) + "\n")
    return 0


def make_fuzz(args):
    rnd = random.Random(args.seed)
    test = read_jsonl(data_dir(args.data) / "gsm8k" / "test.jsonl")
    pieces = ["#### ", "####", "# ", "-", "--", "$", ",", ".", "..", " ", "\n", "\t", "0", "7", "12", "3.5", "1,000",
              "-4", "$12", "answer", "The answer is", "٣", "½", "x", "-.", ",.", "é", "\u00a0", "####-", "##"]
    with open(args.out, "w", encoding="utf-8") as f:
        for i in range(min(args.n, len(test))):
            text = "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 40)))
            f.write(json.dumps({"question": test[i]["question"], "response": text}, ensure_ascii=False) + "\n")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare")
    c.add_argument("responses")
    c.add_argument("uaqf_json")
    c.add_argument("--data")
    r = sub.add_parser("make-reference")
    r.add_argument("out_dir")
    r.add_argument("--data")
    z = sub.add_parser("make-fuzz")
    z.add_argument("out")
    z.add_argument("n", type=int)
    z.add_argument("--seed", type=int, default=1)
    z.add_argument("--data")
    args = parser.parse_args()
    return {"compare": compare, "make-reference": make_reference, "make-fuzz": make_fuzz}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
