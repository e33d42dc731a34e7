"""Turn what a student handed in (.py, .ipynb, folder or zip) into cells and a work folder.

Everything here is untrusted input handled as data: file names are checked, links and
special files are refused, archives are bounded, nothing is imported or run. The result
is the list of cells the worker will run, a fresh folder with the submission's files (the
worker's working directory), a hash, and the problems found (which fail every test with
a clear message instead of running anything).
"""

from __future__ import annotations

import ast
import hashlib
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.answers import find_answers
from grader.notebook import Cell, NotebookError, parse, read_cells

MAX_FILE_BYTES = 20 * 2**20
MAX_TOTAL_BYTES = 200 * 2**20
MAX_FILES = 2000


@dataclass
class Prepared:
    """A submission ready to run: its cells, its files, and what is wrong with it."""

    name: str
    path: Path
    kind: str                                   # "module" or "notebook"
    cells: list[Cell] = field(default_factory=list)
    sha256: str = ""
    problem: str | None = None                  # set when it cannot run at all
    violations: list[str] = field(default_factory=list)
    advisories: list[str] = field(default_factory=list)  # uses of what is forbidden only advisorily
    answers: dict[str, str] = field(default_factory=dict)  # manual question id -> the student's answer text
    file: str = ""                              # the file graded, inside the submission
    notes: list[str] = field(default_factory=list)  # how that file was chosen among several, for every report
    unchanged: bool = False                     # that file is the starter as handed out: no work submitted

    @property
    def runnable(self) -> bool:
        return self.problem is None and not self.violations


def prepare(path: Path, accepted: tuple[str, ...], workdir: Path, forbidden: tuple[str, ...] = (),
            advisory: tuple[str, ...] = (), answers: tuple[str, ...] = (),
            starters: tuple[Path, ...] = ()) -> Prepared:
    """Read the submission at `path` into `workdir`; never raises for bad student input.

    In a folder or zip holding several `accepted` files, the one that differs from the assignment's `starters`
    is graded, and the result says so; where several differ, none is (see `_choose_main`).

    The answers to the manual questions whose ids are in `answers` are read from its text (grader.answers).

    Uses of `forbidden` packages keep the submission from running (the sandbox would not have them
    anyway; the scan gives the clearer message); uses of `advisory` ones are reported as warnings.
    """
    path = Path(path)
    name = path.name
    try:
        if path.is_symlink() or not path.exists():
            return Prepared(name, path, "module", problem=f"{name}: no such file or folder (links are not followed)")
        if path.is_file() and path.suffix not in (".py", ".ipynb", ".zip"):
            return Prepared(name, path, "module", problem=f"{name} is not a .py, .ipynb or .zip file, nor a folder: "
                                                          f"hand in {' or '.join(accepted)}")
        if path.is_dir():
            digest = _copy_tree(path, workdir)
        elif path.suffix == ".zip":
            digest = _extract_zip(path, workdir)
        else:
            digest = _copy_file(path, workdir / _safe_name(name))
        notes: list[str] = []
        if path.is_file() and path.suffix in (".py", ".ipynb"):
            main = workdir / name
        else:
            main, notes = _choose_main(workdir, accepted, starters)
        if main is None:
            expected = " or ".join(accepted)
            return Prepared(name, path, "module", sha256=digest, problem=f"{name}: found no {expected} in it")
        prepared = Prepared(name, path, "notebook" if main.suffix == ".ipynb" else "module", sha256=digest,
                            file=main.name, notes=notes, unchanged=_is_starter(main, starters))
        data = main.read_bytes()
        if main.suffix == ".ipynb":
            prepared.cells = read_cells(data, main.name)
        else:
            prepared.cells = [Cell(label=main.name, source=data.decode("utf-8"))]
        prepared.answers = find_answers(data.decode("utf-8"), main.suffix == ".ipynb", answers)
    except (NotebookError, SubmissionFileError) as error:
        return Prepared(name, path, "notebook" if name.endswith(".ipynb") else "module",
                        sha256=locals().get("digest", ""), problem=str(error))
    except UnicodeDecodeError:
        return Prepared(name, path, "module", sha256=locals().get("digest", ""), problem=f"{name} is not UTF-8 text")
    prepared.violations = scan(prepared.cells, forbidden)
    prepared.advisories = [f"{use} (advisory: not enforced, but the course asks you not to)"
                           for use in scan(prepared.cells, advisory)]
    return prepared


class SubmissionFileError(Exception):
    """A file of the submission cannot be accepted (too big, a link, a bad name, ...)."""


def _safe_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name or len(name) > 255:
        raise SubmissionFileError(f"refusing a file with the name {name[:80]!r}")
    return name


def _copy_file(source: Path, target: Path) -> str:
    info = source.lstat()
    if not stat.S_ISREG(info.st_mode):
        raise SubmissionFileError(f"{source.name} is not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise SubmissionFileError(f"{source.name} is {info.st_size // 2**20} MiB; files over {MAX_FILE_BYTES // 2**20} MiB are refused")
    shutil.copyfile(source, target, follow_symlinks=False)
    return hashlib.sha256(target.read_bytes()).hexdigest()


def _copy_tree(folder: Path, workdir: Path) -> str:
    digest, count, total = hashlib.sha256(), 0, 0
    for source in sorted(folder.rglob("*")):
        relative = source.relative_to(folder)
        if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            continue
        if source.is_symlink():
            continue
        target = workdir.joinpath(*(_safe_name(p) for p in relative.parts))
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        count += 1
        total += source.lstat().st_size
        if count > MAX_FILES or total > MAX_TOTAL_BYTES:
            raise SubmissionFileError(f"{folder.name} holds more than {MAX_FILES} files or {MAX_TOTAL_BYTES // 2**20} MiB")
        target.parent.mkdir(parents=True, exist_ok=True)
        digest.update(str(relative).encode() + b"\0" + bytes.fromhex(_copy_file(source, target)))
    return digest.hexdigest()


def _extract_zip(archive: Path, workdir: Path) -> str:
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as error:
        raise SubmissionFileError(f"{archive.name} is not a readable zip archive ({error})") from None
    with bundle:
        entries = [e for e in bundle.infolist() if not e.is_dir()]
        if len(entries) > MAX_FILES or sum(e.file_size for e in entries) > MAX_TOTAL_BYTES:
            raise SubmissionFileError(f"{archive.name} unpacks to more than {MAX_FILES} files or {MAX_TOTAL_BYTES // 2**20} MiB")
        staging = workdir / ".unpacked"
        for entry in entries:
            parts = PurePosixPath(entry.filename.replace("\\", "/")).parts
            if entry.filename.startswith("/") or ".." in parts or stat.S_ISLNK(entry.external_attr >> 16):
                raise SubmissionFileError(f"{archive.name}: refusing the entry {entry.filename[:80]!r}")
            if entry.file_size > MAX_FILE_BYTES or any(p.startswith(".") or p == "__MACOSX" for p in parts):
                continue
            target = staging.joinpath(*(_safe_name(p) for p in parts))
            target.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(entry) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, length=1 << 20)
    roots = list(staging.iterdir()) if staging.exists() else []
    top = roots[0] if len(roots) == 1 and roots[0].is_dir() else staging  # a zip of one folder
    digest = _copy_tree(top, workdir)
    shutil.rmtree(staging)
    return digest


def _choose_main(workdir: Path, accepted: tuple[str, ...],
                 starters: tuple[Path, ...] = ()) -> tuple[Path | None, list[str]]:
    """The file to grade in the folder `workdir`, and how it was chosen where there was a choice.

    Of the `accepted` names present, the one whose code and text differ from the starter of its kind (the
    starter copied and left untouched is no one's work); where each is still the starter, the first the spec
    lists. Two or more that differ: SubmissionFileError, naming them and how to choose. Without an accepted
    name, the only notebook, else the only .py file."""
    present = [workdir / name for name in accepted if (workdir / name).is_file()]
    if len(present) > 1:
        worked = [file for file in present if not _is_starter(file, starters)]
        names = " and ".join(file.name for file in present)
        if len(worked) > 1:
            raise SubmissionFileError(f"found {names}, and each differs from the starter, so it is not clear which "
                                      "is your work: hand in only one of them (delete or rename the other)")
        if worked:
            untouched = " and ".join(file.name for file in present if file is not worked[0])
            return worked[0], [f"found {names}: graded {worked[0].name}; {untouched} is the starter, unchanged"]
        return present[0], [f"found {names}, each the starter unchanged: graded {present[0].name}"]
    if present:
        return present[0], []
    candidates = [p for p in workdir.iterdir() if p.suffix in (".py", ".ipynb") and p.is_file()]
    notebooks = [p for p in candidates if p.suffix == ".ipynb"]
    if len(notebooks) == 1:
        return notebooks[0], []
    return (candidates[0] if len(candidates) == 1 else None), []


def _is_starter(file: Path, starters: tuple[Path, ...]) -> bool:
    """Whether `file` is the starter of its kind as handed out: the same cells (type and text, outputs and
    metadata aside) for a notebook, the same text for a module, blank lines at either end aside."""
    starter = next((s for s in starters if s.suffix == file.suffix and s.is_file()), None)
    if starter is None:
        return False
    try:
        return _content(file) == _content(starter)
    except (NotebookError, UnicodeDecodeError):
        return False


def _content(file: Path):
    data = file.read_bytes()
    if file.suffix == ".ipynb":
        return [(cell.type, cell.source.strip()) for cell in parse(data, file.name)]
    return data.decode("utf-8").replace("\r\n", "\n").strip()


def scan(cells: list[Cell], forbidden: tuple[str, ...]) -> list[str]:
    """Find uses of forbidden modules: imports, __import__/import_module of literals, attribute chains."""
    if not forbidden:
        return []
    found = []
    aliases: dict[str, str] = {}  # the cells of a notebook share one namespace
    for cell in cells:
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue  # the worker reports syntax errors where the cell runs
        seen = set()
        for node in ast.walk(tree):
            for module, line in _uses(node, aliases):
                hit = next((f for f in forbidden if module == f or module.startswith(f + ".")), None)
                if hit and (line, hit) not in seen:
                    seen.add((line, hit))
                    found.append(f"{cell.label}, line {line}: uses {module}, which this assignment forbids")
    return found


def _uses(node, aliases: dict[str, str]):
    """Yield (dotted module name, line) for each module use in `node`; record import aliases."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
            yield alias.name, node.lineno
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        for alias in node.names:
            aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            yield f"{node.module}.{alias.name}", node.lineno
    elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if function in ("__import__", "import_module"):
            yield node.args[0].value, node.lineno
    elif isinstance(node, ast.Attribute):
        chain = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in aliases:
            yield ".".join([aliases[node.id], *reversed(chain)]), node.lineno
