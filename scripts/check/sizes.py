#!/usr/bin/env python3
"""Checks that uaqf's sources stay readable: no function longer than MAX_FUNCTION_LINES lines and no
source file longer than MAX_FILE_LINES lines. A file that is a table of data may say so with the
line `// uaqf-check: data-table` (it is then exempt from the file limit, not from the function one).

  scripts/check/sizes.py [--root DIR] [--max-function N] [--max-file N]

Exit status 1 with one line per violation (file:line: what), 0 when everything holds."""
import argparse
import pathlib
import re
import sys

MAX_FUNCTION_LINES = 120
MAX_FILE_LINES = 800
SOURCE_SUFFIXES = {".cpp", ".h", ".hpp", ".cc"}
DATA_TABLE_MARK = "// uaqf-check: data-table"


def strip_code(text):
    """Comments, string and character literals become spaces (newlines kept), so that braces
    inside them do not count."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', i)
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            # A digit separator (1'000) is no character literal.
            if c == "'" and re.search(r"\b\d[\w']*$", text[max(0, i - 40):i]) and i + 1 < n and text[i + 1].isalnum():
                out.append(" ")
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            j = min(n, j + 1)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


CONTAINER = re.compile(r"\b(namespace|class|struct|union|enum)\b")


def functions(code):
    """(name, first line, last line) of every function body at namespace or class scope."""
    found = []
    stack = []  # (kind, start_line, head)
    head_start = 0
    line = 1
    for i, c in enumerate(code):
        if c == "\n":
            line += 1
        elif c == "{":
            head = code[head_start:i]
            in_function = any(kind == "function" for kind, _, _ in stack)
            if in_function:
                kind = "block"
            elif CONTAINER.search(head) and "(" not in head.split("{")[-1].split(":")[0]:
                kind = "container"
            elif re.search(r"=\s*$", head) or "(" not in head:
                kind = "block"
            else:
                kind = "function"
            stack.append((kind, line, head))
            head_start = i + 1
        elif c == "}":
            if stack:
                kind, start, head = stack.pop()
                if kind == "function":
                    name = re.sub(r"\s+", " ", head.strip().split("(")[0].split()[-1] if head.strip() else "?")
                    found.append((name, start, line))
            head_start = i + 1
        elif c == ";":
            head_start = i + 1
        elif c == "#" and (i == 0 or code[i - 1] == "\n"):
            pass
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=pathlib.Path(__file__).resolve().parents[2] / "src", type=pathlib.Path)
    parser.add_argument("--max-function", type=int, default=MAX_FUNCTION_LINES)
    parser.add_argument("--max-file", type=int, default=MAX_FILE_LINES)
    args = parser.parse_args()
    problems = []
    files = sorted(p for p in args.root.rglob("*") if p.suffix in SOURCE_SUFFIXES)
    for path in files:
        text = path.read_text(encoding="utf-8")
        # Preprocessor lines can hold unbalanced braces in macros; blank them.
        text = re.sub(r"(?m)^[ \t]*#.*(?:\\\n.*)*$", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
        n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
        shown = path.relative_to(args.root.parent)
        if n_lines > args.max_file and DATA_TABLE_MARK not in text:
            problems.append(f"{shown}:1: {n_lines} lines (at most {args.max_file}): split it by concern")
        for name, first, last in functions(strip_code(text)):
            length = last - first + 1
            if length > args.max_function:
                problems.append(f"{shown}:{first}: function {name} has {length} lines (at most {args.max_function})")
    for problem in problems:
        print(problem)
    print(f"sizes: {len(files)} files, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
