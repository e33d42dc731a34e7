"""Grade one submission: prepare it, start the sandboxes, run the tests under pytest, build the result.

The sandboxes start before pytest and the tests' modules are imported, so the two overlap: this module
imports them only where they are used.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import grader
from grader.atomic import write_atomic
from grader.notebook import Cell
from grader.results import GradeResult, QuestionResult
from grader.isolation_cache import cached_detect
from grader.sandbox.launch import Isolation, Template, Zygote
from grader.sandbox.space import remove_tree
from grader.spec import Assignment
from grader.submission import Prepared, prepare
from grader.variants import Paper, Variant

if TYPE_CHECKING:
    from grader.plugin import BeforeHidden, GraderPlugin
    from grader.proxy import Side
    from grader.refcache import ReferenceCache


class GradingError(Exception):
    """The assignment itself is broken (its tests do not collect); not the student's fault."""


def grade(assignment: Assignment, path: Path, public_only: bool = False, isolation: Isolation | None = None,
          log: io.StringIO | None = None, feedback: Path | None = None,
          deliver: Callable[[GradeResult], None] | None = None,
          adjust: Callable[[GradeResult], None] | None = None,
          reference_cache: ReferenceCache | None = None, variant: Variant | None = None,
          reference_sandbox: Template | None = None, select: tuple[str, ...] = (),
          zygote: Zygote | None = None, warm_up: bool = False) -> GradeResult:
    """Grade the submission at `path` against the assignment's tests (those named in `select` alone, when
    given); never raises for bad student input.

    An exam with variants grades it as the paper of `variant` (its owner's: grader.variants.for_submission),
    or of the plain paper where none is given, and the result says which.

    With a `reference_cache` (a batch's), repeated plain calls of the reference are answered from it. With a
    `reference_sandbox` (a batch job's warm one, see `reference_template`), the reference's workers are forked
    from it, and it is left running. The sandboxes are forked from `zygote` (a batch job's), else from one of
    this call's own where the machine allows it (`Zygote.available`), else each started afresh. A batch job's
    `warm_up` grading also imports what the tests draw figures with.
    The result is complete (and `adjust`ed: a late penalty is set there), and handed to `deliver` (which
    writes it wherever it goes) and written as the feedback report (HTML) at `feedback`, before anything is
    cleaned up; clean-up never raises.
    """
    isolation = isolation or cached_detect()
    if not isolation.meets(assignment.isolation):
        raise GradingError(f"{assignment.slug} asks for isolation {assignment.isolation!r} (assignment.yaml), and this "
                           f"machine gives {isolation.describe()}: {isolation.warning or 'nothing more'}")
    started = time.monotonic()
    paper = Paper.of(assignment, variant)
    assignment = paper.assignment
    workdir = Path(tempfile.mkdtemp(prefix="grader-submission-"))
    refdir = Path(tempfile.mkdtemp(prefix="grader-reference-"))
    sides: list[Side] = []
    early: Template | None = None
    own_zygote = zygote_for(assignment, isolation) if zygote is None else None
    zygote = zygote or own_zygote
    try:
        reference = _reference_side(assignment, refdir, isolation, reference_cache, public_only, paper.prelude,
                                    zygote)
        if reference is not None:
            sides.append(reference)
            if reference_sandbox is not None and reference_sandbox.alive():
                reference.template = reference.borrowed = reference_sandbox
        early = Template(workdir, None, _sandbox_config(assignment), isolation, zygote)  # preloads meanwhile
        prepared = prepare(Path(path), assignment.submission, workdir, assignment.forbidden,
                           assignment.forbidden_advisory, answers=tuple(q.id for q in assignment.questions if q.manual),
                           starters=assignment.starters)
        problem = None if prepared.runnable else prepared.problem or _violation_message(prepared)
        submission = None
        if prepared.runnable:
            submission = _side("submission", assignment, workdir, prepared.cells, isolation,
                               as_main=prepared.kind == "notebook", budget=assignment.limits.total_timeout,
                               started=early, prelude=paper.prelude, zygote=zygote)
            sides.append(submission)
        from grader.plugin import GraderPlugin  # imports pytest and numpy: while the sandboxes start

        plugin = GraderPlugin(assignment, submission, reference, problem, paper.variant, paper.key, warm_up)
        run_pytest(assignment, plugin, public_only, log, select=select)
        result = _result(assignment, prepared, plugin, isolation, submission, public_only, time.monotonic() - started)
        paper.record(result, plugin.answers, submission)
        if adjust is not None:
            adjust(result)
        if feedback is not None:
            from grader.reports.feedback import to_feedback_html

            feedback.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(feedback, to_feedback_html(result, prepared.cells).encode())
        if deliver is not None:
            deliver(result)
        return result
    finally:
        closers = [side.close for side in sides]
        if early is not None and not any(side.template is early for side in sides):
            closers.append(early.close)  # the submission could not run, or its side replaced this sandbox
        _close_all(closers)
        if own_zygote is not None:
            own_zygote.close()
        remove_tree(workdir)
        remove_tree(refdir)


def _close_all(closers: list[Callable[[], None]]) -> None:
    """Run the closers at once: each waits for a sandbox's processes to go. None of them raises."""
    threads = [threading.Thread(target=close) for close in closers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# pytest's own plugins that grading has no use for; unraisableexception alone costs five full garbage
# collections (about 0.7 s with torch loaded) at the end of every session
_UNUSED_PLUGINS = [arg for name in ("unraisableexception", "threadexception", "faulthandler", "doctest", "junitxml",
                                    "pastebin", "stepwise", "nose", "setuponly", "setupplan", "debugging")
                   for arg in ("-p", f"no:{name}")]


def run_pytest(assignment: Assignment, plugin, public_only: bool = False, log: io.StringIO | None = None,
               collect_only: bool = False, select: tuple[str, ...] = ()) -> None:
    """Run (or only collect) the assignment's tests in this process with `plugin` registered (only the test
    functions named in `select`, when given)."""
    import pytest
    from _pytest.assertion.rewrite import AssertionRewritingHook

    folders = [str(f) for f in suite_folders(assignment, public_only)]
    if not folders:
        raise GradingError(f"{assignment.root / 'tests'}: no public/ or hidden/ test folder")
    with tempfile.TemporaryDirectory() as scratch:
        ini = Path(scratch) / "pytest.ini"
        ini.write_text("[pytest]\n")
        args = [*folders, "-c", str(ini), "--rootdir", str(assignment.root), "--confcutdir", str(assignment.root),
                "--import-mode=importlib", "-p", "no:cacheprovider", "-q", "-rN", "--tb=no", "-o", "python_files=test_*.py",
                "--assert=plain",  # a failed assert says what its message says, nothing of the test's values
                *_UNUSED_PLUGINS]
        if collect_only:
            args.append("--collect-only")
        if select:
            args += ["-k", " or ".join(select)]
        output = log if log is not None else io.StringIO()
        saved = {k: os.environ.pop(k) for k in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")
                 if k in os.environ}
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the grader's plugin only: no third-party one loads
        os.environ.setdefault("MPLBACKEND", "Agg")  # figures the tests draw are rendered off screen
        bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # keep the assignment folders clean
        meta_path = list(sys.meta_path)  # a pytest around this one must not rewrite the assignment's asserts either
        sys.meta_path[:] = [f for f in meta_path if not isinstance(f, AssertionRewritingHook)]
        modules = set(sys.modules)
        try:
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                code = pytest.main(args, plugins=[plugin])
        finally:
            _forget_test_modules(assignment, set(sys.modules) - modules)
            del os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"]
            os.environ.update(saved)
            sys.dont_write_bytecode = bytecode
            sys.meta_path[:] = meta_path
    if plugin.assignment_errors:  # a test that cannot import what it needs would silently cost the student points
        raise GradingError(_assignment_error(assignment, plugin.assignment_errors))
    if code == pytest.ExitCode.INTERRUPTED:  # not by the tests (they collected): stopped from outside, e.g. Ctrl-C
        raise KeyboardInterrupt(f"grading {assignment.slug} was interrupted")
    if code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        raise GradingError(f"the tests of {assignment.slug} could not be run:\n{output.getvalue()[-3000:]}")
    if not plugin.items:
        raise GradingError(f"no tests were collected for {assignment.slug}:\n{output.getvalue()[-3000:]}")


_MISSING_MODULE = re.compile(r"No module named '([\w.]+)'")
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "yaml": "pyyaml", "PIL": "pillow", "cv2": "opencv-python"}


def _assignment_error(assignment: Assignment, errors: list[str]) -> str:
    """Why the tests could not run: a missing module is named with the command that installs it."""
    missing = sorted({match.group(1).split(".")[0] for error in errors for match in _MISSING_MODULE.finditer(error)})
    if missing:
        return (f"the tests of {assignment.slug} need {', '.join(missing)}, which is not installed here; install it "
                f"with: pip install {' '.join(_DISTRIBUTIONS.get(name, name) for name in missing)}")
    return f"the tests of {assignment.slug} could not be loaded:\n" + "\n".join(error[-1500:] for error in errors)


def tests_digest(assignment: Assignment, public_only: bool = False) -> str:
    """sha256 of the test files a grading runs (names and contents): a stored result is stale once it changes."""
    digest = hashlib.sha256()
    for path in _suite_files(assignment, public_only):
        digest.update(path.relative_to(assignment.root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def suite_folders(assignment: Assignment, public_only: bool = False) -> list[Path]:
    """The test folders a grading runs: public/, and hidden/ unless only the public tests run."""
    folders = [assignment.public_tests] + ([] if public_only else [assignment.hidden_tests])
    return [folder for folder in folders if folder.is_dir()]


def _suite_files(assignment: Assignment, public_only: bool) -> list[Path]:
    return [path for folder in suite_folders(assignment, public_only)
            for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)]


_ASKS_FOR_REFERENCE = re.compile(rb"\bdef\s+\w+\s*\([^)]*\breference\b")


def _asks_for_reference(assignment: Assignment, public_only: bool) -> bool:
    """Whether a test module defines a test or fixture with a `reference` parameter. Only a hint, to start the
    reference's sandbox beside the submission's: a test that asks for it otherwise starts it when it runs."""
    return any(_ASKS_FOR_REFERENCE.search(path.read_bytes())
               for path in _suite_files(assignment, public_only) if path.suffix == ".py")


def _forget_test_modules(assignment: Assignment, names: set[str]) -> None:
    """Drop the assignment's test modules and conftests from `names` (those imported by one run): pytest
    would reuse a module of the same name in the next run, and every assignment names its tests alike."""
    root = str(assignment.root) + os.sep
    for name in names:
        if (getattr(sys.modules.get(name), "__file__", None) or "").startswith(root):
            del sys.modules[name]


def worker_limits(assignment: Assignment) -> dict:
    limits = assignment.limits
    return {"memory_mb": limits.memory_mb, "cpu_seconds": int(limits.total_timeout) + 30,
            "file_size_mb": limits.file_size_mb, "processes": limits.processes, "disk_mb": limits.disk_mb,
            "files": limits.files}


def _sandbox_config(assignment: Assignment, forbidden: bool = True) -> dict:
    forbidden_modules = list(assignment.forbidden) if forbidden else []
    return {"preload": [m for m in assignment.preload if m not in forbidden_modules],
            "limits": worker_limits(assignment), "forbidden": forbidden_modules}


def _side(name: str, assignment: Assignment, workdir: Path, cells: list[Cell], isolation: Isolation,
          as_main: bool, budget: float | None, forbidden: bool = True, start: bool = True,
          started: Template | None = None, prelude: Cell | None = None, zygote: Zygote | None = None,
          **extra) -> Side:
    """A side whose sandbox starts now, while pytest loads and collects, where `start` says so (the
    reference's when the tests ask for it), else when a test first calls it; or that takes over the
    sandbox `started` before its code was known (the submission's). A `prelude` cell runs before the code."""
    config = _sandbox_config(assignment, forbidden)
    payload = [{"label": c.label, "source": c.source} for c in ([prelude] if prelude else []) + list(cells)]
    if started is not None:
        started.load(payload)
    template = started or (Template(workdir, payload, config, isolation, zygote) if start else None)
    from grader.proxy import Side  # imports numpy: once the sandbox has started
    from grader.refcache import CachedSide

    slack = 1 if budget else 3  # the reference has no budget and three times the limits
    kind = CachedSide if extra.get("cache") is not None else Side
    side = kind(name, lambda: Template(workdir, payload, config, isolation, zygote), {"as_main": as_main},
                call_timeout=slack * assignment.limits.call_timeout, budget=budget,
                call_timeouts={n: slack * t for n, t in assignment.limits.call_timeouts}, **extra)
    side.template = template
    return side


def _reference_side(assignment: Assignment, refdir: Path, isolation: Isolation,
                    cache: ReferenceCache | None = None, public_only: bool = False,
                    prelude: Cell | None = None, zygote: Zygote | None = None) -> Side | None:
    """The reference solution in a sandbox of its own; None where it is not available (a student's copy).

    Its sandbox starts at once where the tests ask for it, except in a batch (with a `cache`), where most of
    its answers come from the cache and a test that needs it starts it."""
    if assignment.solution is None or not assignment.solution.exists():
        return None
    cells = [Cell(label=assignment.solution.name, source=assignment.solution.read_text())]
    extra = {"cache": cache} if cache is not None else {}
    start = cache is None and _asks_for_reference(assignment, public_only)
    return _side("reference", assignment, refdir, cells, isolation, as_main=False, budget=None, forbidden=False,
                 start=start, prelude=prelude, zygote=zygote, **extra)


def zygote_for(assignment: Assignment, isolation: Isolation) -> Zygote | None:
    """A zygote for the assignment's sandboxes, where the machine allows one (see Zygote.available)."""
    return Zygote(_sandbox_config(assignment)) if Zygote.available(isolation) else None


def reference_template(assignment: Assignment, folder: Path, public_only: bool = False,
                       zygote: Zygote | None = None) -> Template | None:
    """A sandbox of the reference, up and with its imports done, for a batch job to lend to its gradings one at a
    time (each forks its reference's workers from it; no student code ever runs in it); None where the tests do
    not ask for the reference or it is not available. `folder`: an empty folder that outlives it."""
    if assignment.solution is None or not assignment.solution.exists() or not _asks_for_reference(assignment,
                                                                                                   public_only):
        return None
    cells = [{"label": assignment.solution.name, "source": assignment.solution.read_text()}]
    template = Template(folder, cells, _sandbox_config(assignment, forbidden=False), cached_detect(), zygote)
    template.ready()
    return template


def _violation_message(prepared: Prepared) -> str | None:
    if not prepared.violations:
        return None
    return "the submission uses forbidden APIs, so it was not run:\n" + "\n".join(prepared.violations)


def _load_report(submission: Side | None, before_hidden: BeforeHidden | None) -> dict:
    """The load's errors and output; while hidden results are held back, those reported after the first hidden
    test began are kept apart (held_load_errors)."""
    if submission is None:
        return {}
    reported = list(submission.load_errors)
    if before_hidden is None:
        return {"load_errors": reported, "load_output": submission.load_output}
    return {"load_errors": list(before_hidden.load_errors), "load_output": before_hidden.load_output,
            "held_load_errors": [e for e in reported if e not in before_hidden.load_errors]}


def _result(assignment: Assignment, prepared: Prepared, plugin: GraderPlugin, isolation: Isolation,
            submission: Side | None, public_only: bool, elapsed: float) -> GradeResult:
    from grader.exam import answer_variable, misplaced

    tests = list(plugin.results.values())
    before_hidden = plugin.before_hidden
    questions = []
    for q in assignment.questions:
        mine = [t for t in tests if t.question == q.id]
        if q.manual:
            found = prepared.answers.get(q.id, "")  # a free-text answer set as a string wins over the cell that sets it
            variable = before_hidden.answers.get(q.id, "") if before_hidden else answer_variable(q, submission)
            answer = (variable or found) if q.type == "free_text" else found
            questions.append(QuestionResult(q.id, q.title, q.points, 0.0, manual=True,
                                            rubric=[item.label for item in q.rubric], answer=answer))
        elif mine or not public_only:
            questions.append(QuestionResult(q.id, q.title, round(sum(t.points for t in mine), 6),
                                            round(sum(t.earned for t in mine), 6)))
    load = _load_report(submission, before_hidden)
    held = assignment.hidden_results == "after_release"
    return GradeResult(
        assignment=assignment.slug, assignment_version=assignment.version, toolkit_version=grader.__version__,
        submission=prepared.name, file=prepared.file, submission_sha256=prepared.sha256, isolation=isolation.level, tests=tests,
        questions=questions, score_cap=assignment.score_cap,
        warnings=prepared.notes + isolation.notes() + prepared.advisories + misplaced(prepared.cells, assignment),
        **load, execution_time=round(elapsed, 3), public_only=public_only, problem=plugin.problem or "",
        hidden_held_back=held,
        code=[{"label": cell.label, "source": cell.source} for cell in prepared.cells],
        tests_digest=tests_digest(assignment, public_only), seed=assignment.seed,
        standing=_standing(prepared, load.get("load_errors", []),
                           [t for t in tests if not (held and t.visibility == "hidden")]))


def _standing(prepared: Prepared, errors: list[str], tests: list) -> str:
    """Whether the submission's code ran, in the words a TA acts on: graded, not submitted (nothing, or the starter
    unchanged), refused, did not load;
    from what the student may see (the load's errors reported before any hidden test, the tests shown)."""
    if prepared.violations:
        return f"refused: uses a forbidden package ({prepared.violations[0]})"
    if prepared.problem:
        missing = "found no" in prepared.problem or "no such file" in prepared.problem
        return ("not submitted: " if missing else "did not load: ") + prepared.problem
    if prepared.unchanged:
        return f"not submitted: {prepared.file} is the starter, unchanged"
    unloaded = [t.message for t in tests if t.message.startswith(_NOT_LOADED)]
    if tests and len(unloaded) == len(tests):
        return "did not load: " + unloaded[0][len(_NOT_LOADED):].split("\n")[0]
    if errors and not any(t.status == "passed" for t in tests):
        return "did not load: " + errors[0].splitlines()[0]
    return "graded"


_NOT_LOADED = "the submission could not be loaded: "
