#!/usr/bin/python3
"""Expected counts for IFEval's counting primitives on real responses, from the reference's own
libraries: nltk 3.8 (punkt with the english model's parameters, RegexpTokenizer(r"\\w+"),
word_tokenize) and langdetect 1.0.9 seeded with 0. Debian's python3-nltk and python3-langdetect
provide both; uaqf's tests read the output and never need them.

  scripts/ifeval/reference_counts.py SHARED_DIR > tests/data/ifeval/gpt4_reference_counts.jsonl
  scripts/ifeval/reference_counts.py SHARED_DIR --mixed 300 > tests/data/ifeval/mixed_script_reference_counts.jsonl

One line per response, in the file's order: {"prompt", "sentences", "words", "capital_words",
"language"} ("language": langdetect.detect, or null where it raises). With --mixed N: N random
texts of words in several scripts (Latin with diacritics and Vietnamese marks, Cyrillic, Greek,
Arabic, Devanagari, Han, kana, Hangul, Thai, Hebrew), URLs, e-mail addresses, abbreviations and
punctuation, drawn from a fixed seed; each line holds its "text" instead of "prompt"."""
import json
import pathlib
import random
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


SCRIPTS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßÀÉÎÕÜ«»°\u00a0",
    "ăâđêôơưĂÂĐÊÔƠƯaeiouy",
    "ąćęłńóśźżĄĆĘŁŃŚŹŻșțşţ",
    "абвгдежзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯіїєґ",
    "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕ",
    "ابتثجحخدذرزسشصضطظعغفقكلمنهويیکگپچژ",
    "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसहािीुूेैोौंः",
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家",
    "あいうえおかきくけこさしすせそたちつてとアイウエオカキクケコ",
    "가나다라마바사아자차카타파하한국어입니다",
    "กขคงจฉชซฌญฎฏฐ",
    "אבגדהוזחטיכלמנסעפצקרשת",
    "0123456789",
    ".,;:!?()[]{}\"'-*#@&/…–—“”‘’",
]
SPECIALS = ["https://example.com/a?b=c#d", "http://x.y", "mail me@example.org", "a.b@c", "U.S.", "e.g.", "Dr.",
            "Mr.", "J.", "5.", "1.5", "--", "\n", "\n\n", "* ", "- ", "No.", "i.e.", "etc."]
VIETNAMESE_MARKS = "\u0300\u0301\u0303\u0309\u0323"


def mixed_script_texts(count, seed=7):
    rng = random.Random(seed)

    def word(letters):
        w = "".join(rng.choice(letters) for _ in range(rng.randint(1, 9)))
        if rng.random() < 0.1:
            w += rng.choice(VIETNAMESE_MARKS)
        r = rng.random()
        w = w.upper() if r < 0.1 else w.capitalize() if r < 0.3 else w
        if rng.random() < 0.2:
            w += rng.choice([".", ",", "!", "?", "...", ":", ")", ".\"", ". "])
        return w

    for _ in range(count):
        scripts = rng.sample(range(len(SCRIPTS)), rng.randint(1, 3))
        parts = [rng.choice(SPECIALS) if rng.random() < 0.08 else word(SCRIPTS[rng.choice(scripts)])
                 for _ in range(rng.randint(1, 60))]
        yield rng.choice([" ", " ", "  ", "\n"]).join(parts)


def main():
    shared = pathlib.Path(sys.argv[1])
    reference = shared / "data" / "ifeval" / "reference"
    sentences = punkt_tokenizer(reference / "punkt_english_params.json")
    words = nltk.tokenize.RegexpTokenizer(r"\w+")
    treebank = nltk.tokenize.NLTKWordTokenizer()
    langdetect.DetectorFactory.seed = 0
    if len(sys.argv) > 3 and sys.argv[2] == "--mixed":
        rows = [("text", text, text) for text in mixed_script_texts(int(sys.argv[3]))]
    else:
        rows = []
        for line in (reference / "gpt4_responses.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows.append(("prompt", row["prompt"], row["response"]))
    for key, name, text in rows:
        # nltk.word_tokenize(text): punkt sentences, then the treebank word tokenizer on each.
        tokens = [token for sentence in sentences.tokenize(text) for token in treebank.tokenize(sentence)]
        try:
            language = langdetect.detect(text)
        except langdetect.LangDetectException:
            language = None
        print(json.dumps({key: name, "sentences": len(sentences.tokenize(text)), "words": len(words.tokenize(text)),
                          "capital_words": sum(1 for token in tokens if token.isupper()), "language": language},
                         ensure_ascii=False))


if __name__ == "__main__":
    main()
