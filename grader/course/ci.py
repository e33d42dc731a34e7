"""CI on submissions: the workflow a student bundle carries, and what `grader check` tells GitHub Actions.

`workflow(assignment, kind, install)` is the GitHub Actions workflow or GitLab CI file that installs torch's
CPU build and the grader (the wheel the bundle carries, committed with the starter, or a pinned source the
instructor names) and runs `grader check` on the public tests at every push; under GitLab the JUnit report
it writes is the job's test report. Under GitHub Actions (`GITHUB_ACTIONS=true`) `github_report` appends a job
summary to `$GITHUB_STEP_SUMMARY` and prints `::error` annotations at the lines a message cites.

Everything a student controls is escaped for where it goes: in the summary, HTML's specials become
entities and every other ASCII punctuation character is backslash-escaped, so no Markdown or HTML is
made of it; in an annotation, `%`, CR and LF (and in a property also `:` and `,`) are percent-encoded as
GitHub's workflow commands require. While the grader prints the student's messages to the log, GitHub's
command processing is stopped (`::stop-commands::`), so a message cannot itself be a workflow command.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import string
from pathlib import Path

import yaml

from grader.course.tables import CourseError
from grader.results import GradeResult, points_text
from grader.spec import Assignment

JUNIT_REPORT = "grader-report.xml"
CI_FILES = {"github": ".github/workflows/grader.yml", "gitlab": ".gitlab-ci.yml"}  # where each CI reads its file
_MAX_ANNOTATIONS = 10   # GitHub shows at most 10 error annotations per step
_MESSAGE_LINES = 8
_CITATION = re.compile(r'File "(?P<file>[^"\n]+)", line (?P<line>[0-9]+)'  # a traceback frame of the submission
                       r'|(?P<cell>cell [0-9]+)(?:, line |: \w+ at line )(?P<cell_line>[0-9]+)')  # a notebook's cell


def check_script(assignment: Assignment) -> str:
    """The shell lines that check the repository's submission: the bundle is copied to a folder named by the
    slug (the spec's slug names its folder), and the first submission file present is checked."""
    names = " ".join(assignment.submission)
    return "\n".join([
        f'course="$(mktemp -d)/{assignment.slug}"',
        'mkdir -p "$course"',
        'for item in assignment.yaml handout.md tests; do if [ -e "$item" ]; then cp -R "$item" "$course/"; fi; done',
        f"for name in {names}; do",
        f'  if [ -e "$name" ]; then exec grader check "$course" "$name" --junit {JUNIT_REPORT}; fi',
        "done",
        f'echo "no {" or ".join(assignment.submission)} in the repository: add your work as one of them" >&2',
        "exit 1",
    ]) + "\n"


def install_script(package: str, torch: str, cpu_index: str) -> str:
    """The shell lines that install torch's CPU build, then the grader from `package`: the wheel the bundle carries
    (a path inside it) or a pinned requirement the instructor named (see `pinned_requirement`)."""
    return (f"python -m pip install {torch} --index-url {cpu_index}\n"
            f'python -m pip install "{package}"\n')


def pinned_requirement(package: str) -> str:
    """`package` when it names one build of the grader with the [student] extra, else CourseError: a bare name
    installs whatever a public index serves under it (anyone may register an unclaimed name)."""
    exact = re.fullmatch(r"[A-Za-z0-9._-]+\[[^\]]*\]\s*(==\s*[A-Za-z0-9.+!_-]+|@\s*\S+)", package.strip())
    if exact is None or "student" not in package.partition("]")[0]:
        raise CourseError(f"--ci-package {package!r}: name one build of the grader with its [student] extra, as "
                          "'dl-grader[student]==0.1.0' (on an index you control) or "
                          "'dl-grader[student] @ git+https://example.org/course/grader@v0.1.0'; without "
                          "--ci-package the workflow installs the wheel the bundle carries")
    return package.strip()


def workflow(assignment: Assignment, kind: str, install: str) -> tuple[str, str]:
    """(path in the bundle, text) of the CI file of `kind` ("github" or "gitlab"), whose first step runs the shell
    lines `install` (`install_script`)."""
    script = check_script(assignment)
    if kind == "github":
        document = {
            "name": f"grader check ({assignment.slug})",
            "on": ["push", "pull_request", "workflow_dispatch"],
            "jobs": {"check": {"runs-on": "ubuntu-latest", "steps": [
                {"uses": "actions/checkout@v4"},
                {"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
                {"name": "Install torch's CPU build, then the grader", "run": install},
                {"name": "Run the public tests", "run": script},
            ]}},
        }
    elif kind == "gitlab":
        document = {"grader-check": {"image": "python:3.11", "script": [*install.splitlines(), script],
                                     "artifacts": {"when": "always", "reports": {"junit": JUNIT_REPORT}}}}
    else:
        raise ValueError(f"unknown CI {kind!r} (known: github, gitlab)")
    class Dumper(yaml.SafeDumper):  # scripts of several lines as literal blocks, as people write them
        pass

    path = CI_FILES[kind]
    Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))
    header = f"# Runs the public tests of {assignment.slug} at every push, as `grader check` does on your machine.\n"
    return path, header + yaml.dump(document, Dumper=Dumper, sort_keys=False, width=200)


# ---------------------------------------------------------------------------- GitHub Actions

@contextlib.contextmanager
def commands_stopped(stream):
    """Stop GitHub's workflow-command processing while the block prints (a student's text among it)."""
    token = secrets.token_hex(16)
    print(f"::stop-commands::{token}", file=stream, flush=True)
    try:
        yield
    finally:
        print(f"::{token}::", file=stream, flush=True)


def github_report(result: GradeResult, submission: Path, summary_path: str | None, stream) -> None:
    """Append the job summary (if `summary_path`) and print the annotations for `result` to `stream`."""
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as summary:
            summary.write(summary_markdown(result))
    for annotation in annotations(result, submission)[:_MAX_ANNOTATIONS]:
        print(annotation, file=stream, flush=True)


def summary_markdown(result: GradeResult) -> str:
    """The job summary: the score, a row per question, and each failing test with its message."""
    passed = sum(t.status == "passed" for t in result.tests)
    lines = [f"## {md(result.assignment)}: {md(result.submission)}", ""]
    if result.problem:
        lines += [f"**Not graded**: {md(result.problem)}", ""]
    score = f"{points_text(result.autograded_score)} / {points_text(result.autograded_possible)}"
    lines += [f"**{passed} of {len(result.tests)} tests pass**, {score} points"
              + (" (public tests only: hidden tests run when your work is graded)" if result.public_only else ""), "",
              "| Question | Points |", "| --- | --- |"]
    for question in result.questions:
        points = ("graded by a TA" if question.manual else
                  f"{points_text(question.earned)} / {points_text(question.possible)}")
        lines.append(f"| {md(question.id)} | {points} |")
    failing = [t for t in result.tests if t.status != "passed"]
    if failing:
        lines += ["", "### Tests that fail", ""]
        for test in failing:
            message = test.message.rstrip("\n").split("\n")
            shown = message[:_MESSAGE_LINES] + ([f"... {len(message) - _MESSAGE_LINES} more lines"]
                                                if len(message) > _MESSAGE_LINES else [])
            lines.append(f"- **{md(test.name)}** ({md(test.question)}): {md(chr(10).join(shown))}")
    return "\n".join(lines) + "\n\n"


def annotations(result: GradeResult, submission: Path) -> list[str]:
    """An `::error` per failing test, at the first line of the submission its message cites (else on the file)."""
    found = []
    for test in (t for t in result.tests if t.status != "passed"):
        where = {"file": str(submission)}
        for match in _CITATION.finditer(test.message):
            if match["file"] and Path(match["file"]).name == submission.name:
                where["line"] = match["line"]
            elif match["file"] and submission.is_dir() and (submission / match["file"]).is_file():
                where = {"file": str(submission / match["file"]), "line": match["line"]}
            elif match["cell"] and submission.suffix == ".ipynb":
                where["title_cell"] = f"{match['cell']}, line {match['cell_line']}"
            else:
                continue
            break
        title = f"{test.name}" + (f" ({where.pop('title_cell')})" if "title_cell" in where else "")
        properties = ",".join(f"{key}={escape_property(value)}" for key, value in {**where, "title": title}.items())
        found.append(f"::error {properties}::{escape_data(test.message or test.status)}")
    if result.problem:
        found.insert(0, f"::error file={escape_property(str(submission))},title=not graded::{escape_data(result.problem)}")
    return found


def escape_data(text: str) -> str:
    """A workflow command's message: `%`, CR and LF percent-encoded (GitHub's rule)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: as data, and `:` and `,` percent-encoded too."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


_MARKDOWN = {**{c: "\\" + c for c in string.punctuation}, "&": "&amp;", "<": "&lt;", ">": "&gt;", "\n": "<br>"}


def md(text: str) -> str:
    """Text as inert Markdown: HTML's specials as entities, other punctuation backslash-escaped, lines as <br>."""
    return "".join(_MARKDOWN.get(c, c) for c in text)
