"""Hostile and broken submissions of backprop: each earns nothing for what it cheats, fails
only the tests it touches, and leaves the grader working."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from rich.text import Text

from grader.runner import grade
from grader.sandbox import groups
from grader.sandbox.launch import NOBODY, detect
from grader.sandbox.space import can_mount

from conftest import ROOT, TINY_SOLUTION, TINY_TESTS, load, make_assignment, requires_bubblewrap, solution_source

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


# == attacks by a student who has read the grader's source =========================================
# Each class below was a hole: the forbidden-module guard lived in the student's interpreter, speed
# checks could be gamed from inside the worker, the trusted side had no limits of its own, clean-up
# could lose the result, the work folder had no size limit, student text was interpreted on the way
# out, the process limit depended on the neighbours, hidden tests leaked their values, and inputs
# changed in place went unnoticed.

def cheat(prelude: str) -> str:
    """The reference whose sigmoid_neuron_gd runs `prelude` (which raises if its trick fails) before the real work."""
    return (SOLUTION + "\n\n_original = sigmoid_neuron_gd\n\ndef sigmoid_neuron_gd(x, y, w, b, lr, steps):\n"
            + "".join(f"    {line}\n" for line in prelude.strip().splitlines())
            + "    return _original(x, y, w, b, lr, steps)\n")


FORBIDDEN_TRICKS = {
    "guard_dropped_from_meta_path": """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "Forbidden" not in type(f).__name__]
torch = __import__("to" + "rch")
assert torch.ones(2).sum().item() == 2
""",
    "guard_class_neutered": """
import importlib, sys
for module in list(sys.modules.values()):
    for value in list(vars(module).values()) if hasattr(module, "__dict__") else []:
        if isinstance(value, type) and "Forbidden" in value.__name__ and hasattr(value, "find_spec"):
            value.find_spec = lambda self, *args, **kwargs: None
torch = importlib.import_module("to" + "rch")
torch.ones(1).requires_grad_()
""",
    "fresh_interpreter": """
import subprocess, sys
done = subprocess.run([sys.executable, "-c", "import torch; print(torch.ones(3).sum().item())"],
                      capture_output=True, text=True, timeout=60)
assert done.stdout.strip() == "3.0", done.stderr[-300:]
""",
    "shared_library_by_path": """
import ctypes, glob, os, sys
ctypes.CDLL(next(p for entry in sys.path for p in glob.glob(os.path.join(entry, "to" + "rch", "lib", "libtorch_cpu.so"))))
""",
    "package_metadata": """
import importlib.metadata
assert importlib.metadata.version("to" + "rch")
""",
}


@requires_bubblewrap
@pytest.mark.parametrize("case", sorted(FORBIDDEN_TRICKS))
def test_forbidden_packages_are_absent_from_the_sandbox(tmp_path, case):
    result = run(tmp_path, cheat(FORBIDDEN_TRICKS[case]))
    assert result.isolation == "bubblewrap"
    only_loses(result, {"sigmoid_neuron"})


SLOW_FORWARD = """
import sys
_original_forward = forward
def _training():
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_name != "train":
        frame = frame.f_back
    return frame is not None

def _slow_forward(X, params, activation, output):
    for _ in range(1 if _training() else 100):  # a hundred times the work: far over the speed budget, whatever the load
        result = _original_forward(X, params, activation, output)
    return result
"""

GRADER_CALLS = """
import sys
def _called_by_the_grader():
    return sys._getframe(2).f_code.co_filename.endswith("worker.py")
"""

SPEED_TRICKS = {
    "skips_the_work_when_its_caller_is_the_timing_loop": GRADER_CALLS + """
_original_forward = forward
def forward(X, params, activation, output):
    if _called_by_the_grader() and sys._getframe(1).f_code.co_name != "answer":
        return {"a": [], "h": []}
    return _original_forward(X, params, activation, output)
""",
    "skips_the_work_during_timed_requests": GRADER_CALLS + """
_request = {"op": "call"}
try:
    _server = sys.modules["grader.sandbox.worker"]._Server
    _answer = _server.answer
    def _spying_answer(self, request, *rest):
        _request["op"] = request.get("op")
        return _answer(self, request, *rest)
    _server.answer = _spying_answer
except (KeyError, AttributeError):
    pass
_original_forward = forward
def forward(X, params, activation, output):
    if _request["op"] != "call" and _called_by_the_grader():
        return {"a": [], "h": []}
    return _original_forward(X, params, activation, output)
""",
    "answers_zeros_of_the_right_shapes_when_timed": GRADER_CALLS + """
import numpy as np
_original_forward = forward
def forward(X, params, activation, output):
    if _called_by_the_grader() and sys._getframe(1).f_code.co_name != "answer":
        sizes = [len(b) for b in params["b"]]
        return {"a": [np.zeros((len(X), n)) for n in sizes], "h": [X] + [np.zeros((len(X), n)) for n in sizes]}
    return _original_forward(X, params, activation, output)
""",
    "precomputes_while_the_inputs_are_decoded": SLOW_FORWARD + """
import sys
_cache = {}
_protocol = sys.modules["grader.protocol"]
_decode = _protocol.decode
def _precomputing_decode(*args, **kwargs):
    value = _decode(*args, **kwargs)
    if isinstance(value, list):
        for item in value:
            try:
                (X, params, activation, output), _ = item
                _cache[X.tobytes()] = _slow_forward(X, params, activation, output)
            except Exception:
                pass
    return value
_protocol.decode = _precomputing_decode
def forward(X, params, activation, output):
    hit = _cache.pop(X.tobytes(), None)
    return hit if hit is not None else _slow_forward(X, params, activation, output)
""",
    "precomputes_when_the_inputs_are_staged": SLOW_FORWARD + """
import sys
_cache = {}
try:
    _staged = sys.modules["grader.sandbox.worker"]._Staged
    _init = _staged.__init__
    def _precomputing_init(self, calls, device):
        for (X, params, activation, output), _ in calls:
            _cache[X.tobytes()] = _slow_forward(X, params, activation, output)
        _init(self, calls, device)
    _staged.__init__ = _precomputing_init
except (KeyError, AttributeError):
    pass
def forward(X, params, activation, output):
    hit = _cache.pop(X.tobytes(), None)
    return hit if hit is not None else _slow_forward(X, params, activation, output)
""",
}

HOGS = SLOW_FORWARD + """
import ctypes, os, signal, time
forward = _slow_forward

class _Event(ctypes.Structure):
    _fields_ = [("value", ctypes.c_void_p), ("signo", ctypes.c_int), ("notify", ctypes.c_int), ("pad", ctypes.c_byte * 48)]

class _Spec(ctypes.Structure):
    _fields_ = [("interval_s", ctypes.c_long), ("interval_ns", ctypes.c_long), ("value_s", ctypes.c_long),
                ("value_ns", ctypes.c_long)]

def _hog(worker):
    if WAKE_BY_TIMER:  # a kernel timer that sends SIGCONT every millisecond, even to a stopped process
        libc, timer = ctypes.CDLL(None), ctypes.c_void_p()
        libc.timer_create(1, ctypes.byref(_Event(None, signal.SIGCONT, 0)), ctypes.byref(timer))
        libc.timer_settime(timer, 0, ctypes.byref(_Spec(0, 1_000_000, 0, 1_000_000)), None)
    while True:  # burn the CPU exactly while the worker is stopped, i.e. while the reference is timed
        try:
            with open(f"/proc/{worker}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            os._exit(0)
        if state in "Tt":
            end = time.perf_counter() + 0.005
            while time.perf_counter() < end:
                pass
        else:
            time.sleep(0.001)

_worker = os.getpid()
for _ in range(14):
    if os.fork() == 0:
        os.setsid()  # out of the worker's process group
        _hog(_worker)
"""


@pytest.mark.parametrize("case", sorted(SPEED_TRICKS))
def test_speed_checks_cannot_be_gamed_from_inside_the_worker(tmp_path, case):
    result = run(tmp_path, SOLUTION + SPEED_TRICKS[case])
    only_loses(result, {"speed"})


@pytest.mark.parametrize("isolation, by_timer", [("bubblewrap", True), ("rlimits", False), ("rlimits", True)])
def test_nothing_of_the_submission_runs_while_the_reference_is_timed(tmp_path, monkeypatch, isolation, by_timer):
    if isolation == "bubblewrap" and detect().level != "bubblewrap":
        pytest.skip("bubblewrap does not work here")
    monkeypatch.setenv("GRADER_ISOLATION", isolation)
    detect.cache_clear()
    try:
        result = run(tmp_path, SOLUTION + HOGS.replace("WAKE_BY_TIMER", str(by_timer)))
    finally:
        detect.cache_clear()
    only_loses(result, {"speed"})
    speed = next(t for t in result.tests if t.question == "speed")
    assert "too slow" in speed.message, speed.message




def tiny(tmp_path, source: str, tests: str = TINY_TESTS, solution: str = TINY_SOLUTION, **spec_items):
    """Grade `source` against a two-test assignment (answer() and work()); return the result."""
    assignment = make_assignment(tmp_path / "course", tests, solution, **spec_items)
    path = tmp_path / "tiny.py"
    path.write_text(source)
    return grade(assignment, path)


def passed(result) -> set[str]:
    return {t.name.rsplit("::", 1)[1] for t in result.tests if t.status == "passed"}


@pytest.fixture
def host_tmp(monkeypatch):
    """A temporary directory of the grader's own, so that what grading leaves there can be seen."""
    folder = Path(tempfile.mkdtemp(prefix="hostile-"))
    folder.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def leftovers(folder: Path) -> list[str]:
    """What grading left on the host under `folder`: files and folders, and mounts."""
    with open("/proc/mounts") as mounts:
        mounted = [line.split()[1] for line in mounts if line.split()[1].startswith(str(folder))]
    return sorted(p.name for p in folder.iterdir()) + mounted


DEEP_TREES = {
    "five_thousand_levels": "os.mkdir('d'); os.chdir('d')",
    "paths_far_over_path_max": "os.mkdir('d' * 200); os.chdir('d' * 200)",
    "unreadable_folders_on_the_way": "os.mkdir('d'); os.chmod('.', 0o300); os.chdir('d')",
}


@pytest.mark.parametrize("case", sorted(DEEP_TREES))
def test_a_hostile_tree_in_the_work_folder_never_loses_the_result(tmp_path, host_tmp, case):
    source = f"import os\nfor _ in range(5000):\n    {DEEP_TREES[case]}\n" + TINY_SOLUTION
    result = tiny(tmp_path, source)
    assert passed(result) == {"test_answer", "test_work"}, messages(result)
    assert leftovers(host_tmp) == []


@pytest.mark.skipif(os.getuid() != 0 and groups.cgroup_version() is None,
                    reason="finding what left the sandbox's process tree needs a user of its own (root) or cgroups")
def test_what_a_submission_leaves_running_is_gone_when_grading_ends(tmp_path, host_tmp, monkeypatch):
    monkeypatch.setenv("GRADER_ISOLATION", "rlimits")
    detect.cache_clear()
    markers = Path(tempfile.mkdtemp(prefix="markers-", dir="/tmp"))
    markers.chmod(0o777)
    marker = markers / "still-running"
    source = f"""
import os, time
if os.fork() == 0:
    os.setsid()
    while True:
        open({str(marker)!r}, "w").close()
        for i in range(100):
            os.makedirs(f"litter/{{i}}", exist_ok=True)
        time.sleep(0.01)
for _ in range(1000):  # the loading waits until the background process runs (however loaded the machine)
    if os.path.exists({str(marker)!r}):
        break
    time.sleep(0.01)
""" + TINY_SOLUTION
    try:
        result = tiny(tmp_path, source)
    finally:
        detect.cache_clear()
    assert passed(result) == {"test_answer", "test_work"}, messages(result)
    assert marker.exists(), "the background process never ran"
    time.sleep(0.5)
    marker.unlink()
    time.sleep(0.5)
    alive = marker.exists()
    subprocess.run(["rm", "-rf", str(markers)], check=False)
    assert not alive, "a process of the submission outlived its grading"
    assert leftovers(host_tmp) == []


FILLERS = {
    "large_files": "for i in range(40):\n        with open(f'big{i}', 'wb') as out:\n"
                   "            out.write(bytes(60 * 2**20))",
    "many_empty_files": "for i in range(200_000):\n        open(f'f{i}', 'w').close()",
    "large_files_in_tmp": "for i in range(40):\n        with open(f'/tmp/big{i}', 'wb') as out:\n"
                          "            out.write(bytes(60 * 2**20))",
}


@pytest.mark.skipif(not can_mount(), reason="a space bounded in bytes and files needs a grader that may mount (root)")
@pytest.mark.parametrize("case", sorted(FILLERS))
def test_writable_space_is_bounded_in_bytes_and_files(tmp_path, case):
    source = f"def answer():\n    return 42\n\ndef work():\n    {FILLERS[case]}\n    return True\n"
    result = tiny(tmp_path, source, limits={"disk_mb": 256, "files": 10_000, "call_timeout": 60})
    assert passed(result) == {"test_answer"}, messages(result)
    work = next(t for t in result.tests if t.name.endswith("test_work"))
    assert "No space left on device" in work.message, work.message


LEAKY_TESTS = '''
import pytest
pytestmark = pytest.mark.question("q")
SECRET = 7_654_321

@pytest.mark.points(1)
def test_value(submission):
    expected = SECRET * 3
    assert submission.answer() == expected

@pytest.mark.points(1)
def test_length(submission):
    hidden_cases = [SECRET, SECRET + 1, SECRET + 2]
    assert len(submission.work()) == len(hidden_cases)

@pytest.mark.points(1)
def test_membership(submission):
    allowed = ["alpha-%d" % SECRET, "beta-%d" % SECRET]
    assert submission.answer() in allowed, "answer() is not one of the accepted values"
'''

PROBES = {
    "wrong_number": "def answer():\n    return 0\n\ndef work():\n    return [1]\n",
    "wrong_type": "def answer():\n    return 'guess'\n\ndef work():\n    return 'ab'\n",
    "nested_value": "def answer():\n    return {'a': [1, 2]}\n\ndef work():\n    return {}\n",
}


@pytest.mark.parametrize("case", sorted(PROBES))
def test_hidden_tests_do_not_reveal_their_values(tmp_path, case):
    result = tiny(tmp_path, PROBES[case], tests=LEAKY_TESTS)
    assert result.score == 0
    text = messages(result)
    for secret in ("7654321", "22962963", "hidden_cases", "expected", "allowed", "where"):
        assert secret not in text, text
    assert "answer() is not one of the accepted values" in text


THREADS = """
import threading
_held = threading.Event()

def start(n, hold=False):
    '''Start up to n threads that wait; return how many could be started (they end at once unless held).'''
    release, started = (_held if hold else threading.Event()), []
    for _ in range(n):
        try:
            thread = threading.Thread(target=release.wait, daemon=True)
            thread.start()
        except RuntimeError:
            break
        started.append(thread)
    if not hold:
        release.set()
        for thread in started:
            thread.join()
    return len(started)
"""
ALLOWANCE = 12


def _host_processes_as(uid: int, count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen(["sleep", "60"], user=uid, group=uid) for _ in range(count)]


def test_a_submission_may_start_exactly_its_allowance(sides):
    submission = sides(THREADS, processes=ALLOWANCE)
    assert submission.start(ALLOWANCE + 5) == ALLOWANCE
    assert submission.start(ALLOWANCE) == ALLOWANCE


def test_the_process_allowance_is_not_shared_with_other_sandboxes(sides):
    submission, neighbour = sides(THREADS, processes=ALLOWANCE), sides(THREADS, processes=ALLOWANCE)
    assert submission.start(0) == 0 and neighbour.start(0) == 0  # both workers are up
    assert neighbour.start(ALLOWANCE, hold=True) == ALLOWANCE
    assert submission.start(ALLOWANCE) == ALLOWANCE


@pytest.mark.skipif(os.getuid() != 0, reason="starting processes as another user needs root")
def test_the_process_allowance_is_not_shared_with_the_hosts_unprivileged_user(sides):
    submission = sides(THREADS, processes=ALLOWANCE)
    assert submission.start(0) == 0
    host = _host_processes_as(NOBODY, 3 * ALLOWANCE)
    try:
        assert submission.start(ALLOWANCE) == ALLOWANCE
    finally:
        for process in host:
            process.kill()
            process.wait()


RAW_REPLY = """
import os, sys
from grader import protocol

def _reply(build):
    '''Answer the current request with a frame of our own making, then vanish.'''
    frame = sys._getframe(1)
    while frame is not None and "request" not in frame.f_locals:
        frame = frame.f_back
    server, request = frame.f_locals["self"], frame.f_locals["request"]
    header, buffers = build(request.get("id"))
    server.sock.sendall(protocol.encode_frame(header, buffers))
    os._exit(0)

def answer():
    return 42
"""

RAW_REPLIES = {
    "dict_keys_with_colliding_hashes": """
def work():
    keys = [{"$": "int", "v": format(k * (2**61 - 1), "x")} for k in range(1, 40_000)]
    _reply(lambda rid: ({"op": "result", "id": rid, "value": {"$": "dict", "v": [[k, 0] for k in keys]}}, []))
""",
    "plain_json_int_keys_with_colliding_hashes": """
def work():
    pairs = [[k * (2**61 - 1), 0] for k in range(1, 40_000)]
    _reply(lambda rid: ({"op": "result", "id": rid, "value": {"$": "dict", "v": pairs}}, []))
""",
    "error_reply_of_the_wrong_shape": """
def work():
    _reply(lambda rid: ({"op": "error", "id": rid, "kind": ["exception"], "message": {"not": "text"}}, []))
""",
}


@pytest.mark.parametrize("case", sorted(RAW_REPLIES))
def test_hostile_frames_cost_the_trusted_side_little(tmp_path, case):
    started = time.monotonic()
    result = tiny(tmp_path, RAW_REPLY + RAW_REPLIES[case], limits={"call_timeout": 5})
    assert passed(result) == {"test_answer"}, messages(result)
    assert time.monotonic() - started < 30
    work = next(t for t in result.tests if t.name.endswith("test_work"))
    assert work.message.startswith(("unusable value", "your code crashed")), work.message


HOSTILE_TEXT = {
    "terminal_escapes": "print('\\x1b[2J\\x1b[H\\x1b]0;pwned\\x07ALL TESTS PASSED 100/100')",
    "markdown_after_a_blank_line": "raise ValueError('oops\\n\\n[click here](http://evil.example) <b>bold</b>')",
    "lone_surrogates_and_nul": "raise ValueError('\\ud800 broken \\x00 text \\udfff')",
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TEXT))
def test_student_text_is_never_interpreted_on_the_way_out(tmp_path, case):
    source = f"def answer():\n    return 42\n\ndef work():\n    {HOSTILE_TEXT[case]}\n    return False\n"
    assignment = make_assignment(tmp_path / "course", TINY_TESTS, TINY_SOLUTION)
    path = tmp_path / "[bold red]tiny[link=http:evil.example].py"
    path.write_text(source)
    out = tmp_path / "out"
    completed = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(assignment.root), str(path), "--show-output",
         "--feedback", str(out / "feedback.html"), "--junit", str(out / "junit.xml"),
         "--gradescope", str(out / "results.json")],
        capture_output=True, timeout=300, env={**os.environ, "COLUMNS": "200", "TERM": "xterm", "FORCE_COLOR": "1"})
    assert completed.returncode == 1, completed.stderr.decode(errors="replace")
    terminal = completed.stdout.decode()
    assert "\x1b]" not in terminal and "\x1b[2J" not in terminal and "\x07" not in terminal
    assert "[bold red]tiny[link=http:evil.example].py" in Text.from_ansi(terminal).plain.replace("\n", "")
    page = (out / "feedback.html").read_text()
    assert "evil.example\">" not in page and "<b>bold" not in page and "\x1b" not in page
    ET.fromstring((out / "junit.xml").read_bytes())
    assert json.loads((out / "results.json").read_text())["score"] == 1


IN_PLACE = {
    "momentum_updates_its_state_in_place": ("optimizers", {"gd_momentum"}, """
def momentum_step(w, g, state, lr, beta):
    state["u"] *= beta
    state["u"] += g
    return w - lr * state["u"], {"u": state["u"], "t": state["t"] + 1}
"""),
    "clipping_scales_the_gradients_in_place": ("lstm_bptt", {"clipping"}, """
def clip_grad_norm(grads, max_norm):
    norm = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    if norm > max_norm:
        for g in grads.values():
            g *= max_norm / norm
    return grads, norm
"""),
    "lstm_carries_its_state_into_the_callers_h0": ("lstm_bptt", {"lstm_forward"}, """
_original_lstm_forward = lstm_forward
def lstm_forward(x, h0, c0, params):
    h, c = _original_lstm_forward(x, h0, c0, params)
    h0[...] = h[-1]  # keep the last state for the next chunk
    return h, c
"""),
}


@pytest.mark.parametrize("case", sorted(IN_PLACE))
def test_inputs_changed_in_place_lose_the_question(tmp_path, case):
    slug, lost, change = IN_PLACE[case]
    path = tmp_path / f"{slug}.py"
    path.write_text(solution_source(slug) + "\n\nimport numpy as np\n" + change)
    result = grade(load(slug), path)
    only_loses(result, lost)
    assert "in place" in messages(result)


def test_a_function_that_leaves_its_inputs_alone_passes_the_check(tmp_path):
    tests = '''
import numpy as np
import pytest
from grader.checks import assert_inputs_unchanged
pytestmark = pytest.mark.question("q")

@pytest.mark.points(1)
def test_scale(submission):
    x, params, items = np.arange(4.0), {"W": np.ones((2, 2))}, [1.0, 2.0]
    result = assert_inputs_unchanged(submission.scale, x, params, items=items)
    assert np.array_equal(result, 2 * x)
'''
    solution = "def scale(x, params, items):\n    return 2 * x\n"
    assignment = make_assignment(tmp_path / "course", tests, solution)
    for source, earned in ((solution, 1), ("def scale(x, params, items):\n    x *= 2\n    return x\n", 0),
                           ("def scale(x, params, items):\n    items.append(3.0)\n    return 2 * x\n", 0),
                           ("def scale(x, params, items):\n    params['b'] = 0\n    return 2 * x\n", 0)):
        path = tmp_path / "tiny.py"
        path.write_text(source)
        result = grade(assignment, path)
        assert result.score == earned, messages(result)


# -- third round: each case says what it earned before its class was closed, and after -----------

SPEED_TESTS = """
import pytest
pytestmark = pytest.mark.question("q")

@pytest.mark.points(6)
def test_mm_is_vectorised(submission, reference, speed):
    speed(submission.mm, reference.mm, lambda r: (r.standard_normal((24, 24)), r.standard_normal((24, 24))), budget=4.0)
"""
SPEED_SOLUTION = "def mm(a, b):\n    return {'product': [a @ b, (b @ a)[:, :12]], 'trace': float((a @ b).trace())}\n"
SLOW_MM = """
import numpy as np
def _loops(a, b):
    return np.array([[sum(a[i, p] * b[p, j] for p in range(len(b))) for j in range(b.shape[1])] for i in range(len(a))])

def mm(a, b):
    ab = _loops(a, b)
    return {'product': [ab, _loops(b, a)[:, :12]], 'trace': float(ab.trace())}
"""
FORGED_TIMING = SLOW_MM + """
import sys
_worker = sys.modules["grader.sandbox.worker"]

def _forged_timed(self, function, calls, device, probe):
    return [OUTLINE for _ in calls]  # answers at once, with nothing in the summary to compare

_worker._Server._timed = _forged_timed
"""
# What the timed results' summaries pretend (the real one: {"keys": [...], "items": [{"items": [two arrays of
# other shapes], "length": 2}, {"shape": [], ...}]}). Each earned 6 of 6 before the structure was checked, 0 after.
FORGED_OUTLINES = {
    "nothing_under_the_keys": """{"keys": ["'product'", "'trace'"], "items": []}""",
    "hollow_lists_and_no_trace": """{"keys": ["'product'", "'trace'"], "items": [{"items": [], "length": 2}]}""",
    "hollow_with_fields_the_reference_lacks": """{"keys": ["'product'", "'trace'"], "length": None, "items": [
        {"items": [], "length": 2, "shape": [24, 24], "at": []}]}""",
}


@pytest.mark.parametrize("gpu", ["", "idle"])
@pytest.mark.parametrize("case", sorted(FORGED_OUTLINES))
def test_a_forged_timing_summary_fails_the_speed_check(tmp_path, monkeypatch, case, gpu):
    """Before: 6 of 6 for each case on the CPU (nothing compared), and no GPU path to run on a machine without one
    (forced, it failed the reference itself); after: 0 on the CPU and on the simulated GPU's path."""
    monkeypatch.setenv("GRADER_SIMULATE_CUDA", gpu)
    result = tiny(tmp_path, FORGED_TIMING.replace("OUTLINE", FORGED_OUTLINES[case]), SPEED_TESTS, SPEED_SOLUTION,
                  questions=[{"id": "q", "title": "Speed", "points": 6}])
    assert result.score == 0, messages(result)
    assert "reference's result on the same input" in messages(result)


def test_the_speed_check_of_the_forged_cases_ranks_honest_code(tmp_path):
    questions = [{"id": "q", "title": "Speed", "points": 6}]
    assert tiny(tmp_path / "fast", SPEED_SOLUTION, SPEED_TESTS, SPEED_SOLUTION, questions=questions).score == 6
    assert tiny(tmp_path / "slow", SLOW_MM, SPEED_TESTS, SPEED_SOLUTION, questions=questions).score == 0


TABLE_TESTS = """
import numpy as np
import pytest
pytestmark = pytest.mark.question("q")

@pytest.mark.points(1)
def test_tables(submission, reference):
    for n in submission.sizes():  # the reference is called with the student's data: it keys cache entries
        assert np.array_equal(submission.table(n), reference.table(n))
"""
TABLE_SOLUTION = "import numpy as np\n\ndef sizes():\n    return [3, 5]\n\ndef table(n):\n    return np.arange(n, dtype=float)\n"
# Sizes a submission asks the reference's tables for, so that the batch's reference cache would hold them.
CACHE_FILLERS = {
    "one_answer_of_80_MB": "[10_000_000]",
    "sixty_answers_of_3_MB": "[400_000 + i for i in range(60)]",
    "three_thousand_small_answers": "list(range(10, 3010))",
}


def test_no_submission_slows_the_gradings_after_it_in_a_batch(tmp_path):
    """Each filler, graded in one job with honest classmates before and after it. Before: every classmate
    graded after the 80 MB answer took 20 s to 40 s more (each grading child sent back every entry it inherited,
    read by repeated concatenation); after: as long as those graded before it."""
    assignment = make_assignment(tmp_path / "course", TABLE_TESTS, TABLE_SOLUTION)
    folder = tmp_path / "class"
    folder.mkdir()
    students = ["a_honest"] + [f"b_{case}" for case in sorted(CACHE_FILLERS)] + ["c_honest", "d_honest", "e_honest"]
    for student in students:
        sizes = CACHE_FILLERS.get(student[2:], "[3, 5]")
        (folder / f"{student}.py").write_text(TABLE_SOLUTION.replace("[3, 5]", sizes))
    config = {"assignment": str(assignment.root), "public_only": False, "seed": 0, "jobs": 1}
    job = subprocess.Popen([sys.executable, "-m", "grader.batch.job", json.dumps(config)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    job.stdin.write("".join(json.dumps({"student": s, "path": str(folder / f"{s}.py")}) + "\n" for s in students))
    job.stdin.close()
    took, scores, last = {}, {}, time.monotonic()
    for line in job.stdout:
        reply = json.loads(line)
        took[reply["student"]] = time.monotonic() - last
        scores[reply["student"]] = reply["result"]["score"]
        last = time.monotonic()
    assert job.wait(timeout=60) == 0
    assert scores == dict.fromkeys(students, 1)
    after = max(took[s] for s in ("c_honest", "d_honest", "e_honest"))
    print("gradings took", {s: round(t, 2) for s, t in took.items()})
    assert after < took["a_honest"] + 5, took


@requires_bubblewrap
def test_a_sandbox_with_a_user_namespace_of_its_own_cannot_make_another(tmp_path):
    """Before: `unshare -U` inside such a sandbox succeeded; after: refused (where bubblewrap has --disable-userns)."""
    from grader.sandbox.launch import _bwrap_prefix, refuses_nested_userns
    if not refuses_nested_userns():
        pytest.skip("this bubblewrap has no --disable-userns")
    (tmp_path / "files").mkdir()
    prefix = _bwrap_prefix(tmp_path / "files", tmp_path, None, False, {"disk_mb": 1})
    unshare = [sys.executable, "-c", "import ctypes, sys; sys.exit(3 if ctypes.CDLL(None).unshare(0x10000000) else 0)"]
    assert subprocess.run(prefix + unshare).returncode == 3  # CLONE_NEWUSER refused
    assert subprocess.run([p for p in prefix if p != "--disable-userns"] + unshare).returncode == 0


HELD_TESTS = {
    "test_public.py": """
import pytest
pytestmark = pytest.mark.question("q")

@pytest.mark.points(1)
def test_answer(submission):
    assert submission.answer() == 42
""",
    "test_hidden.py": """
import pytest
pytestmark = pytest.mark.question("q")

@pytest.mark.points(1)
def test_secret(submission):
    assert submission.work(SECRET) is True

@pytest.mark.points(1)
def test_again(submission):
    assert submission.answer() == 42
""",
}
SECRET = "31337"
# Each case earned full marks before and after; what changed is whether SECRET (a hidden test's argument)
# reached the feedback page, the Gradescope JSON or the terminal while hidden results were held back.
HIDDEN_LEAKS = {
    "a_reload_quotes_a_file_written_during_the_hidden_test": """
import os
if os.path.exists("seen.txt"):
    raise RuntimeError("a hidden test passed " + open("seen.txt").read())

def work(x):
    open("seen.txt", "w").write(repr(x))
    os._exit(1)  # the next call loads the submission again
""",
    "a_free_text_answer_set_by_the_hidden_call": """
essay = "my answer"

def work(x):
    global essay
    essay = "a hidden test passed " + repr(x)
    return True
""",
    "sleeps_as_long_as_the_hidden_argument_says": """
import time

def work(x):
    time.sleep(int(x) % 10 / 10)  # the grading's total time carries a digit of it
    return True
""",
    "the_answers_reload_quotes_a_file": """
import os
if os.path.exists("seen.txt"):
    raise RuntimeError("a hidden test passed " + open("seen.txt").read())
essay = "my answer"

def work(x):
    open("seen.txt", "w").write(repr(x))
    if x is not None:
        os._exit(1)
""",
}


@pytest.mark.parametrize("case", sorted(HIDDEN_LEAKS))
def test_nothing_a_hidden_test_leaves_reaches_the_student_while_held_back(tmp_path, case):
    """Before: SECRET appeared in the feedback page and results.json (as a load error or as the answer), and
    the grading's total time, which a hidden call can stretch, in all three; after: neither, until `grader
    feedback` releases the hidden tests."""
    folder = tmp_path / "course" / "assignments" / "tiny"
    assignment = make_assignment(tmp_path / "course", "", TINY_SOLUTION, hidden_results="after_release", questions=[
        {"id": "q", "title": "Code", "points": 3},
        {"id": "essay", "title": "Essay", "points": 1, "type": "free_text", "rubric": [{"id": "r", "points": 1, "text": "ok"}]}])
    (folder / "tests" / "hidden" / "test_hidden.py").write_text(HELD_TESTS["test_hidden.py"].replace("SECRET", SECRET))
    (folder / "tests" / "public" / "test_public.py").write_text(HELD_TESTS["test_public.py"])
    path = tmp_path / "tiny.py"
    path.write_text("def answer():\n    return 42\n" + HIDDEN_LEAKS[case])
    out = tmp_path / "out"
    completed = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(assignment.root), str(path), "--show-output", "-v",
         "--feedback", str(out / "feedback.html"), "--gradescope", str(out / "results.json")],
        capture_output=True, timeout=300, env={**os.environ, "COLUMNS": "200"}, cwd=tmp_path)
    assert completed.returncode in (0, 1), completed.stderr.decode(errors="replace")
    shown = {"terminal": completed.stdout.decode(), "page": (out / "feedback.html").read_text(),
             "gradescope": json.dumps([t for t in json.loads((out / "results.json").read_text())["tests"]
                                       if t["visibility"] != "after_published"]) + json.loads((out / "results.json").read_text())["output"]}
    assert [where for where, text in shown.items() if SECRET in text] == []
    assert "time:" not in shown["terminal"] and "&nbsp;s;" not in shown["page"]
    assert "execution_time" not in json.loads((out / "results.json").read_text())


def _parenthesised(source: str) -> str:
    """Every operand and every operation wrapped in parentheses of its own (the same program)."""
    import ast
    tree, inserts = ast.parse(source), []
    inside_fstrings = {id(n) for f in ast.walk(tree) if isinstance(f, ast.JoinedStr) for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        slices = isinstance(node, ast.Tuple) and any(isinstance(e, ast.Slice) for e in node.elts)
        if isinstance(node, ast.expr) and not isinstance(node, (ast.Starred, ast.Slice)) and not slices and (
                id(node) not in inside_fstrings):
            inserts += [((node.lineno, node.col_offset), 1, "("), ((node.end_lineno, node.end_col_offset), 0, ")")]
    lines = source.splitlines(keepends=True)
    for (row, column), _, text in sorted(inserts, reverse=True):
        lines[row - 1] = lines[row - 1][:column] + text + lines[row - 1][column:]
    rewritten = "".join(lines)
    assert ast.dump(ast.parse(rewritten)) == ast.dump(tree)
    return rewritten


def _decorated(source: str) -> str:
    """Annotations on every argument and return, a docstring in every function, `x = x + y` as `x += y`."""
    import ast

    class Decorate(ast.NodeTransformer):
        def visit_FunctionDef(self, node):
            self.generic_visit(node)
            for arg in node.args.args:
                arg.annotation = arg.annotation or ast.Name("object")
            node.returns = node.returns or ast.Name("object")
            node.body.insert(0, ast.Expr(ast.Constant(f"Compute {node.name.replace('_', ' ')} as asked.")))
            return node

        def visit_Assign(self, node):
            value, [target] = node.value, node.targets if len(node.targets) == 1 else [None]
            if (isinstance(target, ast.Name) and isinstance(value, ast.BinOp) and isinstance(value.left, ast.Name)
                    and value.left.id == target.id):
                return ast.AugAssign(target, value.op, value.right)
            return node

    return ast.unparse(ast.fix_missing_locations(Decorate().visit(ast.parse(source))))


def _padded(source: str) -> str:
    """A `pass` and a stray string after every statement."""
    import ast
    return _after_each_statement(source, lambda: [ast.Pass(), ast.Expr(ast.Constant("checked"))])


def _dead_branches(source: str) -> str:
    """After every statement, a branch never taken and a name assigned to itself (found attacking the above)."""
    import ast
    dead = "if 0:\n    print('unreachable')\nnp = np"
    return "import numpy as np\n" + _after_each_statement(source, lambda: ast.parse(dead).body)


def _after_each_statement(source: str, extra) -> str:
    """The source with the statements `extra()` gives inserted after each of its statements."""
    import ast

    class Pad(ast.NodeTransformer):
        def generic_visit(self, node):
            super().generic_visit(node)
            for name in ("body", "orelse"):
                block = getattr(node, name, None)
                if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                    setattr(node, name, [s for statement in block for s in (statement, *extra())])
            return node

    return ast.unparse(ast.fix_missing_locations(Pad().visit(ast.parse(source))))


# A copy disguised by each rewrite, against its original (similarity 1.0 for a verbatim copy); the figures
# for the reference and the four independent solutions of tests/similarity/, before and after normalising.
SIMILARITY_EVASIONS = {"every_operand_in_parentheses": _parenthesised, "annotations_docstrings_and_augmented_assignments":
                       _decorated, "a_pass_and_a_string_after_every_statement": _padded,
                       "a_dead_branch_and_a_self_assignment_after_every_statement": _dead_branches}


@pytest.mark.parametrize("case", sorted(SIMILARITY_EVASIONS))
def test_cosmetic_rewrites_do_not_hide_a_copy(case):
    """Before (reference and the four independent solutions, each against its disguised copy): parentheses
    0.017 to 0.046, a pass and a string after each statement 0.43 to 0.55, annotations, docstrings and `+=`
    0.65 to 0.75, dead branches and self-assignments 0.44 to 0.55 (0.48 to 0.66 once the first three were
    closed); after: 1.0 each. The independent pairs' highest score: 0.174 before, 0.180 after (mean 0.126, 0.129)."""
    import itertools
    from grader.course.similarity import Document, compare, fingerprints, tokens
    from grader.notebook import Cell

    def document(name: str, source: str) -> Document:
        made = Document(name, [Cell(f"{name}.py", source)])
        kinds, made.places = tokens(made.cells)
        made.prints = fingerprints(kinds)
        return made

    def similarity(a: str, b: str) -> float:
        pairs = compare([document("a", a), document("b", b)], set())
        return pairs[0].similarity if pairs else 0.0

    originals = [ROOT / "solutions" / "perceptron.py", *sorted((ROOT / "tests" / "similarity").glob("perceptron_*.py"))]
    sources = [path.read_text() for path in originals]
    assert min(similarity(source, SIMILARITY_EVASIONS[case](source)) for source in sources) >= 0.95
    assert max(similarity(a, b) for a, b in itertools.combinations(sources, 2)) <= 0.25


# Submissions that look for the reference where a container without bubblewrap leaves it in reach; each starts
# from code that earns nothing (answer() must return 42, work() True).
WRONG = "def answer():\n    return 0\n\ndef work():\n    return False\n"
REACHING = {
    "runs_the_solution_of_the_zip": """
import glob
for _path in glob.glob("/autograder/source/solutions/*.py") + glob.glob("/tmp/*/autograder/source/solutions/*.py"):
    try:
        exec(open(_path).read())
    except OSError:
        pass
""",
    "reads_the_hidden_tests": """
import glob, re
for _path in glob.glob("/tmp/*/autograder/source/assignments/*/tests/hidden/*.py"):
    try:
        _expected = int(re.search(r"== (\\d+)", open(_path).read()).group(1))
        answer, work = (lambda: _expected), (lambda: True)
    except (OSError, AttributeError):
        pass
""",
    "runs_the_reference_sandboxs_code": """
import glob, json
for _path in glob.glob("/tmp/grader-meta-*/cells.json"):
    try:
        for _cell in json.load(open(_path)):
            if "_path" not in _cell["source"]:  # not this submission's own code
                exec(_cell["source"])
    except (OSError, ValueError):
        pass
""",
}


REFERENCE_TESTS = """
import pytest
pytestmark = pytest.mark.question("q")

@pytest.mark.points(1)
def test_answer(submission, reference):
    assert submission.answer() == reference.answer() == 42

@pytest.mark.points(1)
def test_work(submission, reference):
    assert submission.work() is reference.work() is True
"""


@pytest.fixture
def gradescope_root():
    """An /autograder laid out as Gradescope unpacks the zip (source/, submission/, results/), which every user
    may pass through. Tests using it share one xdist group: one machine holds one /autograder, and a second one
    beside it, still readable by all before its run_autograder closes it, is what these attacks look for."""
    folder = Path(tempfile.mkdtemp(prefix="gradescope-", dir="/tmp"))
    folder.chmod(0o755)
    root = folder / "autograder"
    make_assignment(root / "source", REFERENCE_TESTS, TINY_SOLUTION)
    for sub in ("submission", "results"):
        (root / sub).mkdir()
    from grader.release import _template
    (root / "run_autograder").write_text(_template("run_autograder").format(slug="tiny"))
    (folder / "bin").mkdir()
    (folder / "bin" / "python3").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')  # what run_autograder calls
    subprocess.run(["chmod", "-R", "a+rX", str(folder)], check=True)  # as unzipped: readable by all
    (root / "run_autograder").chmod(0o755)
    (folder / "bin" / "python3").chmod(0o755)
    yield root
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def autograde(root: Path, **env) -> tuple[subprocess.CompletedProcess, dict]:
    """Run `run_autograder` on `root` as Gradescope does (as root), with bubblewrap turned off (GRADER_ISOLATION);
    where this interpreter lies under a home folder that only root may pass (/root here), in a mount namespace in
    which any user may pass it, as in a container whose Python any user can run. Its process and results."""
    (root / "results" / "results.json").unlink(missing_ok=True)
    command = [str(root / "run_autograder")]
    top = Path(sys.executable).parents[-3]  # e.g. /root/.pyenv: where the interpreter lies, one below the home folder
    if not top.parent.stat().st_mode & 0o001:  # a tmpfs over the home folder, the interpreter's folder bound back in
        stage = root.parent / "interpreter"
        command = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                   f"mkdir -p {stage} && mount --bind {top} {stage} && mount -t tmpfs -o mode=0755 tmpfs {top.parent} && "
                   f"mkdir {top} && mount --bind {stage} {top} && exec \"$@\"", "sh", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=root,
                          env={**os.environ, "GRADER_ISOLATION": "rlimits", "AUTOGRADER_ROOT": str(root),
                               "PATH": f"{root.parent / 'bin'}{os.pathsep}{os.environ['PATH']}", **env})
    assert (root / "results" / "results.json").exists(), (command, done.returncode, done.stdout + done.stderr)
    return done, json.loads((root / "results" / "results.json").read_text())


@pytest.mark.xdist_group("gradescope-root")
@pytest.mark.skipif(os.getuid() != 0, reason="Gradescope runs the autograder as root")
@pytest.mark.parametrize("case", sorted(REACHING))
def test_the_autograder_keeps_the_reference_out_of_reach_without_bubblewrap(gradescope_root, case):
    """Before: 2 of 2 for each (the solution, the hidden tests and the reference's code were readable by student
    code); after: 0 of 2, the result saying which isolation it ran under; a correct submission still earns 2."""
    (gradescope_root / "submission" / "tiny.py").write_text(WRONG + REACHING[case])
    done, document = autograde(gradescope_root)
    assert done.returncode == 0, done.stderr
    assert document["score"] == 0, document
    assert "Isolation: rlimits" in document["output"] and "readable only by the grader's user" in document["output"]
    (gradescope_root / "submission" / "tiny.py").write_text(TINY_SOLUTION)
    done, document = autograde(gradescope_root)
    assert document["score"] == 2, (done.stderr, document)


@pytest.mark.xdist_group("gradescope-root")
@pytest.mark.skipif(os.getuid() != 0, reason="Gradescope runs the autograder as root")
def test_the_autograder_refuses_to_grade_below_what_the_assignment_asks(gradescope_root):
    """An assignment that asks for bubblewrap, in a container where it does not work: a clear failure."""
    (gradescope_root / "submission" / "tiny.py").write_text(TINY_SOLUTION)
    spec_file = gradescope_root / "source" / "assignments" / "tiny" / "assignment.yaml"
    spec_file.write_text(spec_file.read_text() + "isolation: bubblewrap\n")
    done, document = autograde(gradescope_root)
    assert done.returncode == 1 and "asks for isolation 'bubblewrap'" in done.stderr, done.stderr
    assert document["score"] == 0 and "autograder itself failed" in document["output"]


@pytest.mark.xdist_group("gradescope-root")
def test_the_autograder_refuses_where_student_code_would_run_as_its_own_user(gradescope_root, monkeypatch, capsys):
    from grader import autograder
    from grader.sandbox.launch import Isolation
    monkeypatch.setattr(autograder, "cached_detect", lambda: Isolation("rlimits", own_users=False, warning="w"))
    assert autograder.main(["tiny", str(gradescope_root)]) == 1
    assert "could read the reference solution" in capsys.readouterr().err


NESTED_USERNS = {
    "unshare_in_the_worker": "import ctypes\ndef attempt():\n    return ctypes.CDLL(None).unshare(0x10000000)\n",
    "unshare_in_a_forked_child": """
import ctypes, os
def attempt():
    pid = os.fork()
    if pid == 0:
        os._exit(0 if ctypes.CDLL(None).unshare(0x10000000) == 0 else 1)
    return -1 if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) else 0
""",
}


@requires_bubblewrap
@pytest.mark.parametrize("own_users", [False, True], ids=["userns", "own_user"])
@pytest.mark.parametrize("case", sorted(NESTED_USERNS))
def test_a_submission_cannot_make_a_user_namespace_in_its_sandbox(tmp_path, case, own_users):
    """A sandbox with a user namespace of its own (a grader that is not root: bubblewrap's --disable-userns), and
    one with a user of its own (root: a seccomp filter), each started afresh as grading starts it (the zygote's
    sandboxes: tests/test_zygote.py). Before: unshare(CLONE_NEWUSER) returned 0 in both; after: -1."""
    from grader.proxy import Proxy, Side
    from grader.sandbox.launch import Isolation, Template, refuses_nested_userns
    from conftest import SIDE_LIMITS
    if not own_users and not refuses_nested_userns():
        pytest.skip("this bubblewrap has no --disable-userns")
    if own_users and os.getuid() != 0:
        pytest.skip("a user of its own needs a grader running as root")
    config = {"preload": [], "limits": SIDE_LIMITS, "forbidden": []}
    isolation = Isolation("bubblewrap", own_users=own_users)
    side = Side("submission", lambda: Template(tmp_path, [{"label": "m.py", "source": NESTED_USERNS[case]}], config,
                                               isolation), {}, call_timeout=30)
    try:
        assert Proxy(side).attempt() == -1
    finally:
        side.close()
