"""Notebooks: percent-format scripts to .ipynb, and submitted notebooks to runnable cells.

A submitted notebook is untrusted data. It is parsed as JSON with a size limit and checked for the
shape grading reads (nbformat converts and validates anything else); only the cells' sources and
tags are used. Outputs and metadata are ignored, never rendered or run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import nbformat

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
_PERCENT = re.compile(r"^# %%(.*)$")
_SKIP_TAGS = {"skip", "grader-skip"}
_TIMING_CELL_MAGICS = {"time", "timeit", "capture", "prun"}


class NotebookError(Exception):
    """The notebook cannot be used; the message says why, in terms a student understands."""


@dataclass(frozen=True)
class Cell:
    """One unit of code to run in the worker, with the label its tracebacks carry."""

    label: str
    source: str
    tags: tuple[str, ...] = ()


def from_percent_script(text: str) -> nbformat.NotebookNode:
    """Build a notebook from a percent-format script: '# %%' code cells, '# %% [markdown]' cells, each
    optionally tagged as jupytext writes it ('# %% [markdown] tags=["q1"]')."""
    import nbformat

    cells, header, lines = [], "", []

    def flush():
        body = "\n".join(lines).strip("\n")
        tags = re.search(r"tags=(\[[^\]]*\])", header)
        if "[markdown]" in header:
            body = "\n".join(re.sub(r"^# ?", "", line) for line in body.splitlines())
            cell = nbformat.v4.new_markdown_cell(body)
        elif body.strip():
            cell = nbformat.v4.new_code_cell(body)
        else:
            return
        if tags:
            cell.metadata["tags"] = [str(tag) for tag in json.loads(tags.group(1))]
        cells.append(cell)

    for line in text.splitlines():
        match = _PERCENT.match(line)
        if match:
            flush()
            header, lines = match.group(1), []
        else:
            lines.append(line)
    flush()
    for number, cell in enumerate(cells, start=1):
        cell.id = f"cell-{number}"  # stable ids: the same script always gives the same notebook
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


@dataclass(frozen=True)
class NotebookCell:
    """A cell of a submitted notebook as grading reads it: its type, its source and its tags, nothing else."""

    type: str
    source: str
    tags: tuple[str, ...] = ()


def parse(data: bytes, name: str = "notebook") -> list[NotebookCell]:
    """The cells of a submitted notebook; NotebookError, in terms a student understands, if it is not one.

    An nbformat 4 document whose cells have the shape grading reads is taken as it is; any other (an older
    version, or something out of place) goes through nbformat, which converts it or says what is wrong.
    Outputs and metadata other than tags are never read, so they are not checked on the first path.
    """
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"{name} is {len(data) // 2**20} MiB; notebooks over {MAX_NOTEBOOK_BYTES // 2**20} MiB are refused (clear the outputs)")
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise NotebookError(f"{name} is not a valid notebook: it is not JSON ({error})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise NotebookError(f"{name} is not a valid notebook: it has no list of cells")
    cells = _plain_cells(raw)
    return cells if cells is not None else _nbformat_cells(raw, name)


def read_cells(data: bytes, name: str = "notebook") -> list[Cell]:
    """Parse a submitted notebook into the code cells to run, magics neutralised, skipped cells dropped."""
    return [Cell(label=f"cell {number}", source=neutralise_magics(cell.source), tags=cell.tags)
            for number, cell in enumerate(parse(data, name), start=1) if cell.type == "code" and not _skipped(cell)]


def _plain_cells(raw: dict) -> list[NotebookCell] | None:
    """The cells of an nbformat 4 document in the shape grading reads, or None where anything differs."""
    if raw.get("nbformat") != 4 or not isinstance(raw.get("metadata"), dict):
        return None
    cells = []
    for cell in raw["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            return None
        source, metadata = cell.get("source"), cell.get("metadata")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        tags = metadata.get("tags", []) if isinstance(metadata, dict) else None
        if (not isinstance(source, str) or not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
                or cell["cell_type"] == "code" and not isinstance(cell.get("outputs"), list)):
            return None
        cells.append(NotebookCell(cell["cell_type"], source, tuple(tags)))
    return cells


def _nbformat_cells(raw: dict, name: str) -> list[NotebookCell]:
    import nbformat  # here, not at the top: most notebooks never need it, and grading waits while it loads

    try:
        notebook = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # nbformat raises several types for bad documents
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise NotebookError(f"{name} is not a valid notebook: {first_line}") from None
    return [NotebookCell(cell.cell_type, cell.source, _tags(cell)) for cell in notebook.cells]


def _tags(cell) -> tuple[str, ...]:
    tags = (cell.get("metadata") or {}).get("tags") or []
    return tuple(str(tag) for tag in tags) if isinstance(tags, list) else ()


def neutralise_magics(source: str) -> str:
    """Comment out IPython magics and shell lines, keeping line numbers unchanged.

    Valid Python is left alone (a '%' or '!' that continues a bracketed line is an operator).
    """
    try:
        compile(source, "<cell>", "exec", dont_inherit=True)
        return source
    except (SyntaxError, ValueError):
        pass
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split()[0] if lines[0].lstrip()[2:].split() else ""
        if magic in _TIMING_CELL_MAGICS:
            return "\n".join(["# " + lines[0]] + lines[1:])
        return "\n".join("# " + line for line in lines)
    out = []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")) or re.match(r"^[\w\s,]+=\s*[!%]", stripped):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}pass  # grader: neutralised: {stripped}")
        else:
            out.append(line)
    return "\n".join(out)


def _skipped(cell: NotebookCell) -> bool:
    tags = set(cell.tags)
    first = cell.source.lstrip().splitlines()[0].strip() if cell.source.strip() else ""
    return bool(tags & _SKIP_TAGS) or first.replace(" ", "") == "#grader:skip"
