"""A student's written answer as HTML: Markdown and LaTeX, rendered here on the server, inert.

Markdown goes through markdown-it-py with raw HTML off (a `<script>` the student typed is text) and images
shown as their alt text (nothing is fetched); its links are the ones markdown-it accepts (no `javascript:`, `data:`, `file:`).
Math between `$...$` (inline) and `$$...$$` (display) becomes MathML through latex2mathml, which Chromium
and Firefox draw without a script; the MathML is parsed back and kept only if every element and attribute
is one of MathML's presentation vocabulary (no `href`, no event handler), else the math is shown as the
text it was. Text outside math is escaped by markdown-it, MathML's text by ElementTree.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET

from markupsafe import Markup, escape

MATHML = "http://www.w3.org/1998/Math/MathML"
_ELEMENTS = {"math", "mi", "mn", "mo", "ms", "mtext", "mrow", "msup", "msub", "msubsup", "mfrac", "msqrt", "mroot",
             "mover", "munder", "munderover", "mtable", "mtr", "mtd", "mspace", "mstyle", "mpadded", "mphantom",
             "menclose", "mfenced", "merror", "semantics", "annotation"}
_ATTRIBUTES = {"display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "accent",
               "accentunder", "linethickness", "columnalign", "rowspacing", "columnspacing", "width", "height",
               "depth", "displaystyle", "scriptlevel", "minsize", "maxsize", "movablelimits", "largeop", "symmetric",
               "form", "notation", "align", "columnlines", "rowlines", "frame", "encoding", "open", "close",
               "separators", "rowalign", "columnspan", "rowspan", "bevelled", "voffset"}
# code (fenced blocks, `spans`) is left as it is; then $$...$$, then $...$ whose ends touch no space (so
# "costs $5 and $6" stays text); \$ is a dollar
_MATH = re.compile(r"(?P<code>^```.*?^```|`[^`\n]*`)"
                   r"|(?<!\\)\$\$(?P<display>.+?)(?<!\\)\$\$|(?<![\\$])\$(?P<inline>[^\s$](?:[^$\n]*?[^\s\\$])?)\$(?!\$)",
                   re.DOTALL | re.MULTILINE)
_SLOT = re.compile("\ue000([0-9]+)\ue001")  # private-use characters: markdown passes them through as text
MAX_MATH = 500  # spans per answer; the rest stays text


@functools.cache
def _markdown():
    from markdown_it import MarkdownIt

    markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    markdown.add_render_rule("image", lambda self, tokens, index, options, env: str(escape(tokens[index].content)))
    return markdown


def answer_html(text: str) -> Markup:
    """The answer's Markdown and math as safe HTML (see the module's docstring)."""
    formulas: list[str] = []

    def slot(match: re.Match) -> str:
        if match["code"] is not None or len(formulas) >= MAX_MATH:
            return match[0]
        display = match["display"] is not None
        formulas.append(_mathml(match["display"] if display else match["inline"], display) or str(escape(match[0])))
        return f"\ue000{len(formulas) - 1}\ue001"

    html = _markdown().render(_MATH.sub(slot, text.replace("\ue000", "").replace("\ue001", "")))
    return Markup(_SLOT.sub(lambda match: formulas[int(match[1])], html))


def _mathml(latex: str, display: bool) -> str | None:
    """The formula as MathML, or None where latex2mathml cannot read it or writes anything outside the allowlist."""
    from latex2mathml.converter import convert

    try:
        tree = ET.fromstring(convert(latex.strip(), display="block" if display else "inline"))
    except Exception:  # noqa: BLE001 (any failure of the converter on what a student typed: shown as text)
        return None
    for element in tree.iter():
        namespace, _, name = element.tag.rpartition("}")
        if namespace.lstrip("{") != MATHML or name not in _ELEMENTS or not set(element.attrib) <= _ATTRIBUTES:
            return None
    ET.register_namespace("", MATHML)
    return ET.tostring(tree, encoding="unicode", short_empty_elements=False)
