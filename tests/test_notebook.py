"""grader.notebook: percent scripts to notebooks, submitted notebooks to runnable cells."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from grader import notebook as nb_module
from grader.notebook import NotebookError, from_percent_script, neutralise_magics, read_cells


def make_notebook(*cells) -> bytes:
    """cells: ("code"|"markdown", source) or ("code", source, tags)."""
    built = []
    for cell in cells:
        kind, source = cell[0], cell[1]
        node = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        if len(cell) > 2:
            node.metadata["tags"] = list(cell[2])
        built.append(node)
    return nbformat.writes(nbformat.v4.new_notebook(cells=built)).encode()


# ---------------------------------------------------------------------------- from_percent_script

SCRIPT = '''"""Module docstring before any marker."""
import numpy as np

# %% [markdown]
# # Backpropagation
#
# Implement `sigmoid`.
#no space after the hash

# %%
def sigmoid(x):
    return 1 / (1 + np.exp(-x))

# %% Part 2: an empty cell follows

# %%


# %%
y = sigmoid(0.0)
'''


def test_from_percent_script_builds_code_and_markdown_cells():
    notebook = from_percent_script(SCRIPT)
    nbformat.validate(notebook)
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds == ["code", "markdown", "code", "code"]  # empty code cells are dropped
    assert notebook.cells[0].source == '"""Module docstring before any marker."""\nimport numpy as np'
    assert notebook.cells[1].source == "# Backpropagation\n\nImplement `sigmoid`.\nno space after the hash"
    assert notebook.cells[2].source == "def sigmoid(x):\n    return 1 / (1 + np.exp(-x))"
    assert notebook.cells[3].source == "y = sigmoid(0.0)"
    assert notebook.metadata["kernelspec"]["language"] == "python"


def test_percent_notebook_reads_back_into_the_same_code():
    notebook = from_percent_script(SCRIPT)
    cells = read_cells(nbformat.writes(notebook).encode(), "starter.ipynb")
    assert [c.source for c in cells] == [notebook.cells[i].source for i in (0, 2, 3)]
    assert [c.label for c in cells] == ["cell 1", "cell 3", "cell 4"]  # labels number every cell of the notebook
    namespace: dict = {}
    for cell in cells:
        exec(compile(cell.source, cell.label, "exec"), namespace)
    assert namespace["y"] == 0.5


# ---------------------------------------------------------------------------- read_cells

def test_read_cells_drops_markdown_and_skipped_cells():
    data = make_notebook(
        ("markdown", "# Title\nx = 'markdown is never run'"),
        ("code", "a = 1"),
        ("code", "b = 2  # tagged skip", ["skip"]),
        ("code", "c = 3  # tagged grader-skip", ["grader-skip"]),
        ("code", "# grader: skip\nd = 4"),
        ("code", "   \n  #grader:skip\ne = 5"),
        ("code", "f = 6", ["other-tag"]),
        ("code", "g = 7\n# grader: skip  (not on the first line: runs)"),
    )
    cells = read_cells(data, "hw.ipynb")
    assert [c.source for c in cells] == ["a = 1", "f = 6", "g = 7\n# grader: skip  (not on the first line: runs)"]
    assert [c.label for c in cells] == ["cell 2", "cell 7", "cell 8"]


def test_read_cells_ignores_outputs_and_accepts_list_sources():
    raw = json.loads(make_notebook(("code", "x = 1")).decode())
    raw["cells"][0]["source"] = ["x = 1\n", "y = x + 1"]
    raw["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "fake: all tests passed\n"}]
    raw["cells"][0]["execution_count"] = 3
    cells = read_cells(json.dumps(raw).encode())
    assert [c.source for c in cells] == ["x = 1\ny = x + 1"]


def test_read_cells_neutralises_magics_keeping_line_numbers():
    source = "import numpy as np\n%matplotlib inline\n!pip install x\nfiles = !ls\nif True:\n    %time y = 1\nz = 2"
    data = make_notebook(("code", source), ("code", "%%bash\nrm -rf /\necho hi"), ("code", "%%time\nw = 3\nv = w"))
    first, bash, timed = read_cells(data)
    lines = first.source.splitlines()
    assert len(lines) == 7
    assert lines[0] == "import numpy as np" and lines[4] == "if True:" and lines[6] == "z = 2"
    for line in lines[1:4] + lines[5:6]:
        assert "pass  # grader: neutralised:" in line
    assert lines[5].startswith("    pass  #")  # indentation kept
    assert bash.source.splitlines() == ["# %%bash", "# rm -rf /", "# echo hi"]
    assert timed.source.splitlines() == ["# %%time", "w = 3", "v = w"]
    for cell in (first, bash, timed):
        compile(cell.source, cell.label, "exec")  # all valid Python now
    namespace: dict = {}
    exec(timed.source, namespace)
    assert namespace["v"] == 3  # %%time keeps the body


@pytest.mark.parametrize("source,expected", [
    ("!pip install torch", ["pass  # grader: neutralised: !pip install torch"]),
    ("x = !ls", ["pass  # grader: neutralised: x = !ls"]),
    ("a, b = %who_ls", ["pass  # grader: neutralised: a, b = %who_ls"]),
    ("for i in range(2):\n    !echo $i\n    k = i", ["for i in range(2):", "    pass  # grader: neutralised: !echo $i",
                                                       "    k = i"]),
    ("%%capture out\nq = 1", ["# %%capture out", "q = 1"]),
    ("%%timeit\nq = 1", ["# %%timeit", "q = 1"]),
    ("%%writefile x.py\nimport os", ["# %%writefile x.py", "# import os"]),
    ("%%", ["# %%"]),
])
def test_neutralise_magics(source, expected):
    result = neutralise_magics(source)
    assert result.splitlines() == expected
    compile(result, "cell", "exec")


@pytest.mark.parametrize("source", [
    "x = 10 % 3",
    "x %= 3",
    "y = x != 2",
    "s = '%d items' % 4",
    "if x == 1:\n    y = not x",
    "print('!important')",
])
def test_neutralise_magics_leaves_plain_python_alone(source):
    assert neutralise_magics(source) == source


def test_neutralise_magics_keeps_modulo_on_a_continuation_line():
    source = "total = (count\n         % 7)"
    assert neutralise_magics(source) == source


def test_a_notebook_of_the_usual_shape_is_read_without_importing_nbformat():
    data = make_notebook(("markdown", "# Title"), ("code", "x = 1"))
    code = ("import sys; from grader.notebook import read_cells; "
            f"cells = read_cells({data!r}); assert [c.source for c in cells] == ['x = 1']; "
            "assert 'nbformat' not in sys.modules, 'nbformat was imported'")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def test_an_older_minor_version_without_cell_ids_is_read():
    raw = json.loads(make_notebook(("code", "x = 1")).decode())
    raw["nbformat_minor"], raw["cells"][0]["metadata"] = 0, {"collapsed": False}
    del raw["cells"][0]["id"]
    assert [c.source for c in read_cells(json.dumps(raw).encode())] == ["x = 1"]


# ---------------------------------------------------------------------------- bad notebooks

@pytest.mark.parametrize("data", [b"this is not json", b"{\"cells\": [", b"\xff\xfe\x00\x00", b"", b"[" * 100_000])
def test_read_cells_non_json(data):
    with pytest.raises(NotebookError, match=r"^hw\.ipynb is not a valid notebook: it is not JSON"):
        read_cells(data, "hw.ipynb")


@pytest.mark.parametrize("document", [[], 42, "cells", {"worksheets": []}, {"cells": "x = 1"}, None])
def test_read_cells_json_that_is_not_a_notebook(document):
    with pytest.raises(NotebookError, match=r"^hw\.ipynb is not a valid notebook: it has no list of cells"):
        read_cells(json.dumps(document).encode(), "hw.ipynb")


def _valid_raw() -> dict:
    return json.loads(make_notebook(("code", "x = 1")).decode())


@pytest.mark.parametrize("corrupt", [
    lambda raw: raw["cells"][0].update(cell_type="banana"),
    lambda raw: raw["cells"][0].update(source=5),
    lambda raw: raw["cells"][0].pop("outputs"),
    lambda raw: raw["cells"][0]["metadata"].update(tags="skip"),
    lambda raw: raw.update(metadata="not a mapping"),
    lambda raw: raw["cells"].append("not a cell"),
])
def test_read_cells_nbformat_invalid_notebook(corrupt):
    raw = _valid_raw()
    corrupt(raw)
    with pytest.raises(NotebookError) as info:
        read_cells(json.dumps(raw).encode(), "hw.ipynb")
    message = str(info.value)
    assert message.startswith("hw.ipynb is not a valid notebook: ")
    assert "\n" not in message and "Traceback" not in message


def test_read_cells_refuses_oversized_data_before_parsing():
    data = b" " * (nb_module.MAX_NOTEBOOK_BYTES + 1)  # would be invalid JSON too: the size check must come first
    with pytest.raises(NotebookError, match=r"^big\.ipynb is 20 MiB; notebooks over 20 MiB are refused \(clear the outputs\)"):
        read_cells(data, "big.ipynb")


def test_read_cells_accepts_a_notebook_just_under_the_limit(monkeypatch):
    data = make_notebook(("code", "x = 1"))
    monkeypatch.setattr(nb_module, "MAX_NOTEBOOK_BYTES", len(data))
    assert [c.source for c in read_cells(data)] == ["x = 1"]
    monkeypatch.setattr(nb_module, "MAX_NOTEBOOK_BYTES", len(data) - 1)
    with pytest.raises(NotebookError, match="refused"):
        read_cells(data)
