"""What an instructor hands out: the student bundle of an assignment, and Gradescope's autograder zip.

Both carry the grader itself as a wheel built here from its source (the package is not on a public
index): the bundle so that a student can install it and run `grader check`, the zip so that Gradescope
installs it in its image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import resources
from pathlib import Path

from grader.course.ci import CI_FILES, install_script, pinned_requirement, workflow
import grader
from grader.papers import plain_handout
from grader.runner import GradingError
from grader.spec import Assignment

BUNDLED = ("assignment.yaml", "handout.md", "starter.py", "starter.ipynb", "tests/conftest.py", "tests/public")
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")
TORCH = "torch==2.13.0"  # the version CI and the README pin
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def release(assignment: Assignment, out: Path, ci: tuple[str, ...] = (), package: str | None = None) -> Path:
    """Write out/<slug>: the handout, starters, spec and public tests, the grader's wheel under dist/, and a
    README with the commands a student runs; hidden tests and solutions stay behind.

    Each CI named in `ci` ("github", "gitlab") gets a workflow that installs the bundle's wheel (or `package`, a
    pinned requirement) with the [student] extra and runs the public tests.
    """
    if package is not None:
        package = pinned_requirement(package)  # before anything is written
    target = out / assignment.slug
    if target.exists():
        shutil.rmtree(target)
    for name in BUNDLED:
        source = assignment.root / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=_SKIP)
        elif source.exists():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    handout = plain_handout(assignment)  # an exam with variants: the plain paper's numbers rendered in
    if handout is not None:
        (target / "handout.md").write_text(handout, encoding="utf-8")
    wheel = build_wheel(target / "dist")
    install = install_script(package or f"{wheel.relative_to(target).as_posix()}[student]", TORCH, CPU_INDEX)
    for kind in ci:
        path, text = workflow(assignment, kind, install)
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_text(text, encoding="utf-8")
    (target / "README.md").write_text(_template("student_readme.md").format(
        title=assignment.title, slug=assignment.slug, wheel=wheel.relative_to(target).as_posix(), torch=TORCH,
        cpu_index=CPU_INDEX, starters=_starters(assignment), accepted=" or ".join(assignment.submission),
        submission=assignment.submission[0], ci=_ci_section(ci, package)))
    return target


def gradescope_zip(assignment: Assignment, zip_path: Path, wheel: Path | None = None, roster: Path | None = None) -> Path:
    """Write the autograder zip Gradescope runs: setup.sh and run_autograder at its root, the assignment with its
    hidden tests under assignments/<slug>, its solution under solutions/, and the grader's wheel under dist/; an
    exam with variants also needs the `roster` (as roster.csv), where each student's paper is found."""
    if assignment.solution is None or not assignment.solution.exists():
        raise GradingError(f"{assignment.slug}: no reference solution at {assignment.solution}; the autograder needs it")
    with tempfile.TemporaryDirectory(prefix="grader-autograder-") as scratch:
        wheel = wheel or build_wheel(Path(scratch))
        scripts = {name: _template(name).format(slug=assignment.slug, wheel=wheel.name, torch=TORCH,
                                                cpu_index=CPU_INDEX)
                   for name in ("setup.sh", "run_autograder")}
        zip_path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in scripts.items():
                info = zipfile.ZipInfo(name)
                info.external_attr = 0o100755 << 16  # executable once Gradescope unpacks it
                archive.writestr(info, text)
            archive.write(wheel, f"dist/{wheel.name}")
            archive.write(assignment.solution, f"solutions/{assignment.solution.name}")
            if roster is not None:
                archive.write(roster, "roster.csv")
            for path in sorted(assignment.root.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    archive.write(path, f"assignments/{assignment.slug}/{path.relative_to(assignment.root).as_posix()}")
    return zip_path


def build_wheel(dest: Path) -> Path:
    """Build the grader's wheel into `dest` from the source it runs from (pyproject.toml beside grader/)."""
    source = Path(grader.__file__).resolve().parent.parent
    if not (source / "pyproject.toml").is_file():
        raise GradingError(f"{source}: no pyproject.toml beside the grader package; release builds the grader's "
                           "wheel, so run it from a checkout of the grader's source")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="grader-wheel-") as scratch:  # build outside the checkout: it stays clean
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(source / name, Path(scratch) / name)
        shutil.copytree(source / "grader", Path(scratch) / "grader", ignore=_SKIP)
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                               "--disable-pip-version-check", "-w", str(dest), scratch],
                              capture_output=True, text=True, env={**os.environ, "PIP_NO_INPUT": "1"})
    wheels = sorted(dest.glob(f"dl_grader-{grader.__version__}-*.whl"))
    if done.returncode != 0 or not wheels:
        raise GradingError(f"building the grader's wheel failed:\n{(done.stdout + done.stderr)[-2000:]}")
    return wheels[-1]


def _starters(assignment: Assignment) -> str:
    """The copy command that turns a starter into a file the spec accepts (starter.ipynb -> <name>.ipynb), one
    line per kind of starter, of which the student runs one."""
    lines = []
    for suffix, kind in ((".ipynb", "a notebook"), (".py", "a module")):
        name = next((n for n in assignment.submission if n.endswith(suffix)), None)
        if name and assignment.starter(suffix).exists():
            lines.append(f"cp starter{suffix} {name}".ljust(34) + f"# {'or, ' if lines else ''}to work in {kind}")
    return "\n".join(lines)


def _ci_section(ci: tuple[str, ...], package: str | None) -> str:
    """The README's part on the workflows the bundle carries (none: nothing)."""
    if not ci:
        return ""
    files = " and ".join(f"`{CI_FILES[kind]}`" for kind in ci)
    source = (f"`{package}`" if package else
              "the wheel under `dist/`: commit that folder with your work (`git add -f dist` where a `.gitignore` "
              "leaves it out)")
    return (f"\n## 4. The same check at every push\n\n{files} run `grader check` on the repository at every push "
            f"and show the result beside the commit. They install torch's CPU build, then the grader from {source}.\n")


def _template(name: str) -> str:
    return resources.files("grader").joinpath("templates", name).read_text(encoding="utf-8")
