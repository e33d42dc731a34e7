"""Similarity of a class's submissions, as MOSS measures it: winnowed fingerprints of normalised code.

Each submission's code (a module, or a notebook's code cells) is read, never run. A cell that parses is
first normalised through its syntax tree, so that cosmetic rewrites hide nothing: docstrings, annotations,
`pass` where other statements stand, `x = x` and branches on a constant (`if False:`) are dropped (the branch
taken stays), `x += y` reads `x = x + y`, and unparsing writes each
statement on a line of its own with only the parentheses it needs. The result is tokenised with Python's
`tokenize`: identifiers become N (every name is renamed alike), numbers 0 and strings S, comments and blank
lines are dropped, keywords, operators and the block structure stay. Every run of K tokens is hashed, and winnowing keeps the
smallest hash of each W consecutive ones (Schleimer, Wilkerson and Aiken, SIGMOD 2003): any common run of
K + W - 1 tokens shares a fingerprint, and renaming, reordering functions or adding comments changes
nothing. Fingerprints of the starter and of the handout's code blocks are removed, as are those most of
the class shares (idioms, not copying). A pair's similarity is the larger of the two fractions: how much of
one submission's fingerprints the other holds.
"""

from __future__ import annotations

import ast
import io
import itertools
import keyword
import re
import tempfile
import time
import tokenize
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from grader.deadline import TookTooLong, deadline
from grader.notebook import Cell, NotebookError, read_cells
from grader.spec import Assignment
from grader.submission import MAX_FILE_BYTES, prepare

K = 12           # tokens in a k-gram: shorter common runs are noise
WINDOW = 6       # winnowing window: every common run of K + WINDOW - 1 tokens is found
_FENCE = re.compile(r"^```(?:python|py)\s*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_STRUCTURE = {tokenize.NEWLINE: ";", tokenize.INDENT: "{", tokenize.DEDENT: "}"}
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}


@dataclass
class Document:
    """One submission's code, its normalised tokens (with the cell and line each came from) and fingerprints."""

    name: str
    cells: list[Cell]
    places: list[tuple[int, int]] = field(default_factory=list)     # (cell index, line) of each token
    prints: dict[int, list[int]] = field(default_factory=dict)      # fingerprint -> token positions
    problem: str = ""


@dataclass
class Pair:
    a: Document
    b: Document
    shared: set[int]

    @property
    def fraction_a(self) -> float:
        return len(self.shared) / max(1, len(self.a.prints))

    @property
    def fraction_b(self) -> float:
        return len(self.shared) / max(1, len(self.b.prints))

    @property
    def similarity(self) -> float:
        return max(self.fraction_a, self.fraction_b)

    def lines(self, document: Document) -> set[tuple[int, int]]:
        """The (cell index, line) places of `document` that the matched fingerprints cover."""
        covered = set()
        for fingerprint in self.shared:
            for start in document.prints[fingerprint]:
                covered.update(document.places[start:start + K])
        return covered


def tokens(cells: list[Cell]) -> tuple[list[str], list[tuple[int, int]]]:
    """The normalised tokens of the cells and where each came from; a cell that stops tokenising stops there."""
    kinds, places = [], []
    for index, cell in enumerate(cells):
        source, origin = normalised(cell.source)
        try:
            for token in tokenize.generate_tokens(io.StringIO(source).readline):
                if token.type in _SKIPPED:
                    continue
                if token.type == tokenize.NAME:
                    kind = token.string if keyword.iskeyword(token.string) else "N"
                else:
                    kind = {tokenize.NUMBER: "0", tokenize.STRING: "S"}.get(token.type) or _STRUCTURE.get(
                        token.type, token.string)
                kinds.append(kind)
                places.append((index, origin(token.start[0])))
        except (tokenize.TokenError, IndentationError, SyntaxError):
            continue  # what tokenised so far counts; the rest of this cell is not code
    return kinds, places


def normalised(source: str) -> tuple[str, Callable[[int], int]]:
    """The cell's code unparsed from its normalised syntax tree, and a map from each of its lines to the line of
    `source` it came from; code that does not parse (or is too deep to unparse) is left as it is."""
    try:
        unparser = _Unparser()
        text = unparser.visit(_Cosmetics().visit(ast.parse(source)))
    except (SyntaxError, ValueError, RecursionError, MemoryError, TypeError, AttributeError):
        return source, lambda line: line  # TypeError, AttributeError: an unparser of another Python version
    lines = unparser.origin
    return text, lambda line: lines[min(line, len(lines)) - 1] if lines else 1


class _Cosmetics(ast.NodeTransformer):
    """Drops what changes how code looks but not what it does."""

    def generic_visit(self, node):
        super().generic_visit(node)
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                kept = [s for s in block if not isinstance(s, ast.Pass) and not _bare_constant(s)]
                setattr(node, name, kept or [ast.Pass()])
        if isinstance(node, ast.arg):
            node.annotation = None
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None
        return node

    def visit_If(self, node):
        self.generic_visit(node)
        if isinstance(node.test, ast.Constant):  # a branch that is always or never taken: what runs, unwrapped
            return node.body if node.test.value else node.orelse or None
        return node

    def visit_While(self, node):
        self.generic_visit(node)
        return None if isinstance(node.test, ast.Constant) and not node.test.value else node

    def visit_Assign(self, node):
        self.generic_visit(node)
        same = len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Name)
        return None if same and node.targets[0].id == node.value.id else node  # x = x

    def visit_AnnAssign(self, node):
        if node.value is None:
            return None  # a bare annotation: nothing runs
        return self.generic_visit(ast.copy_location(ast.Assign([node.target], node.value), node))

    def visit_AugAssign(self, node):
        load = ast.copy_location(ast.Name(node.target.id, ast.Load()), node.target) if isinstance(
            node.target, ast.Name) else node.target
        value = ast.BinOp(load, node.op, node.value)
        return self.generic_visit(ast.copy_location(ast.Assign([node.target], value), node))


def _bare_constant(statement: ast.stmt) -> bool:
    """A docstring, or any constant standing alone as a statement."""
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


class _Unparser(ast._Unparser):
    """ast.unparse that notes, for each line it writes, the line of the statement it came from."""

    def __init__(self, **options):
        super().__init__(**options)
        self.origin: list[int] = []
        self._line = 1

    def traverse(self, node):
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.stmt) and line:
            outer, self._line = self._line, line
            try:
                return super().traverse(node)
            finally:
                self._line = outer
        return super().traverse(node)

    def maybe_newline(self):
        if self._source:
            self.write("\n")
        self.origin.append(self._line)


def fingerprints(kinds: list[str]) -> dict[int, list[int]]:
    """Winnow the hashes of the K-grams of `kinds`: fingerprint -> the positions where it was selected."""
    if len(kinds) < K:
        return {}
    codes = np.array([zlib.crc32(kind.encode()) for kind in kinds], dtype=np.uint64)
    hashes = np.zeros(len(codes) - K + 1, dtype=np.uint64)
    for offset in range(K):  # a polynomial hash of each K-gram, modulo 2**64: the same in every process
        hashes = hashes * np.uint64(1_000_003) + codes[offset:offset + len(hashes)]
    windows = sliding_window_view(hashes, min(WINDOW, len(hashes)))
    rightmost = windows.shape[1] - 1 - np.argmin(windows[:, ::-1], axis=1)  # the rightmost minimum of each window
    selected: dict[int, list[int]] = defaultdict(list)
    for position in np.unique(np.arange(len(windows)) + rightmost):
        selected[int(hashes[position])].append(int(position))
    return dict(selected)


READ_SECONDS = 20  # the trusted side's work on one submission's code (grader.deadline)


def read_document(name: str, path: Path, assignment: Assignment) -> Document:
    """Read a submission's code as the grader would (a module, a notebook's code cells, a folder or zip)."""
    if path.is_file() and not path.is_symlink() and path.suffix in (".py", ".ipynb") and (
            path.stat().st_size <= MAX_FILE_BYTES):
        data, problem = path.read_bytes(), ""
        try:
            cells = read_cells(data, path.name) if path.suffix == ".ipynb" else [Cell(path.name, data.decode())]
        except (NotebookError, UnicodeDecodeError) as error:
            cells, problem = [], str(error) if isinstance(error, NotebookError) else f"{path.name} is not UTF-8 text"
    else:  # a folder or a zip: unpacked with the grader's limits, into a folder that is then removed
        with tempfile.TemporaryDirectory(prefix="grader-similarity-") as workdir:
            prepared = prepare(path, assignment.submission, Path(workdir), starters=assignment.starters)
        cells, problem = prepared.cells, prepared.problem or ""
    document = Document(name, cells, problem=problem)
    started = time.monotonic()
    try:
        with deadline(READ_SECONDS, f"reading {name}"):
            kinds, document.places = tokens(cells)
            document.prints = fingerprints(kinds)
    except (TookTooLong, SystemError):  # a hostile submission costs its own comparison only
        if time.monotonic() - started < READ_SECONDS:
            raise  # a SystemError of its own, not the deadline's signal stopping the parser inside C code
        return Document(name, [], problem=f"reading {name} took too long (over {READ_SECONDS:g} s): stopped")
    return document


def excluded(assignment: Assignment) -> set[int]:
    """Fingerprints of the starter (module and notebook) and of the handout's Python code blocks."""
    cells = []
    for path in (*assignment.starters, assignment.root / "handout.md"):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        try:
            cells += (read_cells(text.encode(), path.name) if path.suffix == ".ipynb" else
                      [Cell(path.name, block) for block in _FENCE.findall(text)] if path.suffix == ".md" else
                      [Cell(path.name, text)])
        except NotebookError:
            continue
    return set().union(*(fingerprints(tokens([cell])[0]) for cell in cells))


def compare(documents: list[Document], ignore: set[int], max_share: int = 10) -> list[Pair]:
    """Every pair sharing fingerprints, most similar first; fingerprints in `ignore` or held by more than
    `max_share` submissions are dropped (from the fractions' denominators too, for the starter's)."""
    holders: dict[int, list[int]] = defaultdict(list)
    for index, document in enumerate(documents):
        for fingerprint in list(document.prints):
            if fingerprint in ignore:
                del document.prints[fingerprint]
            else:
                holders[fingerprint].append(index)
    shared: dict[tuple[int, int], set[int]] = defaultdict(set)
    for fingerprint, indices in holders.items():
        if 1 < len(indices) <= max_share:
            for a, b in itertools.combinations(indices, 2):
                shared[a, b].add(fingerprint)
    pairs = [Pair(documents[a], documents[b], prints) for (a, b), prints in shared.items()]
    pairs.sort(key=lambda p: (-p.similarity, -len(p.shared), p.a.name, p.b.name))
    return pairs
