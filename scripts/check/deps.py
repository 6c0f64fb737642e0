#!/usr/bin/env python3
"""Checks that includes between uaqf's modules run one way only:

  cli -> study -> {report, results, decide, tasks, perf, quant, store} -> backend -> {core, stats}

ALLOWED below lists, for every module (a folder of src/), the modules it may include. A module
may always include itself. Only src/backend/llama may include llama.h (or any other llama.cpp or
ggml header). The table must stay acyclic; the script checks that too.

  scripts/check/deps.py [--root DIR]

Exit status 1 with one line per offending include (file:line: what), 0 when everything holds."""
import argparse
import pathlib
import re
import sys

LOWER = {"core", "stats"}
ALLOWED = {
    "core": set(),
    "stats": {"core"},
    "backend": {"core", "stats"},
    "perf": {"backend", "core", "stats"},
    "quant": {"backend", "core", "stats"},
    "tasks": {"backend", "core", "stats"},
    "decide": {"core", "stats"},
    "store": {"core", "stats"},
    # The results record holds the decision's inputs and the decision.
    "results": {"decide", "core", "stats"},
    # Reporters read records (bench, eval, study), never the runner or an engine.
    "report": {"results", "decide", "perf", "tasks", "backend", "core", "stats"},
    "study": {"report", "results", "decide", "tasks", "perf", "quant", "store", "backend", "core", "stats"},
    "cli": {"study", "report", "results", "decide", "tasks", "perf", "quant", "store", "backend", "core", "stats"},
}
# Headers of the embedded engine: only its own backend folder may include them.
ENGINE_HEADERS = re.compile(r"^(llama|ggml|gguf)[-\w]*\.h$|^(common|log|imatrix-loader|sampling)\.h$")
ENGINE_FOLDER = ("backend", "llama")
# Within backend, the engines and the factory are above the contract.
BACKEND_ENGINE_FILES = {"engines.h", "engines.cpp"}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def check_acyclic():
    seen, done = set(), set()

    def visit(module, path):
        if module in done:
            return
        if module in seen:
            raise SystemExit("deps: the ALLOWED table has a cycle: " + " -> ".join(path + [module]))
        seen.add(module)
        for lower in ALLOWED[module]:
            visit(lower, path + [module])
        done.add(module)

    for module in ALLOWED:
        visit(module, [])


def module_of(path, root):
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else None


def check_file(path, root):
    problems = []
    module = module_of(path, root)
    rel = path.relative_to(root)
    in_engine_folder = rel.parts[:2] == ENGINE_FOLDER
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = INCLUDE.match(line)
        if not m:
            continue
        target = m.group(2)
        name = pathlib.PurePosixPath(target).name
        where = f"src/{rel}:{number}"
        own = pathlib.PurePosixPath(target).parts[0] in ALLOWED
        if ENGINE_HEADERS.match(name) and not own and not in_engine_folder:
            problems.append(f"{where}: includes {target}: only src/backend/llama may include the engine's headers")
            continue
        if m.group(1) != '"':
            continue
        target_module = pathlib.PurePosixPath(target).parts[0]
        if target_module not in ALLOWED or target_module == module:
            if (module == "backend" and target_module == "backend" and not in_engine_folder
                    and rel.name not in BACKEND_ENGINE_FILES and len(rel.parts) == 2
                    and pathlib.PurePosixPath(target).parts[1:2] in (("llama",), ("fake",))):
                problems.append(f"{where}: includes {target}: the engine contract may not include an engine")
            continue
        if module is None or module not in ALLOWED:
            problems.append(f"{where}: file outside the known modules ({', '.join(sorted(ALLOWED))})")
            continue
        if target_module not in ALLOWED[module]:
            problems.append(f"{where}: {module} includes {target}: {module} may include only "
                            f"{', '.join(sorted(ALLOWED[module])) or 'nothing else'}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=pathlib.Path(__file__).resolve().parents[2] / "src", type=pathlib.Path)
    args = parser.parse_args()
    check_acyclic()
    files = sorted(p for p in args.root.rglob("*") if p.suffix in {".h", ".cpp", ".in"})
    problems = [problem for path in files for problem in check_file(path, args.root)]
    for problem in problems:
        print(problem)
    print(f"deps: {len(files)} files, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
