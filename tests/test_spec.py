"""grader.spec: assignment.yaml is validated on load, every error naming the file and the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from grader import spec
from grader.spec import SpecError

VALID = {
    "slug": "demo",
    "title": "A demo assignment",
    "version": "1.2.0",
    "submission": ["demo.ipynb", "demo.py"],
    "seed": 42,
    "limits": {"call_timeout": 5, "total_timeout": 60, "memory_mb": 512, "processes": 4, "file_size_mb": 8},
    "forbidden": ["torch", "jax"],
    "preload": ["numpy"],
    "score_cap": 12,
    "questions": [
        {"id": "forward", "title": "Forward pass", "points": 10},
        {"id": "essay", "title": "Explain", "points": 5, "manual": True, "rubric": ["3 points: a", "2 points: b"]},
    ],
}


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("GRADER_HOME", str(tmp_path))
    (tmp_path / "assignments" / "demo").mkdir(parents=True)
    return tmp_path


def write(home: Path, data, slug: str = "demo") -> Path:
    folder = home / "assignments" / slug
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "assignment.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def spec_error(home: Path, data) -> str:
    path = write(home, data)
    with pytest.raises(SpecError) as info:
        spec.load("demo")
    message = str(info.value)
    assert message.startswith(f"{path.resolve()}: ") or message.startswith(f"{path}: "), message
    return message


def test_valid_spec_loads(home):
    write(home, VALID)
    assignment = spec.load("demo")
    assert assignment.slug == "demo" and assignment.title == "A demo assignment" and assignment.version == "1.2.0"
    assert assignment.submission == ("demo.ipynb", "demo.py")
    assert assignment.root == (home / "assignments" / "demo").resolve()
    assert assignment.spec_path == assignment.root / "assignment.yaml"
    assert assignment.public_tests == assignment.root / "tests" / "public"
    assert assignment.hidden_tests == assignment.root / "tests" / "hidden"
    assert assignment.solution == home.resolve() / "solutions" / "demo.py"
    assert assignment.limits == spec.Limits(call_timeout=5, total_timeout=60, memory_mb=512, processes=4, file_size_mb=8)
    assert assignment.forbidden == ("torch", "jax") and assignment.preload == ("numpy",) and assignment.seed == 42
    assert [q.id for q in assignment.questions] == ["forward", "essay"]
    essay = assignment.question("essay")
    assert essay.manual and essay.rubric == ("3 points: a", "2 points: b") and essay.points == 5
    assert not assignment.question("forward").manual
    assert assignment.question("nope") is None
    assert assignment.total_points == 15 and assignment.score_cap == 12 and assignment.max_score == 12


def test_minimal_spec_gets_defaults(home):
    write(home, {"slug": "demo", "title": "T", "submission": ["demo.py"],
                 "questions": [{"id": "q", "title": "Q", "points": 2.5}]})
    assignment = spec.load("demo")
    assert assignment.limits == spec.Limits()
    assert assignment.forbidden == () and assignment.preload == ("numpy", "torch") and assignment.seed == 0
    assert assignment.score_cap is None and assignment.max_score == 2.5 and assignment.version == "0"


def test_cap_above_total_does_not_raise_max_score(home):
    write(home, {**VALID, "score_cap": 100})
    assert spec.load("demo").max_score == 15


def test_load_by_folder_path_and_parse_directly(home, tmp_path):
    write(home, VALID)
    folder = home / "assignments" / "demo"
    assert spec.load(folder).slug == "demo"
    assert spec.parse(copy.deepcopy(VALID), folder).questions[0].points == 10


def test_missing_assignment_lists_the_known_ones(home):
    write(home, VALID)
    with pytest.raises(SpecError, match=r"no assignment 'other': .*assignment\.yaml does not exist \(known: demo\)"):
        spec.load("other")


def test_project_root_without_grader_home(tmp_path, monkeypatch):
    monkeypatch.delenv("GRADER_HOME", raising=False)
    (tmp_path / "assignments").mkdir()
    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep" / "er")
    assert spec.project_root() == tmp_path.resolve()


def _without(data: dict, key: str) -> dict:
    data = copy.deepcopy(data)
    del data[key]
    return data


def _with(path: str, value) -> dict:
    """VALID with one key (dotted, list indices as numbers) set to value."""
    data = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    target = data
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize("data,key_and_reason", [
    (_without(VALID, "slug"), "slug must be a non-empty string, got None"),
    (_with("slug", ""), "slug must be a non-empty string"),
    (_with("slug", "other"), "slug is 'other' but the folder is named 'demo'"),
    (_without(VALID, "title"), "title must be a non-empty string"),
    (_with("colour", "blue"), "colour is not a known key"),
    (_with("limits.cpu_seconds", 3), "limits.cpu_seconds is not a known key"),
    (_with("limits.memory_mb", 0), "limits.memory_mb must be a positive number, got 0"),
    (_with("limits.call_timeout", -1), "limits.call_timeout must be a positive number, got -1"),
    (_with("limits.call_timeout", "20s"), "limits.call_timeout must be a positive number, got '20s'"),
    (_with("limits.processes", True), "limits.processes must be a positive number, got True"),
    (_with("limits", [1, 2]), "limits must be a mapping"),
    (_with("questions.1.weight", 2), "questions[1].weight is not a known key"),
    (_with("questions.1.points", 0), "questions[1].points must be a positive number, got 0"),
    (_with("questions.0.points", -3), "questions[0].points must be a positive number, got -3"),
    (_with("questions.1.points", "ten"), "questions[1].points must be a positive number, got 'ten'"),
    (_with("questions.1", {"id": "essay", "title": "E"}), "questions[1].points must be a positive number, got None"),
    (_with("questions.1.id", "forward"), "questions[1].id 'forward' is used twice"),
    (_with("questions.1.id", ""), "questions[1].id must be a non-empty string"),
    (_with("questions.0", "forward"), "questions[0] must be a mapping"),
    (_with("questions", []), "questions needs at least one question"),
    (_with("questions", {"forward": 10}), "questions must be a list"),
    (_with("submission", ["demo.txt"]), "submission must list file names ending in .py or .ipynb"),
    (_with("submission", []), "submission must list file names ending in .py or .ipynb"),
    (_with("submission", "demo.py"), "submission must be a list, got 'demo.py'"),
    (_with("submission", ["demo.py", 3]), "submission must list file names ending in .py or .ipynb"),
    (_with("score_cap", 0), "score_cap must be a positive number, got 0"),
    (_with("score_cap", -10), "score_cap must be a positive number, got -10"),
    (_with("score_cap", "100"), "score_cap must be a positive number, got '100'"),
    (_with("seed", "abc"), "seed must be a number, got 'abc'"),
    (_with("forbidden", "torch"), "forbidden must be a list, got 'torch'"),
    (_with("forbidden", ["torch.autograd"]), "forbidden[0] is 'torch.autograd': only a whole top-level package"),
    (_with("limits.disk_mb", 0), "limits.disk_mb must be a positive number, got 0"),
    (_with("limits.files", "many"), "limits.files must be a positive number, got 'many'"),
])
def test_bad_spec_names_file_and_key(home, data, key_and_reason):
    message = spec_error(home, data)
    assert key_and_reason in message


def test_boolean_score_cap_is_refused(home):
    message = spec_error(home, _with("score_cap", True))
    assert "score_cap must be a positive number" in message


@pytest.mark.parametrize("text,reason", [
    ("slug: demo\nquestions: [\n", "not valid YAML"),
    ("slug: demo\n  title: : x\n", "not valid YAML"),
    ("- just\n- a list\n", "the file must hold a mapping"),
    ("", "the file must hold a mapping"),
])
def test_invalid_yaml_or_non_mapping(home, text, reason):
    message = spec_error(home, text)
    assert reason in message


def test_a_ban_on_part_of_a_package_is_advisory(home):
    write(home, _with("forbidden_advisory", ["torch.autograd"]))
    assignment = spec.load("demo")
    assert assignment.forbidden_advisory == ("torch.autograd",)


def test_a_mistyped_key_is_named_with_the_closest_valid_one(home):
    assert "questions[0].point is not a known key (did you mean points?)" in spec_error(home, _with("questions.0.point", 3))
    assert "forbiden is not a known key (did you mean forbidden?)" in spec_error(home, _with("forbiden", ["torch"]))


def test_the_audit_keys_and_the_bonus_cap_load(home):
    write(home, {**VALID, "score_cap": {"points": 12, "bonus": True},
                 "audit": {"kill_rate": 0.9, "seeds": 3, "sample": {"seeds": 0, "mutants": "all", "alternatives": 1}}})
    assignment = spec.load("demo")
    assert (assignment.score_cap, assignment.score_cap_bonus) == (12, True)
    assert assignment.audit == spec.AuditSettings(kill_rate=0.9, seeds=3, sample_seeds=0, sample_mutants=None,
                                                  sample_alternatives=1)
    write(home, VALID)
    plain = spec.load("demo")
    assert (plain.score_cap, plain.score_cap_bonus, plain.audit) == (12, False, spec.AuditSettings())


@pytest.mark.parametrize(("data", "key_and_reason"), [
    ({**VALID, "audit": {"kill_rate": 95}}, "audit.kill_rate must be a share between 0 and 1 (0.95 for 95%), got 95"),
    ({**VALID, "audit": {"kill_rate": "high"}}, "audit.kill_rate must be a number, got 'high'"),
    ({**VALID, "audit": {"seeds": -1}}, "audit.seeds must be a whole number, at least 0, got -1"),
    ({**VALID, "audit": {"seeds": "all"}}, "audit.seeds must be a whole number, at least 0, got 'all'"),
    ({**VALID, "audit": {"sample": {"mutants": 2.5}}}, "audit.sample.mutants must be a whole number, at least 0 or all, got 2.5"),
    ({**VALID, "audit": {"sample": {"mutant": 3}}}, "audit.sample.mutant is not a known key (did you mean mutants?)"),
    ({**VALID, "audit": {"rate": 0.9}}, "audit.rate is not a known key"),
    ({**VALID, "audit": [0.95]}, "audit must be a mapping"),
    (_with("score_cap", {"points": 100, "bonus": "yes"}), "score_cap.bonus must be true or false, got 'yes'"),
    (_with("score_cap", {"bonus": True}), "score_cap.points must be a positive number, got None"),
    (_with("score_cap", {"points": 100, "extra": 1}), "score_cap.extra is not a known key"),
])
def test_bad_audit_keys_name_file_and_key(home, data, key_and_reason):
    assert key_and_reason in spec_error(home, data)
