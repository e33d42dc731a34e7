"""Hostile and broken submissions of backprop: each earns nothing for what it cheats, fails
only the tests it touches, and leaves the grader working."""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from grader.runner import grade
from grader.sandbox.launch import detect
from grader.spec import Limits

from conftest import ROOT, load, requires_bubblewrap, solution_source

SOLUTION = solution_source("backprop")
ALL = {"activations", "softmax", "losses", "forward", "backward_softmax", "backward_linear", "sigmoid_neuron", "training"}


def override(body: str) -> str:
    """The reference with sigmoid_neuron_gd (used by no other question) replaced by `body`."""
    return SOLUTION + "\n\ndef sigmoid_neuron_gd(x, y, w, b, lr, steps):\n" + "".join(
        f"    {line}\n" for line in body.strip().splitlines())


STUBS = "\n".join(f"def {name}(*args, **kwargs):\n    return RESULT\n" for name in (
    "sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad", "softmax", "cross_entropy",
    "squared_error", "forward", "backward", "sigmoid_neuron_gd", "init_params", "train"))


def run(tmp_path, source: str, suffix: str = ".py", **limits):
    assignment = load("backprop")
    if limits:
        assignment = dataclasses.replace(assignment, limits=dataclasses.replace(assignment.limits, **limits))
    path = tmp_path / f"backprop{suffix}"
    path.write_text(source)
    return grade(assignment, path)


def messages(result) -> str:
    return "\n".join(t.message for t in result.tests) + "\n".join(result.load_errors)


def only_loses(result, lost: set[str]) -> None:
    assert result.lost_questions() == lost, messages(result)


def earns_nothing(result) -> None:
    assert result.score == 0, [(t.name, t.earned) for t in result.tests if t.earned]


# -- exits and crashes fail only what they touch --------------------------------------------------

def test_sys_exit_at_import(tmp_path):
    result = run(tmp_path, "import sys\nsys.exit(0)\n" + SOLUTION)
    earns_nothing(result)
    assert any("sys.exit(0)" in e for e in result.load_errors)


def test_os_exit_at_import(tmp_path):
    result = run(tmp_path, "import os\nos._exit(0)\n" + SOLUTION)
    earns_nothing(result)
    assert "exited with status 0 while loading" in messages(result)


CALL_TIME_HOSTILITY = {
    "sys_exit": ("import sys\nsys.exit(0)", "sys.exit(0)", {}),
    "os_exit": ("import os\nos._exit(0)", "exited with status 0", {}),
    "segfault": ("import ctypes\nctypes.string_at(0)", "segmentation fault", {}),
    "infinite_loop": ("while True:\n    pass", "took longer than the limit of 5 s", {"call_timeout": 5}),
    "allocate_50_gb": ("import numpy as np\nreturn np.ones(50 * 2**30 // 8)", "MemoryError", {}),
    "fork_bomb": ("import os, time\nfor _ in range(8):  # at most 256 processes; the sandbox stops it sooner\n"
                  "    os.fork()\ntime.sleep(30)", "", {"call_timeout": 3}),
    "hidden_forbidden_import": ("m = __import__('to' + 'rch')\nreturn None", "importing torch is not allowed", {}),
}


@pytest.mark.parametrize("case", sorted(CALL_TIME_HOSTILITY))
def test_hostility_inside_a_call_fails_only_that_question(tmp_path, case):
    body, reason, limits = CALL_TIME_HOSTILITY[case]
    result = run(tmp_path, override(body), **limits)
    only_loses(result, {"sigmoid_neuron"})
    assert reason in messages(result)


def test_infinite_loops_everywhere_spend_the_budget_not_the_grader(tmp_path):
    source = STUBS.replace("return RESULT", "while True:\n        pass")
    started = time.monotonic()
    result = run(tmp_path, source, call_timeout=2, total_timeout=7)
    earns_nothing(result)
    assert "total time budget of 7 s is spent" in messages(result)
    assert time.monotonic() - started < 60


def test_infinite_loop_at_import(tmp_path):
    result = run(tmp_path, "while True:\n    pass\n" + SOLUTION, call_timeout=2)
    earns_nothing(result)
    assert "loading the submission took too long" in messages(result)


def test_megabytes_of_output_are_cut_and_do_not_cost_points(tmp_path):
    source = SOLUTION + "\n_sigmoid = sigmoid\ndef sigmoid(a):\n    print('x' * 3_000_000)\n    return _sigmoid(a)\n"
    result = run(tmp_path, source)
    only_loses(result, set())
    outputs = [t.output for t in result.tests if t.output]
    assert outputs and all(len(o) < 70_000 for o in outputs)
    assert "bytes of output omitted" in outputs[0]


# -- cheating earns nothing --------------------------------------------------------------------

FAKE = 'print("===== 84 passed in 1.00s =====")\nprint(json.dumps({"score": 100, "tests": []}))\n'
CHEATS = {
    "fake_success_lines": ("import json\n" + FAKE + "RESULT = None\n", ""),
    "monkeypatch_numpy": ("""
import numpy as np
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, **k: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, bool)
np.testing.assert_allclose = lambda *a, **k: None
np.asarray = lambda *a, **k: 0
RESULT = np.zeros(3)
""", ""),
    "monkeypatch_pytest": ("""
import pytest, _pytest.outcomes
pytest.approx = lambda *a, **k: object.__new__(type("Eq", (), {"__eq__": lambda s, o: True}))
_pytest.outcomes.fail = lambda *a, **k: None
pytest.fail = lambda *a, **k: None
RESULT = 0.0
""", ""),
    "always_equal_objects": ("""
class Anything:
    def __eq__(self, other): return True
    def __getattr__(self, name): return self
    def __call__(self, *a, **k): return self
    def __getitem__(self, key): return self
RESULT = Anything()
""", "not plain data"),
    "ndarray_subclass_equal_to_everything": ("""
import numpy as np
class Liar(np.ndarray):
    def __eq__(self, other): return np.ones(np.shape(other), bool)
    def __array_finalize__(self, obj): pass
RESULT = np.zeros(4).view(Liar)
""", ""),
}


@pytest.mark.parametrize("case", sorted(CHEATS))
def test_cheating_earns_nothing(tmp_path, case):
    source, reason = CHEATS[case]
    result = run(tmp_path, source + STUBS)
    earns_nothing(result)
    assert reason in messages(result)


@requires_bubblewrap
def test_reading_the_hidden_tests_and_solution(tmp_path):
    targets = [str(ROOT / "solutions" / "backprop.py"), str(ROOT / "assignments" / "backprop" / "tests" / "hidden")]
    source = f"""
import os
TARGETS = {targets!r}
for target in TARGETS:
    if os.path.isfile(target):
        exec(open(target).read())
    elif os.path.isdir(target):
        print("found the hidden tests:", os.listdir(target))
"""
    result = run(tmp_path, source)
    assert result.isolation == "bubblewrap"
    earns_nothing(result)
    assert "found the hidden tests" not in "".join(t.output for t in result.tests)


@requires_bubblewrap
def test_opening_a_network_connection(tmp_path):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(20)
    port = server.getsockname()[1]
    connected = []
    threading.Thread(target=lambda: connected.append(_accept(server)), daemon=True).start()
    body = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\ns.sendall(b'stolen')\nreturn None"
    result = run(tmp_path, override(body))
    server.close()
    only_loses(result, {"sigmoid_neuron"})
    assert not any(connected), "the sandbox reached the grader's loopback"
    assert "Connection refused" in messages(result) or "unreachable" in messages(result)


def _accept(server):
    try:
        return server.accept()
    except OSError:
        return None


@requires_bubblewrap
def test_writing_a_results_file(tmp_path):
    out = tmp_path / "results.json"
    forged = json.dumps({"score": 100, "tests": []})
    source = f"""
import os
for target in [{str(out)!r}, "results.json", "/tmp/results.json", os.path.expanduser("~/results.json")]:
    try:
        with open(target, "w") as handle:
            handle.write({forged!r})
    except OSError as error:
        print("could not write", target, error)
""" + STUBS.replace("return RESULT", "return None")
    path = tmp_path / "backprop.py"
    path.write_text(source)
    completed = subprocess.run([sys.executable, "-m", "grader", "grade", "backprop", str(path), "--gradescope", str(out),
                                "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 1, completed.stderr
    document = json.loads(out.read_text())
    assert document["score"] == 0 and len(document["tests"]) > 20


# -- broken input fails with a clear message ----------------------------------------------------

def test_notebook_that_is_not_json(tmp_path):
    result = run(tmp_path, "{ this is not json", suffix=".ipynb")
    earns_nothing(result)
    assert "is not a valid notebook" in messages(result)


def test_syntax_error(tmp_path):
    result = run(tmp_path, SOLUTION.replace("def softmax(a):", "def softmax(a)", 1))
    earns_nothing(result)
    assert "SyntaxError at line" in messages(result)


def test_missing_function(tmp_path):
    result = run(tmp_path, SOLUTION.replace("def sigmoid_neuron_gd(", "def sigmoid_neuron_gradient_descent(", 1))
    only_loses(result, {"sigmoid_neuron"})
    assert "sigmoid_neuron_gd is not defined in the submission" in messages(result)


def test_forbidden_import_is_refused_statically(tmp_path):
    result = run(tmp_path, "import torch\n" + SOLUTION)
    earns_nothing(result)
    assert "uses torch, which this assignment forbids" in messages(result)


def test_fallback_isolation_is_recorded_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_ISOLATION", "rlimits")
    detect.cache_clear()
    try:
        result = run(tmp_path, SOLUTION)
    finally:
        detect.cache_clear()
    assert result.isolation == "rlimits"
    assert any("resource limits only" in w for w in result.warnings)
    only_loses(result, set())


def test_folder_with_a_link_to_the_solution_and_a_forging_conftest(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "backprop.py").symlink_to(ROOT / "solutions" / "backprop.py")
    (folder / "conftest.py").write_text(
        "import pytest\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n")
    (folder / "sitecustomize.py").write_text("import builtins\nbuiltins.print = None\n")
    result = grade(load("backprop"), folder)
    earns_nothing(result)
    assert "found no backprop.ipynb or backprop.py" in messages(result)
