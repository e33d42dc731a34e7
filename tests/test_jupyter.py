"""Checks inside Jupyter: a question's public tests against the kernel's current definitions.

In process on a namespace (fast), then in a real kernel executing a notebook (nbclient) in a student's
bundle, without GRADER_HOME: `Notebook(...).check(...)` and `%check`. The executed notebook is rendered to
HTML with nbconvert and shown in headless Chromium (the picture in docs/jupyter/ comes from here, with
$JUPYTER_SCREENSHOTS set).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from traitlets.config import Config

from grader.jupyter import Notebook

from conftest import ROOT, solution_source
from test_feedback_page import browser  # noqa: F401  (the fixture: Chromium, or a skip saying why)

HOSTILE = "<script>alert(1)</script>"

WORK = '''import numpy as np

def softmax(a):
    e = np.exp(a)
    return e / e.sum(axis=0, keepdims=True)  # oops: sums each column

def cross_entropy(a, y):
    p = softmax(a)
    return float(-np.log(p[y]).mean())  # oops: rows picked by label

def squared_error(y_hat, y):
    return float(((y_hat - y) ** 2).sum(axis=1).mean())'''

FIXED = '''def softmax(a):
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)'''


def namespace(source: str) -> dict:
    found: dict = {}
    exec(compile(source, "work.py", "exec"), found)
    return found


def test_a_question_runs_on_the_namespace_as_it_is_now():
    work = namespace(WORK)
    nb = Notebook("backprop", work)
    failed = nb.check("softmax")
    assert not failed.passed and [t.status for t in failed.tests] == ["failed"]
    assert "softmax(a)" in failed.tests[0].message
    exec(FIXED, work)  # the student fixes the cell and runs it again
    assert nb.check("softmax").passed

    losses = nb.check("losses")
    assert [(t.name.rsplit("::")[-1], t.status) for t in losses.tests] == [
        ("test_cross_entropy_small", "failed"), ("test_squared_error_small", "passed")]
    message = losses.tests[0].message
    assert message.startswith("your code raised an exception: cross_entropy() raised:") and "IndexError" in message
    assert 'File "work.py", line 9, in cross_entropy' in message and "grader" not in message
    assert losses.cited[0] == "work.py, line 9, in cross_entropy: " and losses.cited[1] == ""

    everything = nb.check()
    assert {t.question for t in everything.tests} >= {"activations", "softmax", "losses", "forward", "training"}
    missing = next(t for t in everything.tests if t.question == "forward")
    assert missing.message == "missing function: forward is not defined in the notebook (run the cell that defines it)"


def test_the_arguments_are_the_codes_own_copies_and_the_html_is_inert():
    work = namespace(solution_source("backprop"))
    arguments = []
    work["softmax"] = lambda a: (arguments.append(a), a.fill(0.0), (_ for _ in ()).throw(ValueError(HOSTILE)))
    result = Notebook("backprop", work).check("softmax")
    assert arguments and not arguments[0].any()  # the function zeroed its copy; the test's array is intact
    html = result._repr_html_()
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower() and "http" not in html and 'class="grader-check"' in html


def test_a_question_without_tests_is_a_clear_error():
    nb = Notebook("backprop", {})
    with pytest.raises(ValueError, match="softmax_gradient is a written question"):
        nb.check("softmax_gradient")
    with pytest.raises(ValueError, match="backprop has no question 'nope' \\(its questions with tests: activations"):
        nb.check("nope")


def notebook() -> nbformat.NotebookNode:
    cells = [
        nbformat.v4.new_markdown_cell("# Backprop: checking as I go"),
        nbformat.v4.new_code_cell(WORK),
        nbformat.v4.new_code_cell('from grader.jupyter import Notebook\n\nnb = Notebook("backprop")\nnb.check("softmax")'),
        nbformat.v4.new_code_cell(FIXED + '\n\nnb.check("softmax")'),
        nbformat.v4.new_code_cell("%load_ext grader\n%check backprop losses"),
        nbformat.v4.new_code_cell("import time\nstarted = time.perf_counter()\nresult = nb.check(\"softmax\")\n"
                                  "print(result.passed, time.perf_counter() - started)"),
    ]
    document = nbformat.v4.new_notebook(cells=cells)
    document.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return document


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook above, executed by a real kernel in a student's bundle, found without GRADER_HOME."""
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install -e '.[test]')")
    bundle = tmp_path_factory.mktemp("student") / "backprop"  # as a student has it: no hidden tests, no solution
    shutil.copytree(ROOT / "assignments" / "backprop", bundle, ignore=shutil.ignore_patterns("hidden", "__pycache__"))
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("GRADER_HOME", raising=False)  # found as `grader check` finds it: from the folder
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        document = notebook()
        # Unix sockets, not TCP ports: a port the kernel picks can be taken by a parallel test before it binds.
        sockets = Config(KernelManager={"transport": "ipc", "ip": str(bundle.parent / "kernel")})
        nbclient.NotebookClient(document, timeout=300, kernel_name="python3", config=sockets,
                                resources={"metadata": {"path": str(bundle)}}).execute()
    return document


def test_checks_in_a_real_kernel_in_the_students_bundle(executed):
    html = [next((o["data"].get("text/html", "") for o in cell.get("outputs", []) if "data" in o), "")
            for cell in executed.cells]
    assert "backprop, question softmax: 0 of 1 public tests pass" in html[2] and "✗" in html[2]
    assert "backprop, question softmax: 1 of 1 public tests pass" in html[3]
    assert "backprop, question losses: 1 of 2 public tests pass" in html[4]
    assert "Cell In[1], line 9, in cross_entropy: return float(-np.log(p[y]).mean())" in html[4]
    passed, seconds = executed.cells[5].outputs[0]["text"].split()
    assert passed == "True" and float(seconds) < 1.0  # a numpy question, in the kernel: well under a second


def test_the_executed_notebook_in_a_browser(executed, browser, tmp_path):  # noqa: F811
    from nbconvert import HTMLExporter
    page = tmp_path / "notebook.html"
    page.write_text(HTMLExporter(template_name="classic").from_notebook_node(executed)[0], encoding="utf-8")
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    view = context.new_page()
    view.goto(page.as_uri())
    view.wait_for_load_state("load")
    assert view.locator(".grader-check").count() == 3
    assert view.locator(".grader-check script").count() == 0
    shot = tmp_path / "notebook-check.png"
    view.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:4] == b"\x89PNG"
    if os.environ.get("JUPYTER_SCREENSHOTS"):
        Path(os.environ["JUPYTER_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(os.environ["JUPYTER_SCREENSHOTS"]) / shot.name)
    context.close()


PORTABLE = '''
import builtins, socket, sys
for name in ("fcntl", "resource", "pwd", "grp", "termios", "pty"):
    sys.modules[name] = None  # as on Windows: importing any of them fails
del socket.AF_UNIX            # no Unix sockets
opened = builtins.open
def no_proc(file, *args, **kwargs):
    assert not str(file).startswith("/proc"), file
    return opened(file, *args, **kwargs)
builtins.open = no_proc
from grader.jupyter import Notebook
work = {}
exec(opened(sys.argv[1]).read(), work)
print(Notebook("backprop", work).check().headline())
'''


def test_the_check_needs_nothing_only_linux_has():
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", PORTABLE, str(ROOT / "solutions" / "backprop.py")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "backprop, every question: 12 of 12 public tests pass" in done.stdout


@pytest.mark.parametrize("slug", ["perceptron", "ebm", "elbo", "midterm", "backprop"])
def test_each_reference_passes_its_public_tests_in_process(slug):
    """The tests written for the worker's proxy read the same on a kernel's namespace (the heavier torch
    assignments, lstm_bptt, optimizers, char_rnn and vae, pass too; they take seconds to a minute)."""
    from grader import spec, variants
    paper = variants.plain(spec.load(slug))  # an exam's reference computes the answers of the paper it is given
    prelude = variants.prelude(paper).source if paper else ""
    result = Notebook(slug, namespace(prelude + solution_source(slug))).check()
    assert result.passed and len(result.tests) > 2, repr(result)
