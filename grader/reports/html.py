"""The one way our HTML pages are made: Jinja2 with autoescaping and cleaned text, and one stylesheet.

The feedback page, the class report and the review app all render through `environment()`: every
value a template prints is escaped, and every string is first cleaned of control and bidi characters
(grader.results.clean_text). `stylesheet()` is the one piece not escaped: it is ours.
"""

from __future__ import annotations

import functools
from importlib import resources

from grader.results import clean_text, points_text


@functools.cache
def environment():
    """The Jinja2 environment of grader/reports/templates: autoescape, strict undefined, cleaned strings."""
    from jinja2 import Environment, PackageLoader, StrictUndefined
    from markupsafe import Markup

    def finalize(value):  # every string the page prints, whatever its source: no control or bidi characters
        return clean_text(value) if isinstance(value, str) and not isinstance(value, Markup) else value

    env = Environment(loader=PackageLoader("grader.reports", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, finalize=finalize)
    env.filters["points"] = points_text
    env.filters["answer_html"] = _answer_html
    return env


def _answer_html(text: str):
    """A written answer's Markdown and math as inert HTML (grader.reports.answer_text: markdown-it, latex2mathml)."""
    from grader.reports.answer_text import answer_html

    return answer_html(clean_text(text))


@functools.cache
def stylesheet():
    """Our stylesheet and pygments' token colours: the one piece of a page not escaped (it is ours)."""
    from markupsafe import Markup
    from pygments.formatters.html import HtmlFormatter

    ours = resources.files("grader.reports").joinpath("templates", "report.css").read_text(encoding="utf-8")
    tokens = "\n".join(HtmlFormatter(style="default").get_token_style_defs(".code"))
    return Markup(f"{ours}\n/* pygments, style 'default' */\n{tokens}\n")
