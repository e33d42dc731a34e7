"""`grader similarity`: disguised copies rank above independent solutions; student code is read, never run."""

from __future__ import annotations

import ast
import csv
import importlib.util
import io
import os
import random
import subprocess
import sys
import time
import tokenize
from pathlib import Path

import nbformat
import numpy as np

from grader import spec
from grader.notebook import from_percent_script
from grader.store import read_class_folder as read_roster

from conftest import ROOT

DATA = ROOT / "tests" / "similarity"
ORIGINALS = {"reference": ROOT / "solutions" / "perceptron.py",
             **{path.stem.removeprefix("perceptron_"): path for path in sorted(DATA.glob("perceptron_*.py"))}}
TASKS = ("mp_neuron", "boolean_inputs", "signed_points", "perceptron", "margin", "norm_sq_bound", "boolean_network",
         "network_forward")


def grader(*args):
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "COLUMNS": "200"})


def functions(source: str) -> dict[str, str]:
    """The top-level functions of a module, by name, as source text."""
    lines = source.splitlines()
    return {node.name: "\n".join(lines[node.lineno - 1:node.end_lineno]) for node in ast.parse(source).body
            if isinstance(node, ast.FunctionDef)}


def disguise(source: str, seed: int) -> str:
    """What a student hiding a copy does: rename every bound name, reorder the functions, add comments."""
    rng = random.Random(seed)
    tree = ast.parse(source)
    bound = sorted({n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
                   | {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
                   | {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)})
    names = {name: f"{rng.choice(['my', 'tmp', 'val', 'the', 'x'])}_{rng.randrange(10**6)}" for name in bound}
    lines = source.splitlines(keepends=True)
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for previous, token in reversed(list(zip([None, *tokens], tokens))):
        if token.type == tokenize.NAME and token.string in names and not (previous and previous.string == "."):
            (row, start), (_, end) = token.start, token.end
            lines[row - 1] = lines[row - 1][:start] + names[token.string] + lines[row - 1][end:]
    renamed = "".join(lines)
    head = [line for line in renamed.splitlines() if line.startswith(("import ", "from "))]
    bodies = list(functions(renamed).values())
    rng.shuffle(bodies)
    commented = []
    for body in bodies:
        out = []
        for number, line in enumerate(body.splitlines()):
            if number % 3 == 1 and line.strip():
                indent = line[:len(line) - len(line.lstrip())]
                out.append(f"{indent}# {rng.choice(['now', 'here we', 'step:', 'then'])} {rng.choice(['compute', 'loop', 'fix'])}")
            out.append(line)
        commented.append("\n".join(out))
    return "\n".join(head) + "\n\n\n" + "\n\n\n".join(commented) + "\n"


def test_the_independent_solutions_are_correct():
    """They agree with the reference on random inputs, so they are independent correct solutions."""
    def load(path: Path):
        spec = importlib.util.spec_from_file_location(f"alt_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    reference = load(ORIGINALS["reference"])

    def same(a, b) -> bool:
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        return np.shape(a) == np.shape(b) and np.allclose(np.asarray(a, float), np.asarray(b, float))

    for name, path in ORIGINALS.items():
        alternative, rng = load(path), np.random.default_rng(0)
        for trial in range(10):
            n, m = int(rng.integers(1, 5)), int(rng.integers(1, 9))
            X, Xf, y, w0 = rng.integers(0, 2, (m, n)), rng.normal(size=(m, n)), rng.integers(0, 2, m), rng.normal(size=n + 1)
            table = rng.integers(0, 2, 2**n)
            calls = [("mp_neuron", (X, rng.random(n) < 0.4, int(rng.integers(0, n + 1)))), ("boolean_inputs", (n,)),
                     ("signed_points", (Xf, y)), ("signed_points", (Xf, y, False)), ("boolean_network", (table,)),
                     ("margin", (np.abs(rng.normal(size=(m, n + 1))), np.abs(rng.normal(size=n + 1)))),
                     ("norm_sq_bound", (w0, np.arange(4), 1.5)),
                     ("network_forward", (reference.boolean_inputs(n), reference.boolean_network(table))),
                     *(("perceptron", (Xf, y, w0, steps, trial, order)) for steps in (0, 3, 50)
                       for order in (None, rng.permutation(m)))]
            for function, args in calls:
                assert same(getattr(alternative, function)(*args), getattr(reference, function)(*args)), (name, function)


def test_disguised_copies_rank_above_every_independent_pair(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    copies = set()
    for number, (name, path) in enumerate(ORIGINALS.items()):
        source = path.read_text()
        (folder / f"{name}.py").write_text(source)
        copy = disguise(source, seed=number)
        assert copy.count("# ") > 10 and list(functions(copy)) != list(functions(source))
        if name == "vector":  # handed in as a notebook: one function per cell
            notebook = from_percent_script("\n".join(f"# %%\n{body}\n" for body in functions(copy).values()))
            nbformat.write(notebook, folder / f"{name}_copy.ipynb")
        else:
            (folder / f"{name}_copy.py").write_text(copy)
        copies.add(frozenset((name, f"{name}_copy")))
    out = tmp_path / "out"
    done = grader("similarity", "perceptron", folder, "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = list(csv.DictReader(open(out / "similarity.csv")))
    ranked = [(frozenset((row["submission_a"], row["submission_b"])), float(row["similarity"])) for row in rows]
    copy_scores = [score for pair, score in ranked if pair in copies]
    other_scores = [score for pair, score in ranked if pair not in copies]
    print("\nranking:", *(f"{' ~ '.join(sorted(pair))}: {score:.2f}" for pair, score in ranked[:12]), sep="\n  ")
    assert len(copy_scores) == len(copies) and min(copy_scores) > max(other_scores, default=0)
    assert {pair for pair, _ in ranked[:len(copies)]} == copies
    assert min(copy_scores) >= 0.6 and max(other_scores, default=0) <= 0.35
    page = (out / "similarity.html").read_text()
    assert "reference_copy" in page and 'class="line cited"' in page


HOSTILE = '''import os
open("PWNED", "w").write("ran")  # </pre><script>alert(1)</script>


def f(a, b):
    """<img src=x onerror=alert(2)>"""
    total = 0
    for i in range(a):
        total = total + i * b
        if total > 100:
            total = total - 7
    return [total, "</textarea><b>bold</b>"]
'''


def test_student_code_is_read_never_run_and_escaped_in_the_report(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "<img src=x onerror=alert(3)>eve.py").write_text(HOSTILE)
    (folder / "mallory.py").write_text(HOSTILE.replace("total", "acc"))
    (folder / "broken.ipynb").write_text("{not json")
    (folder / "syntax.py").write_text("def f(:\n    pass\n")
    done = grader("similarity", "perceptron", folder, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (ROOT / "PWNED").exists() and not list(tmp_path.rglob("PWNED"))
    eve = next(name for name in read_roster(folder).entries if "eve" in name)  # named safely, as grading names it
    assert eve.startswith("img_src_x_onerror_alert_3_eve-")
    assert "not compared: broken" in done.stdout and eve in done.stdout
    page = (tmp_path / "out" / "similarity.html").read_text()
    assert "<script>" not in page and "<b>" not in page and "<img" not in page and "<textarea" not in page
    assert "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page and eve in page
    row = next(csv.DictReader(open(tmp_path / "out" / "similarity.csv")))
    assert {row["submission_a"], row["submission_b"]} == {eve, "mallory"} and float(row["similarity"]) == 1


def personal_code(rng: random.Random, number: int) -> str:
    """A function no other student wrote: random statements whose structure (not only names) is the student's own."""
    def expression(depth: int) -> str:
        if depth == 0:
            return rng.choice(["a", "b", "1", "2.5", "x[0]"])
        shape = rng.choice(["({} {} {})", "np.sum({})", "abs({})", "[{}, {}]", "({} if {} else {})", "{}[::2]"])
        parts = [expression(depth - 1) for _ in range(shape.count("{}"))]
        if shape.startswith("({} {}"):
            parts = [parts[0], rng.choice(["+", "-", "*", "/", "//", "%", "**"]), parts[1]]
        return shape.format(*parts)

    body = "\n".join(f"    a = {expression(3)}" for _ in range(6))
    return f"def extra_{number}(a, b, x):\n{body}\n    return a\n"


def test_a_class_of_300_is_compared_quickly_and_its_copies_found(tmp_path):
    """295 students mixing the five solutions function by function, each with code of their own, and 5 of them
    copied (disguised) by another: the 5 copy pairs rank first. Code the whole class shares counts for nothing."""
    sources = {name: functions(path.read_text()) for name, path in ORIGINALS.items()}
    rng = random.Random(7)
    folder = tmp_path / "class"
    folder.mkdir()
    modules = []
    for student in range(295):
        picked = {task: rng.choice(list(sources)) for task in TASKS if rng.random() > 0.1}
        helpers = [body for name in set(picked.values()) for function, body in sources[name].items()
                   if function not in TASKS]
        modules.append("import math\n\nimport numpy as np\n\n\n" + "\n\n\n".join(
            [*helpers, *(sources[origin][task] for task, origin in picked.items()), personal_code(rng, student)]))
        (folder / f"student{student:03d}.py").write_text(disguise(modules[-1], seed=student))
    for copier in range(5):
        (folder / f"copier{copier}.py").write_text(disguise(modules[copier * 50], seed=1000 + copier))
    started = time.perf_counter()
    done = grader("similarity", "perceptron", folder, "--out", tmp_path / "out")
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert "300 submissions" in done.stdout
    rows = list(csv.DictReader(open(tmp_path / "out" / "similarity.csv")))
    top = {frozenset((row["submission_a"], row["submission_b"])) for row in rows[:5]}
    assert top == {frozenset((f"student{c * 50:03d}", f"copier{c}")) for c in range(5)}
    assert float(rows[4]["similarity"]) > 2 * float(rows[5]["similarity"])
    print(f"\nsimilarity of 300 submissions: {elapsed:.1f} s (the command, start to end); copies at "
          f"{', '.join(row['similarity'] for row in rows[:5])}, the next pair at {rows[5]['similarity']}")
    assert elapsed < 120


def test_reading_a_submission_that_takes_too_long_costs_its_comparison_only(tmp_path, monkeypatch):
    from grader.course import similarity
    monkeypatch.setattr(similarity, "READ_SECONDS", 0.5)
    (tmp_path / "huge.py").write_text("".join(f"x{i} = ((((a + b) * (c - d)) / e) ** f)\n" for i in range(30000)))
    (tmp_path / "small.py").write_text("def f(a):\n    return a + 1\n")
    assignment = spec.load("perceptron")
    huge = similarity.read_document("huge", tmp_path / "huge.py", assignment)
    assert huge.problem == "reading huge took too long (over 0.5 s): stopped" and not huge.prints
    assert similarity.read_document("small", tmp_path / "small.py", assignment).prints
