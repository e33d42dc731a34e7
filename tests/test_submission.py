"""grader.submission: what a student hands in, read as untrusted data; and the static scan for forbidden modules."""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader import submission as submission_module
from grader.notebook import Cell
from grader.submission import prepare, scan

ACCEPTED = ("backprop.ipynb", "backprop.py")
SOURCE = b"import numpy as np\n\ndef sigmoid(x):\n    return 1 / (1 + np.exp(-x))\n"
SECRET = b"HIDDEN_TEST_SECRET = 'do not leak'\n"


@pytest.fixture
def work(tmp_path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture
def inbox(tmp_path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def secret(tmp_path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_bytes(SECRET)
    return outside / "secret.py"


def notebook_bytes(*sources: str) -> bytes:
    cells = [nbformat.v4.new_markdown_cell("# Backprop")] + [nbformat.v4.new_code_cell(s) for s in sources]
    return nbformat.writes(nbformat.v4.new_notebook(cells=cells)).encode()


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def contents_under(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]


def make_zip(path: Path, entries: dict) -> Path:
    """entries: name -> bytes, or name -> ("symlink", target)."""
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in entries.items():
            if isinstance(data, tuple):
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                bundle.writestr(info, data[1])
            else:
                bundle.writestr(zipfile.ZipInfo(name), data)
    return path


# ---------------------------------------------------------------------------- single files

def test_prepare_py_module(inbox, work):
    path = inbox / "backprop.py"
    path.write_bytes(SOURCE)
    prepared = prepare(path, ACCEPTED, work)
    assert prepared.problem is None and prepared.runnable and prepared.violations == []
    assert prepared.kind == "module" and prepared.name == "backprop.py"
    assert prepared.cells == [Cell(label="backprop.py", source=SOURCE.decode())]
    assert prepared.sha256 == hashlib.sha256(SOURCE).hexdigest()
    assert (work / "backprop.py").read_bytes() == SOURCE


def test_prepare_py_with_another_name_is_used_as_is(inbox, work):
    path = inbox / "jane_doe_hw2.py"
    path.write_bytes(SOURCE)
    prepared = prepare(path, ACCEPTED, work)
    assert prepared.problem is None and prepared.cells[0].label == "jane_doe_hw2.py"


def test_prepare_notebook(inbox, work):
    path = inbox / "backprop.ipynb"
    path.write_bytes(notebook_bytes("import numpy as np", "%matplotlib inline\ny = 1"))
    prepared = prepare(path, ACCEPTED, work)
    assert prepared.problem is None and prepared.kind == "notebook"
    assert [c.label for c in prepared.cells] == ["cell 2", "cell 3"]
    assert prepared.cells[1].source.splitlines()[0].startswith("pass  # grader: neutralised")
    assert prepared.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_prepare_invalid_notebook_sets_problem(inbox, work):
    path = inbox / "backprop.ipynb"
    path.write_bytes(b"{ this is not json")
    prepared = prepare(path, ACCEPTED, work)
    assert prepared.kind == "notebook" and not prepared.runnable
    assert prepared.problem.startswith("backprop.ipynb is not a valid notebook: it is not JSON")
    assert prepared.sha256 == hashlib.sha256(b"{ this is not json").hexdigest()


def test_prepare_non_utf8_py(inbox, work):
    path = inbox / "backprop.py"
    path.write_bytes(b"x = '\xff\xfe caf\xe9'\n")
    prepared = prepare(path, ACCEPTED, work)
    assert prepared.problem == "backprop.py is not UTF-8 text"
    assert not prepared.runnable and prepared.cells == []


def test_prepare_missing_path(inbox, work):
    prepared = prepare(inbox / "nothing_here.py", ACCEPTED, work)
    assert prepared.problem == "nothing_here.py: no such file or folder (links are not followed)"
    assert not prepared.runnable and prepared.cells == []


def test_prepare_refuses_a_symlinked_submission(inbox, work, secret):
    link = inbox / "backprop.py"
    link.symlink_to(secret)
    prepared = prepare(link, ACCEPTED, work)
    assert "links are not followed" in prepared.problem
    assert SECRET not in contents_under(work)


def test_prepare_refuses_an_oversized_file(inbox, work, monkeypatch):
    monkeypatch.setattr(submission_module, "MAX_FILE_BYTES", 100)
    path = inbox / "backprop.py"
    path.write_bytes(b"#" * 200)
    prepared = prepare(path, ACCEPTED, work)
    assert prepared.problem.startswith("backprop.py is") and "are refused" in prepared.problem


def test_prepare_unknown_file_type(inbox, work):
    path = inbox / "backprop.txt"
    path.write_bytes(SOURCE)
    prepared = prepare(path, ACCEPTED, work)
    assert prepared.problem == ("backprop.txt is not a .py, .ipynb or .zip file, nor a folder: "
                                "hand in backprop.ipynb or backprop.py")


# ---------------------------------------------------------------------------- folders

def test_prepare_folder_finds_the_accepted_name_and_ignores_hidden_files(inbox, work):
    folder = inbox / "jane"
    (folder / "data").mkdir(parents=True)
    (folder / "backprop.py").write_bytes(SOURCE)
    (folder / "helper.py").write_bytes(b"K = 1\n")
    (folder / "data" / "weights.csv").write_bytes(b"1,2,3\n")
    (folder / ".hidden.py").write_bytes(b"raise SystemExit\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_bytes(b"[core]\n")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "backprop.cpython-311.pyc").write_bytes(b"\0" * 16)
    prepared = prepare(folder, ACCEPTED, work)
    assert prepared.problem is None and prepared.kind == "module"
    assert prepared.cells == [Cell(label="backprop.py", source=SOURCE.decode())]
    assert files_under(work) == {"backprop.py", "helper.py", os.path.join("data", "weights.csv")}


def starters(tmp_path) -> tuple[Path, Path]:
    """A starter notebook and module, as an assignment folder holds them."""
    folder = tmp_path / "assignment"
    folder.mkdir()
    (folder / "starter.ipynb").write_bytes(notebook_bytes("def sigmoid(x):\n    raise NotImplementedError"))
    (folder / "starter.py").write_text("def sigmoid(x):\n    raise NotImplementedError\n")
    return folder / "starter.py", folder / "starter.ipynb"


def test_prepare_folder_grades_the_file_that_is_not_the_untouched_starter(inbox, work, tmp_path):
    module, notebook = starters(tmp_path)
    folder = inbox / "jane"
    folder.mkdir()
    (folder / "backprop.py").write_bytes(SOURCE)
    # the starter notebook as Jupyter saves it once opened: outputs, metadata and ids differ, the cells do not
    saved = nbformat.reads(notebook.read_text(), as_version=4)
    saved.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    saved.cells[1].outputs = [nbformat.v4.new_output("stream", text="hi")]
    (folder / "backprop.ipynb").write_text(nbformat.writes(saved))
    prepared = prepare(folder, ACCEPTED, work, starters=(module, notebook))
    assert prepared.problem is None and prepared.kind == "module" and prepared.file == "backprop.py"
    assert prepared.cells == [Cell(label="backprop.py", source=SOURCE.decode())]
    assert prepared.notes == ["found backprop.ipynb and backprop.py: graded backprop.py; backprop.ipynb is the "
                              "starter, unchanged"]


def test_prepare_folder_grades_a_notebook_beside_the_untouched_starter_module(inbox, work, tmp_path):
    module, notebook = starters(tmp_path)
    folder = inbox / "jane"
    folder.mkdir()
    (folder / "backprop.py").write_bytes(module.read_bytes().replace(b"\n", b"\r\n") + b"\n")  # Windows' line ends
    (folder / "backprop.ipynb").write_bytes(notebook_bytes("z = 1"))
    prepared = prepare(folder, ACCEPTED, work, starters=(module, notebook))
    assert prepared.kind == "notebook" and prepared.file == "backprop.ipynb"
    assert [c.source for c in prepared.cells] == ["z = 1"] and "backprop.py is the starter" in prepared.notes[0]


def test_prepare_folder_refuses_to_choose_between_two_files_that_both_differ_from_the_starter(inbox, work, tmp_path):
    folder = inbox / "jane"
    folder.mkdir()
    (folder / "backprop.py").write_bytes(SOURCE)
    (folder / "backprop.ipynb").write_bytes(notebook_bytes("z = 1"))
    prepared = prepare(folder, ACCEPTED, work, starters=starters(tmp_path))
    assert not prepared.runnable and prepared.cells == []
    assert prepared.problem == ("found backprop.ipynb and backprop.py, and each differs from the starter, so it is "
                                "not clear which is your work: hand in only one of them (delete or rename the other)")


def test_prepare_folder_of_two_untouched_starters_grades_the_first_the_spec_lists(inbox, work, tmp_path):
    module, notebook = starters(tmp_path)
    folder = inbox / "jane"
    folder.mkdir()
    (folder / "backprop.py").write_bytes(module.read_bytes())
    (folder / "backprop.ipynb").write_bytes(notebook.read_bytes())
    prepared = prepare(folder, ACCEPTED, work, starters=(module, notebook))
    assert prepared.file == "backprop.ipynb" and "each the starter unchanged" in prepared.notes[0]


def test_prepare_folder_with_one_notebook_of_another_name(inbox, work):
    folder = inbox / "jane"
    folder.mkdir()
    (folder / "hw2_final_FINAL.ipynb").write_bytes(notebook_bytes("z = 2"))
    (folder / "utils.py").write_bytes(b"K = 1\n")
    prepared = prepare(folder, ACCEPTED, work)
    assert prepared.problem is None and prepared.kind == "notebook"
    assert [c.source for c in prepared.cells] == ["z = 2"]


def test_prepare_folder_skips_symlinks(inbox, work, secret):
    folder = inbox / "jane"
    folder.mkdir()
    (folder / "backprop.py").write_bytes(SOURCE)
    (folder / "leak.py").symlink_to(secret)
    (folder / "outside").symlink_to(secret.parent, target_is_directory=True)
    prepared = prepare(folder, ACCEPTED, work)
    assert prepared.problem is None
    assert files_under(work) == {"backprop.py"}
    assert SECRET not in contents_under(work)


def test_prepare_folder_whose_submission_is_a_symlink(inbox, work, secret):
    folder = inbox / "jane"
    folder.mkdir()
    (folder / "backprop.py").symlink_to(secret)
    (folder / "notes.txt").write_bytes(b"see backprop.py\n")
    prepared = prepare(folder, ACCEPTED, work)
    assert prepared.problem == "jane: found no backprop.ipynb or backprop.py in it"
    assert SECRET not in contents_under(work)


@pytest.mark.parametrize("files", [{"notes.txt": b"I did not finish"}, {}, {"a.py": b"", "b.py": b""}])
def test_prepare_folder_without_a_submission(inbox, work, files):
    folder = inbox / "jane"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    prepared = prepare(folder, ACCEPTED, work)
    assert prepared.problem == "jane: found no backprop.ipynb or backprop.py in it"
    assert not prepared.runnable


def test_prepare_folder_with_too_many_files(inbox, work, monkeypatch):
    monkeypatch.setattr(submission_module, "MAX_FILES", 3)
    folder = inbox / "jane"
    folder.mkdir()
    (folder / "backprop.py").write_bytes(SOURCE)
    for i in range(5):
        (folder / f"data{i}.txt").write_bytes(b"x")
    prepared = prepare(folder, ACCEPTED, work)
    assert prepared.problem.startswith("jane holds more than 3 files")


# ---------------------------------------------------------------------------- zips

def test_prepare_zip_with_one_top_folder(inbox, work):
    archive = make_zip(inbox / "jane.zip", {
        "jane/backprop.py": SOURCE,
        "jane/lib/util.py": b"K = 1\n",
        "jane/.DS_Store": b"\0",
        "__MACOSX/jane/._backprop.py": b"\0\0",
    })
    prepared = prepare(archive, ACCEPTED, work)
    assert prepared.problem is None and prepared.kind == "module"
    assert prepared.cells == [Cell(label="backprop.py", source=SOURCE.decode())]
    assert files_under(work) == {"backprop.py", os.path.join("lib", "util.py")}


def test_prepare_flat_zip(inbox, work):
    archive = make_zip(inbox / "jane.zip", {"backprop.ipynb": notebook_bytes("q = 1"), "data/x.csv": b"1\n"})
    prepared = prepare(archive, ACCEPTED, work)
    assert prepared.problem is None and prepared.kind == "notebook"
    assert files_under(work) == {"backprop.ipynb", os.path.join("data", "x.csv")}


@pytest.mark.parametrize("bad_name", ["../evil.py", "jane/../../evil.py", "/tmp/evil.py", "..\\evil.py"])
def test_prepare_zip_refuses_escaping_entries(inbox, work, tmp_path, bad_name):
    archive = make_zip(inbox / "jane.zip", {"jane/backprop.py": SOURCE, bad_name: b"import os\n"})
    prepared = prepare(archive, ACCEPTED, work)
    assert prepared.problem == f"jane.zip: refusing the entry {bad_name!r}"
    assert not prepared.runnable
    assert not (tmp_path / "evil.py").exists() and not (inbox / "evil.py").exists()


def test_prepare_zip_refuses_symlink_entries(inbox, work, secret):
    archive = make_zip(inbox / "jane.zip", {"jane/backprop.py": ("symlink", str(secret))})
    prepared = prepare(archive, ACCEPTED, work)
    assert prepared.problem == "jane.zip: refusing the entry 'jane/backprop.py'"
    assert SECRET not in contents_under(work)


def test_prepare_zip_bounded_total_size(inbox, work, monkeypatch):
    monkeypatch.setattr(submission_module, "MAX_TOTAL_BYTES", 1000)
    archive = make_zip(inbox / "jane.zip", {"backprop.py": SOURCE, "big.bin": b"\0" * 2000})
    prepared = prepare(archive, ACCEPTED, work)
    assert prepared.problem.startswith("jane.zip unpacks to more than")
    assert files_under(work) == set()  # refused before anything was unpacked


def test_prepare_zip_bounded_number_of_files(inbox, work, monkeypatch):
    monkeypatch.setattr(submission_module, "MAX_FILES", 3)
    archive = make_zip(inbox / "jane.zip", {"backprop.py": SOURCE, **{f"d{i}.txt": b"x" for i in range(5)}})
    prepared = prepare(archive, ACCEPTED, work)
    assert prepared.problem.startswith("jane.zip unpacks to more than 3 files")


def test_prepare_zip_skips_an_oversized_member(inbox, work, monkeypatch):
    monkeypatch.setattr(submission_module, "MAX_FILE_BYTES", 500)
    archive = make_zip(inbox / "jane.zip", {"backprop.py": SOURCE, "huge.npy": b"\0" * 1000})
    prepared = prepare(archive, ACCEPTED, work)
    assert prepared.problem is None
    assert files_under(work) == {"backprop.py"}


def test_prepare_unreadable_zip(inbox, work):
    path = inbox / "jane.zip"
    path.write_bytes(b"PK\x03\x04 but not really a zip")
    prepared = prepare(path, ACCEPTED, work)
    assert prepared.problem.startswith("jane.zip is not a readable zip archive")


def test_prepare_zip_without_a_submission(inbox, work):
    archive = make_zip(inbox / "jane.zip", {"jane/README.md": b"todo"})
    prepared = prepare(archive, ACCEPTED, work)
    assert prepared.problem == "jane.zip: found no backprop.ipynb or backprop.py in it"


# ---------------------------------------------------------------------------- hashes

def test_sha256_is_stable_for_the_same_content(inbox, tmp_path):
    def folder_sha(name, files):
        folder = inbox / name
        folder.mkdir()
        for rel, data in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        workdir = tmp_path / f"work-{name}"
        workdir.mkdir()
        return prepare(folder, ACCEPTED, workdir).sha256

    files = {"backprop.py": SOURCE, "data/w.csv": b"1,2\n"}
    first, again = folder_sha("a", files), folder_sha("b", files)
    assert first == again and len(first) == 64
    assert folder_sha("c", {**files, "data/w.csv": b"1,3\n"}) != first       # content changed
    assert folder_sha("d", {"backprop.py": SOURCE, "data/v.csv": b"1,2\n"}) != first  # a file renamed

    single = inbox / "backprop.py"
    single.write_bytes(SOURCE)
    shas = set()
    for i in range(2):
        workdir = tmp_path / f"work-single-{i}"
        workdir.mkdir()
        shas.add(prepare(single, ACCEPTED, workdir).sha256)
    assert shas == {hashlib.sha256(SOURCE).hexdigest()}


# ---------------------------------------------------------------------------- forbidden modules

FORBIDDEN = ("torch", "jax")


@pytest.mark.parametrize("source,module", [
    ("import torch", "torch"),
    ("from torch import nn", "torch.nn"),
    ("import torch.nn as nn", "torch.nn"),
    ("import numpy as np, torch", "torch"),
    ("t = __import__('torch')", "torch"),
    ("import importlib\nm = importlib.import_module('jax')", "jax"),
    ("from importlib import import_module\nm = import_module('jax.numpy')", "jax.numpy"),
    ("def f():\n    import jax.numpy as jnp\n    return jnp", "jax.numpy"),
])
def test_scan_finds_forbidden_imports(source, module):
    found = scan([Cell("hw.py", source)], FORBIDDEN)
    assert len(found) == 1
    line = source.splitlines().index(next(l for l in source.splitlines() if "torch" in l or "jax" in l)) + 1
    assert found[0] == f"hw.py, line {line}: uses {module}, which this assignment forbids"


@pytest.mark.parametrize("source", [
    "import numpy as np",
    "from numpy import linalg",
    "import torchvision_like_name",       # a prefix of a name is not the module
    "import jaxtyping",
    "x = 'import torch'",
    "# import torch",
    "from . import torch",                 # a relative import of the student's own file
    "def broken(:\n    import torch",      # a syntax error: the worker reports it, the scan skips the cell
])
def test_scan_does_not_flag_allowed_code(source):
    assert scan([Cell("hw.py", source)], FORBIDDEN) == []


def test_scan_without_forbidden_modules_finds_nothing():
    assert scan([Cell("hw.py", "import torch")], ()) == []


def test_scan_finds_attribute_chains_of_a_forbidden_submodule():
    forbidden = ("torch.autograd",)
    source = "import torch\nimport torch as T\nx = torch.ones(2)\ng = torch.autograd.grad(y, x)\nh = T.autograd.functional.jacobian(f, x)"
    found = scan([Cell("cell 3", source)], forbidden)
    assert found == [
        "cell 3, line 4: uses torch.autograd.grad, which this assignment forbids",
        "cell 3, line 5: uses torch.autograd.functional.jacobian, which this assignment forbids",
    ]


@pytest.mark.parametrize("source", [
    "from torch import autograd\nautograd.grad(y, x)",
    "from torch.autograd import grad",
    "import torch.autograd",
    "from torch import autograd as ag",
])
def test_scan_finds_forbidden_submodule_imports(source):
    found = scan([Cell("c", source)], ("torch.autograd",))
    assert found and all("torch.autograd" in f for f in found)


def test_scan_allows_the_rest_of_a_module_when_only_a_submodule_is_forbidden():
    source = "import torch\nimport torch.nn as nn\nx = torch.ones(2)\nlayer = nn.Linear(2, 2)\nt = torch.autograd_like"
    assert scan([Cell("c", source)], ("torch.autograd",)) == []


def test_scan_follows_aliases_across_notebook_cells():
    cells = [Cell("cell 1", "import torch"), Cell("cell 2", "g = torch.autograd.grad(y, x)")]
    assert scan(cells, ("torch.autograd",)) == [
        "cell 2, line 1: uses torch.autograd.grad, which this assignment forbids"]


def test_prepare_records_violations_and_is_not_runnable(inbox, work):
    path = inbox / "backprop.ipynb"
    path.write_bytes(notebook_bytes("import numpy as np", "import torch\nx = 1"))
    prepared = prepare(path, ACCEPTED, work, forbidden=FORBIDDEN)
    assert prepared.problem is None and not prepared.runnable
    assert prepared.violations == ["cell 3, line 1: uses torch, which this assignment forbids"]


def test_prepare_reports_advisory_bans_as_warnings_and_runs(inbox, work):
    path = inbox / "backprop.py"
    path.write_text("import torch\ng = torch.autograd.grad\n")
    prepared = prepare(path, ACCEPTED, work, forbidden=(), advisory=("torch.autograd",))
    assert prepared.runnable
    assert prepared.advisories == ["backprop.py, line 2: uses torch.autograd.grad, which this assignment forbids "
                                   "(advisory: not enforced, but the course asks you not to)"]
