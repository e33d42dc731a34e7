"""CI on submissions: the workflows `grader release --ci` writes, run as each CI runs them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
import xml.etree.ElementTree as ET

import nbformat
import yaml

from grader.course.ci import escape_data, escape_property, md
from grader.notebook import from_percent_script

from conftest import ROOT, solution_source

HOSTILE = '::warning::fake\\n# Heading <script>x</script> | [a](http://e.vil) 100%'


def release(tmp_path):
    """The perceptron bundle with both workflows, and a fresh virtual environment to run their steps in.

    The environment sees this machine's packages (torch is not downloaded again) but none of this checkout: the
    grader the steps use is the one they install, from the wheel the bundle carries. pip is this machine's (a
    venv's own, older setuptools would shadow what torch needs) and may not reach an index: every requirement
    the steps name is on this machine or in the bundle, so a step that downloads anything fails here."""
    done = subprocess.run([sys.executable, "-m", "grader", "release", "perceptron", "--out", tmp_path / "release",
                           "--ci", "github", "--ci", "gitlab"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    repository = tmp_path / "release" / "perceptron"
    venv.create(tmp_path / "venv", system_site_packages=True, with_pip=False)
    env = {"PATH": f"{tmp_path / 'venv' / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp_path), "COLUMNS": "120",
           "CI": "true", "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return repository, env


def run(script: str, repository, env):
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=repository,
                          env=env, capture_output=True, text=True, timeout=300)


def run_steps(scripts: list[str], repository, env) -> subprocess.CompletedProcess:
    """Run each step's shell lines in order, as the CI does: the first that fails ends the job."""
    for script in scripts:
        done = run(script, repository, env)
        if done.returncode != 0:
            break
    return done


def installs_the_bundled_wheel(lines: list[str], repository, env) -> None:
    """The install lines are torch's CPU build then the bundle's wheel, and the steps use the grader they install."""
    (wheel,) = (repository / "dist").glob("dl_grader-*.whl")
    assert lines == ["python -m pip install torch==2.13.0 --index-url "
                                       "https://download.pytorch.org/whl/cpu",
                                       f'python -m pip install "dist/{wheel.name}[student]"']
    where = run('command -v grader; python -c "import grader, sklearn; print(grader.__file__)"', repository, env)
    assert where.stdout.startswith(env["PATH"].split(":")[0]) and str(ROOT) not in where.stdout, where.stdout


def test_github_workflow_writes_an_escaped_summary_and_annotations_at_the_cited_line(tmp_path):
    repository, env = release(tmp_path)
    workflow = yaml.safe_load((repository / ".github" / "workflows" / "grader.yml").read_text())
    steps = workflow["jobs"]["check"]["steps"]
    assert workflow["on"] == ["push", "pull_request", "workflow_dispatch"]  # quoted: YAML 1.1 would read on as true
    assert [step.get("uses") for step in steps[:2]] == ["actions/checkout@v4", "actions/setup-python@v5"]
    scripts = [step["run"] for step in steps if "run" in step]
    source = solution_source("perceptron").replace(
        "    inhibitory = np.asarray(inhibitory, dtype=bool)\n", f'    raise ValueError("{HOSTILE}")\n', 1)
    (repository / "perceptron.py").write_text(source)
    line = source.splitlines().index(f'    raise ValueError("{HOSTILE}")') + 1
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    env = {**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_WORKSPACE": str(repository)}
    done = run_steps(scripts, repository, env)
    installs_the_bundled_wheel(scripts[0].splitlines(), repository, env)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    token = re.search(r"^::stop-commands::([0-9a-f]{32})$", out, re.MULTILINE)[1]
    stopped, _, after = out.partition(f"::stop-commands::{token}")[2].partition(f"\n::{token}::\n")
    assert "ValueError: ::warning::fake" in stopped and "Some public tests fail" in stopped  # shown, not obeyed
    annotations = [text for text in after.splitlines() if text.startswith("::")]
    assert annotations == [
        f"::error file=perceptron.py,line={line},title=public/test_perceptron_public.py%3A%3Atest_mp_neuron_two_inputs"
        + annotations[0].partition("test_mp_neuron_two_inputs")[2]]
    message = annotations[0].partition("::error ")[2].partition("::")[2]
    assert "%0A" in message and "100%25" in message and "\n" not in message
    assert (repository / "grader-report.xml").is_file()  # the --junit of the workflow's command

    text = summary.read_text()
    assert text.startswith("earlier step\n## perceptron: perceptron\\.py")  # appended, as GitHub expects
    assert "**13 of 14 tests pass**" in text and "| mp\\_neuron | 0 / 3 |" in text and "| proof | graded by a TA |" in text
    assert "<script>" not in text and "&lt;script&gt;x&lt;\\/script&gt;" in text
    assert "\\[a\\]\\(http\\:\\/\\/e\\.vil\\)" in text and "<br>\\# Heading" in text and "\n# Heading" not in text


def test_gitlab_job_declares_the_junit_report_and_a_correct_notebook_passes(tmp_path):
    repository, env = release(tmp_path)
    job = yaml.safe_load((repository / ".gitlab-ci.yml").read_text())["grader-check"]
    assert job["artifacts"] == {"when": "always", "reports": {"junit": "grader-report.xml"}}
    env = {**env, "GITLAB_CI": "true"}
    missing = run_steps(job["script"], repository, env)
    installs_the_bundled_wheel(job["script"][:2], repository, env)
    assert missing.returncode == 1 and "no perceptron.ipynb or perceptron.py in the repository" in missing.stderr
    nbformat.write(from_percent_script(solution_source("perceptron")), repository / "perceptron.ipynb")
    done = run_steps(job["script"], repository, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All public tests pass" in done.stdout and "::" not in done.stdout
    suites = ET.parse(repository / "grader-report.xml").getroot()
    assert suites.get("failures") == "0" and int(suites.get("tests")) > 0


def test_a_ci_package_must_name_one_build_with_the_student_extra(tmp_path):
    for unpinned in ("dl-grader", "dl-grader==0.1.0", "dl-grader[student]>=0.1"):
        done = subprocess.run([sys.executable, "-m", "grader", "release", "perceptron", "--out", tmp_path,
                               "--ci", "github", "--ci-package", unpinned], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 2 and "[student] extra" in done.stderr and not any(tmp_path.iterdir())
    pinned = "dl-grader[student] @ git+https://example.org/course/grader@v0.1.0"
    done = subprocess.run([sys.executable, "-m", "grader", "release", "perceptron", "--out", tmp_path, "--ci", "gitlab",
                           "--ci-package", pinned], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    script = yaml.safe_load((tmp_path / "perceptron" / ".gitlab-ci.yml").read_text())["grader-check"]["script"]
    assert script[1] == f'python -m pip install "{pinned}"'


def test_escaping_rules():
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert md("<b>*x*</b> & [l](u) | `c` @you\nnext") == (
        "&lt;b&gt;\\*x\\*&lt;\\/b&gt; &amp; \\[l\\]\\(u\\) \\| \\`c\\` \\@you<br>next")
