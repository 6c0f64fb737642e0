#!/usr/bin/python3
"""Expected counts for IFEval's counting primitives on real responses, from the reference's own
libraries: nltk 3.8 (punkt with the english model's parameters, RegexpTokenizer(r"\\w+"),
word_tokenize) and langdetect 1.0.9 seeded with 0. Debian's python3-nltk and python3-langdetect
provide both; uaqf's tests read the output and never need them.

  scripts/ifeval/reference_counts.py SHARED_DIR > tests/data/ifeval/gpt4_reference_counts.jsonl

One line per response, in the file's order: {"prompt", "sentences", "words", "capital_words",
"language"} ("language": langdetect.detect, or null where it raises)."""
import json
import pathlib
import sys

import langdetect
import nltk
from nltk.tokenize import punkt


def punkt_tokenizer(params_file):
    data = json.loads(pathlib.Path(params_file).read_text(encoding="utf-8"))
    params = punkt.PunktParameters()
    params.abbrev_types = set(data["abbrev_types"])
    params.collocations = {tuple(pair) for pair in data["collocations"]}
    params.sent_starters = set(data["sent_starters"])
    for word_type, flags in data["ortho_context"].items():
        params.ortho_context[word_type] = flags
    return punkt.PunktSentenceTokenizer(params)


def main():
    shared = pathlib.Path(sys.argv[1])
    reference = shared / "data" / "ifeval" / "reference"
    sentences = punkt_tokenizer(reference / "punkt_english_params.json")
    words = nltk.tokenize.RegexpTokenizer(r"\w+")
    treebank = nltk.tokenize.NLTKWordTokenizer()
    langdetect.DetectorFactory.seed = 0
    for line in (reference / "gpt4_responses.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        text = row["response"]
        # nltk.word_tokenize(text): punkt sentences, then the treebank word tokenizer on each.
        tokens = [token for sentence in sentences.tokenize(text) for token in treebank.tokenize(sentence)]
        try:
            language = langdetect.detect(text)
        except langdetect.LangDetectException:
            language = None
        print(json.dumps({"prompt": row["prompt"], "sentences": len(sentences.tokenize(text)),
                          "words": len(words.tokenize(text)),
                          "capital_words": sum(1 for token in tokens if token.isupper()), "language": language},
                         ensure_ascii=False))


if __name__ == "__main__":
    main()
