"""HTML mail bodies -> readable plain text for the queue list, search and the item page.

The HTML itself is kept on the item for a sanitized display later; this only makes
text a person can read at a glance: paragraphs and line breaks kept, scripts, styles
and markup dropped, entities decoded. Python's HTMLParser never raises on bad markup.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
    ]
)
_HIDDEN = frozenset({"script", "style", "head", "title", "template"})
_CELLS = frozenset({"td", "th"})


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            # Real mail leaves <head> (or a <style> in it) unclosed; the body is shown anyway.
            self.hidden_depth = 0
        elif tag in _HIDDEN:
            self.hidden_depth += 1
        elif tag in _BLOCKS:
            self.pieces.append("\n")
            if tag == "li":
                self.pieces.append("- ")
        elif tag in _CELLS:
            self.pieces.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag in _BLOCKS:
            self.pieces.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.pieces.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden_depth:
            self.pieces.append(data)


def html_to_text(markup: str) -> str:
    """Readable text from an HTML body: one line per block, blank lines collapsed."""
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    text = "".join(collector.pieces)
    lines = (re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
