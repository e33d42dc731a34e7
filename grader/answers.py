"""The answers to manual questions in a submission, found by the question's id.

In a notebook, a cell tagged with the question's id is the answer (all of it); otherwise a line
`<id>:` (or `# <id>:`) in a markdown or raw cell starts the answer, which runs to the end of that
cell or to the next such line for another question. In a module (and in a notebook's code cells) a
comment line `# <id>:` starts the answer, which runs while the lines are comments, the `#` and one
space taken off each. Text after the colon on the marker line belongs to the answer. Several
blocks for one question are joined by a blank line. The text is only read, never run or rendered.
"""

from __future__ import annotations

import re
from pathlib import Path

from grader.notebook import parse

MAX_ANSWER_CHARS = 50_000


def find_answers(source: str, notebook: bool, ids: tuple[str, ...]) -> dict[str, str]:
    """Answer text per question id (only ids found), from a notebook's JSON or a module's source."""
    if not ids:
        return {}
    blocks: dict[str, list[str]] = {}
    if notebook:
        for cell in parse(source.encode()):
            tagged = [tag for tag in cell.tags if tag in ids]
            if tagged:
                blocks.setdefault(tagged[0], []).append(cell.source.strip("\n"))
            elif cell.type == "code":
                _comment_blocks(cell.source, ids, blocks)
            else:
                _text_blocks(cell.source, ids, blocks)
    else:
        _comment_blocks(source, ids, blocks)
    answers = {qid: "\n\n".join(parts).strip("\n") for qid, parts in blocks.items()}
    return {qid: text if len(text) <= MAX_ANSWER_CHARS else text[:MAX_ANSWER_CHARS] + "\n[... cut: the answer is longer]"
            for qid, text in answers.items()}


def _marker(ids: tuple[str, ...], comment: bool) -> re.Pattern:
    names = "|".join(map(re.escape, sorted(ids, key=len, reverse=True)))
    return re.compile(rf"\s*#{'+' if comment else '*'}\s*({names})\s*:\s?(.*)")


def _text_blocks(text: str, ids: tuple[str, ...], blocks: dict[str, list[str]]) -> None:
    """Markdown or raw text: a marker line starts an answer that runs to the cell's end or the next marker."""
    marker, current = _marker(ids, comment=False), None
    for line in text.splitlines():
        match = marker.fullmatch(line)
        if match:
            current = blocks.setdefault(match.group(1), [])
            current.append(match.group(2))
        elif current is not None:
            current[-1] += "\n" + line


def _comment_blocks(text: str, ids: tuple[str, ...], blocks: dict[str, list[str]]) -> None:
    """Code: a marker comment starts an answer that runs while the lines are comments (a `# %%` line ends it)."""
    marker, current = _marker(ids, comment=True), None
    for line in text.splitlines():
        match = marker.fullmatch(line)
        stripped = line.strip()
        if match:
            current = blocks.setdefault(match.group(1), [])
            current.append(match.group(2))
        elif current is not None and stripped.startswith("#") and not stripped.startswith("# %%"):
            current[-1] += "\n" + re.sub(r"^#\s?", "", stripped)
        else:
            current = None


def placeholders(starters: tuple[Path, ...], ids: tuple[str, ...]) -> dict[str, set[str]]:
    """The text each starter carries as the answer to each question (its placeholder): still there, it is no answer."""
    found: dict[str, set[str]] = {}
    for starter in (path for path in starters if path.is_file()):
        for qid, text in find_answers(starter.read_text(encoding="utf-8"), starter.suffix == ".ipynb", ids).items():
            found.setdefault(qid, set()).add(text.strip())
    return found


def answer_state(text: str, placeholder: set[str]) -> str:
    """"answered", "placeholder" (the starter's text, unchanged) or "missing" (no text under the question's line)."""
    text = text.strip()
    return "missing" if not text else "placeholder" if text in placeholder else "answered"
