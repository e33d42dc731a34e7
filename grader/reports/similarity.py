"""The similarity report: ranked pairs as CSV, and an HTML page with each pair's code side by side.

The page is rendered by the feedback page's Jinja2 environment (autoescaping, control characters made
visible) with its stylesheet and its code view: the matched lines are highlighted as cited lines are there.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from grader.reports.feedback import code_cell
from grader.reports.html import environment, stylesheet
from grader.reports.gradebook import text_cell


def write_pairs_csv(pairs, path: Path) -> None:
    """Every pair, most similar first: names, the fraction of each matched, the similarity, fingerprints shared."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission_a", "submission_b", "fraction_a", "fraction_b", "similarity", "shared"])
        for pair in pairs:
            writer.writerow([text_cell(pair.a.name), text_cell(pair.b.name), f"{pair.fraction_a:.3f}",
                             f"{pair.fraction_b:.3f}", f"{pair.similarity:.3f}", len(pair.shared)])


def to_similarity_html(pairs, slug: str, documents: list, total: int, settings: dict) -> str:
    """The page for the `pairs` shown (the most similar; `total` pairs in all) of `documents`."""
    views, highlighted = [], {}
    for number, pair in enumerate(pairs, start=1):
        sides = [_side(f"p{number}{letter}", document, fraction, pair.lines(document), highlighted)
                 for letter, document, fraction in (("a", pair.a, pair.fraction_a), ("b", pair.b, pair.fraction_b))]
        views.append({"a": pair.a.name, "b": pair.b.name, "fraction_a": _percent(pair.fraction_a),
                      "fraction_b": _percent(pair.fraction_b), "similarity": _percent(pair.similarity),
                      "shared": len(pair.shared), "sides": sides})
    unreadable = [(d.name, d.problem) for d in documents if d.problem]
    return environment().get_template("similarity.html").render(
        slug=slug, pairs=views, documents=len(documents), total=total, unreadable=unreadable,
        stylesheet=stylesheet(), **settings)


def _side(prefix: str, document, fraction: float, matched: set, views: dict) -> dict:
    """One submission's cells that hold matched lines, those lines marked; `views` caches the highlighted code."""
    cells = []
    for index, cell in enumerate(document.cells):
        if not any((index, line) in matched for line in range(1, cell.source.count("\n") + 2)):
            continue
        view = views.get((id(document), index)) or views.setdefault((id(document), index), code_cell(index + 1, cell))
        lines = [dataclasses.replace(line, id=f"{prefix}-{line.id}", cited=(index, line.number) in matched)
                 for line in view.lines]
        cells.append(dataclasses.replace(view, lines=lines))
    return {"name": document.name, "fraction": _percent(fraction), "cells": cells}


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.0f}%"
