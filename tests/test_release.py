"""What an instructor hands out, used as its users use it: the student bundle (README, the grader's wheel,
`grader check` from inside it, on a machine without a sandbox, installed into a fresh virtual environment)
and Gradescope's autograder zip (run as Gradescope runs it)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from grader import autograder

from conftest import ROOT, make_assignment, solution_source

SCHEMA = json.loads((ROOT / "tests" / "schemas" / "gradescope_results.schema.json").read_text())


def run(command, cwd, **env):
    """Run a command as a user outside this repository would: no GRADER_HOME, this checkout's grader."""
    environment = {k: v for k, v in os.environ.items() if k not in ("GRADER_HOME", "GRADER_ISOLATION")}
    environment.update(PYTHONPATH=str(ROOT), COLUMNS="80", **env)
    return subprocess.run(list(map(str, command)), cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """`grader release backprop --out ... --gradescope ...`, run once: (the bundle, the autograder zip)."""
    out = tmp_path_factory.mktemp("release")
    done = run([sys.executable, "-m", "grader", "release", "backprop", "--out", out, "--gradescope", out / "ag.zip"],
               cwd=ROOT, GRADER_HOME=str(ROOT))
    assert done.returncode == 0, done.stdout + done.stderr
    return out / "backprop", out / "ag.zip"


@pytest.fixture
def bundle(released, tmp_path):
    """A copy of the bundle in a folder of its own, as a student unpacks it."""
    return Path(shutil.copytree(released[0], tmp_path / "backprop"))


def test_the_bundle_says_what_a_student_runs_and_carries_the_grader(bundle):
    readme = (bundle / "README.md").read_text()
    (wheel,) = (bundle / "dist").glob("dl_grader-*-py3-none-any.whl")
    assert f'pip install "dist/{wheel.name}[student]"' in readme
    assert "cp starter.ipynb backprop.ipynb" in readme and "grader check backprop backprop.ipynb" in readme
    assert "pip install torch==2.13.0 --index-url" in readme
    # read top-down, torch's CPU build comes before the wheel that would pull the CUDA build
    assert readme.index("pip install torch==2.13.0 --index-url") < readme.index(f'pip install "dist/{wheel.name}')
    assert "needs Linux" in readme and "wsl --install" in readme and "docker run" in readme
    assert "Run one of these lines, not both" in readme and "whether each written answer was found" in readme
    names = zipfile.ZipFile(wheel).namelist()
    assert "grader/cli.py" in names and "grader/templates/run_autograder" in names
    assert not any(n.startswith(("assignments/", "solutions/", "tests/")) for n in names)
    metadata = next(n for n in names if n.endswith("METADATA"))
    assert "Provides-Extra: student" in zipfile.ZipFile(wheel).read(metadata).decode()


def test_check_from_inside_the_bundle_in_a_plain_subprocess(bundle):
    shutil.copy(bundle / "starter.py", bundle / "backprop.py")
    starter = run([sys.executable, "-m", "grader", "check", "backprop", "backprop.py"], cwd=bundle,
                  GRADER_ISOLATION="process")
    assert starter.returncode == 1, starter.stdout + starter.stderr
    assert "Some public tests fail" in starter.stdout and "isolation: process" in starter.stdout
    assert starter.stdout.count("plain subprocess") == 1 and "advisory" not in starter.stdout
    (bundle / "backprop.py").write_text(solution_source("backprop"))
    reference = run([sys.executable, "-m", "grader", "check", "backprop", "backprop/backprop.py"], cwd=bundle.parent,
                    GRADER_ISOLATION="process")  # from the folder the bundle was unpacked in
    assert reference.returncode == 0, reference.stdout + reference.stderr
    assert "All public tests pass" in reference.stdout


def test_a_public_test_that_imports_a_missing_module_names_it_and_its_install_command(tmp_path):
    folder = make_assignment(tmp_path, "", "def f():\n    return 1\n").root
    (folder / "tests" / "public" / "test_public.py").write_text(
        "import pytest\nimport missing_module_of_the_tests\n\n@pytest.mark.question('q')\n@pytest.mark.points(1)\n"
        "def test_f(submission):\n    assert submission.f() == 1\n")
    (tmp_path / "tiny.py").write_text("def f():\n    return 1\n")
    done = run([sys.executable, "-m", "grader", "check", folder, tmp_path / "tiny.py"], cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "need missing_module_of_the_tests" in done.stderr
    assert "pip install missing_module_of_the_tests" in done.stderr


def test_the_gradescope_zip_grades_as_gradescope_runs_it(released, tmp_path):
    archive = zipfile.ZipFile(released[1])
    names = archive.namelist()
    assert {"setup.sh", "run_autograder", "solutions/backprop.py", "assignments/backprop/assignment.yaml"} <= set(names)
    assert any(n.startswith("assignments/backprop/tests/hidden/test_") for n in names)
    (wheel,) = [n for n in names if n.startswith("dist/dl_grader-")]
    setup = archive.read("setup.sh").decode()
    assert "torch==2.13.0 --index-url" in setup and f"/autograder/source/{wheel}[student]" in setup
    assert stat.S_IMODE(archive.getinfo("run_autograder").external_attr >> 16) == 0o755
    root = tmp_path / "autograder"  # laid out as Gradescope lays it out
    for folder in ("source", "submission", "results"):
        (root / folder).mkdir(parents=True)
    archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    scores, path = {}, _python3_first(tmp_path)
    # the untouched starter notebook uploaded beside the module: the module is graded, and the output says so
    shutil.copy(ROOT / "assignments" / "backprop" / "starter.ipynb", root / "submission" / "backprop.ipynb")
    for name, source in (("starter", (ROOT / "assignments" / "backprop" / "starter.py").read_text()),
                         ("reference", solution_source("backprop"))):
        (root / "submission" / "backprop.py").write_text(source)
        done = run([root / "run_autograder"], cwd=root, AUTOGRADER_ROOT=str(root), PATH=path)
        assert done.returncode == 0, done.stdout + done.stderr
        document = json.loads((root / "results" / "results.json").read_text())
        jsonschema.validate(document, SCHEMA, cls=jsonschema.Draft202012Validator)
        scores[name] = document["score"]
        assert ("graded backprop.py; backprop.ipynb is the starter, unchanged" in document["output"]) == (name == "reference")
        assert len([t for t in document["tests"] if "score" in t]) > 30  # the hidden tests ran too
    assert scores == {"starter": 0, "reference": 94}  # 94 autograded; the other 6 points are a TA's


def test_an_autograder_that_cannot_grade_still_writes_results_that_say_so(tmp_path, capsys):
    (tmp_path / "submission").mkdir()  # no source/: the zip was not unpacked here
    assert autograder.main(["backprop", str(tmp_path)]) == 1
    document = json.loads((tmp_path / "results" / "results.json").read_text())
    jsonschema.validate(document, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert document["score"] == 0 and "autograder itself failed" in document["output"]
    assert "no assignment" in capsys.readouterr().err  # for the instructor, in Gradescope's stdout


def _python3_first(tmp_path: Path) -> str:
    """PATH with this interpreter as python3, which run_autograder calls."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "python3").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')  # its sys.executable: the real one
    (folder / "python3").chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def test_a_student_installs_the_bundle_into_a_fresh_environment_and_checks(bundle, tmp_path):
    """The bundle's own instructions, outside this repository, in a fresh virtual environment that sees the system's
    packages (so torch is the one already installed and no CUDA build is downloaded), without the network."""
    venv = tmp_path / "venv"
    # without pip of its own (this pip installs into it), so no older setuptools hides the system's
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], check=True,
                   timeout=300)
    python = venv / "bin" / "python"
    (wheel,) = (bundle / "dist").glob("*.whl")
    plain = {k: v for k, v in os.environ.items() if k not in ("GRADER_HOME", "PYTHONPATH", "GRADER_ISOLATION")}

    def pip(*args):
        return subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-index",
                               "--disable-pip-version-check", *args], cwd=bundle, env=plain, capture_output=True,
                              text=True, timeout=600)

    done = pip("--force-reinstall", "--no-deps", wheel)  # into the environment, though the system has the grader
    assert done.returncode == 0, done.stdout + done.stderr
    done = pip(f"{wheel}[student]")  # the README's command: the extra's dependencies must be there
    if done.returncode != 0 and "No matching distribution" in done.stderr:
        pytest.skip(f"a dependency of the student install is missing here and there is no index: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stdout + done.stderr
    where = subprocess.run([python, "-c", "import grader; print(grader.__file__)"], cwd=tmp_path, env=plain,
                           capture_output=True, text=True)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
    grader = venv / "bin" / "grader"
    shutil.copy(bundle / "starter.ipynb", bundle / "backprop.ipynb")
    starter = subprocess.run([grader, "check", "backprop", "backprop.ipynb"], cwd=bundle, env={**plain, "COLUMNS": "80"},
                             capture_output=True, text=True, timeout=600)
    assert starter.returncode == 1, starter.stdout + starter.stderr
    assert "public tests 0 of" in starter.stdout and "NotImplementedError" in starter.stdout
    (bundle / "backprop.py").write_text(solution_source("backprop"))
    reference = subprocess.run([grader, "check", "backprop", "backprop.py"], cwd=bundle, env=plain,
                               capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0 and "All public tests pass" in reference.stdout, reference.stdout + reference.stderr


def test_a_module_a_test_imports_when_it_runs_is_a_grading_error_never_a_lost_point(tmp_path):
    folder = make_assignment(tmp_path, "", "def f():\n    return 1\n").root
    (folder / "tests" / "public" / "test_public.py").write_text(
        "import pytest\n\n@pytest.mark.question('q')\n@pytest.mark.points(1)\n"
        "def test_f(submission):\n    import sklearn_is_not_here.datasets\n    assert submission.f() == 1\n\n"
        "@pytest.mark.question('q')\n@pytest.mark.points(1)\n"
        "def test_g(submission):\n    assert submission.f() == 1\n")
    (tmp_path / "tiny.py").write_text("import not_installed_either\n\ndef f():\n    return 1\n")
    for command in ("check", "grade"):
        done = run([sys.executable, "-m", "grader", command, folder, tmp_path / "tiny.py"], cwd=tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr and "points" not in done.stdout
        assert "need sklearn_is_not_here, which is not installed here" in done.stderr
        assert "pip install sklearn_is_not_here" in done.stderr and "not_installed_either" not in done.stderr
    # the student's own missing import is the student's: a load error and lost points, not a grading error
    (folder / "tests" / "public" / "test_public.py").write_text(
        "import pytest\n\n@pytest.mark.question('q')\n@pytest.mark.points(1)\n"
        "def test_f(submission):\n    assert submission.f() == 1\n")
    done = run([sys.executable, "-m", "grader", "check", folder, tmp_path / "tiny.py"], cwd=tmp_path)
    assert done.returncode == 1 and "not_installed_either" in done.stdout
