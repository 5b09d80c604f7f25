"""Text from outside (a sender's name, a subject, a file name, a message) as a person may
read it without being misled: the characters that show nothing or reorder what is around
them written out, as pages, notifications and exports show it, or left out of what the
office sends back outside (a reply's subject)."""

from __future__ import annotations

import re
import unicodedata

# Characters that show nothing, or reorder the text around them, and so let a name,
# a subject or a file name read as something else: "invoice\u202egpj.exe" shows as
# "invoiceexe.jpg", "ann\u200b@x" looks like "ann@x", tag characters hide whole words.
# They are the invisible format characters (category Cf: bidi embeddings, overrides,
# isolates and marks, zero-width ones, the soft hyphen, tags) and the Hangul fillers,
# letters that draw nothing.
HIDDEN = re.compile(
    "[\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\u3164\ufeff\uffa0\ufff9-\ufffb\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e007f]"
)
# Marks that right-to-left writers place punctuation with; they cannot reverse a word.
_BIDI_MARKS = frozenset("\u200e\u200f\u061c")
# Joiners that Persian, the Indic scripts and emoji need between their characters.
_JOINERS = frozenset("\u200c\u200d")
# Diacritics no script stacks more than a few of: a longer run draws over the lines
# above and below ("Zalgo" text). Hebrew points and Arabic vowels are other blocks.
_STACKED_MARKS = re.compile(
    "([\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]{3})"
    "[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+"
)
_SPACES = re.compile(r"[\s\x00-\x1f\x7f]+")
# What no file name may hold: control characters, and what file systems or a header's
# quoted name refuse.
_UNSAFE_IN_NAME = re.compile(r'[\x00-\x1f\x7f"\\/;:<>|?*%]')
_MAX_NAME = 200
_MAX_EXTENSION = 16


def unhidden(text: str, strict: bool = False) -> str:
    """`text` from outside as a person may read it without being misled: each character
    that shows nothing or reorders its neighbours written out as "[U+202E]", and stacks
    of diacritics cut to three.

    `strict` is for what names a thing rather than says something (an address, a
    number, a file name): there every such character is written out. In words (a name,
    a subject, a message) the bidi marks stay, and a joiner between two non-ASCII
    characters, so that Arabic, Hebrew, Persian and emoji still read right.
    """
    return _written_out(_STACKED_MARKS.sub(r"\1", text), strict)


def one_line(text: str, limit: int | None = None, strict: bool = False) -> str:
    """`unhidden` text on one line, as a list, a header or a line of a notification shows a
    field: line breaks and control characters as single spaces, cut to `limit` characters
    with "…" (a 10,000-character subject would push everything else off the line)."""
    # Cut before writing out, so that the limit counts what is written and no "[U+...]" is cut in two.
    line = _STACKED_MARKS.sub(r"\1", _SPACES.sub(" ", text)).strip()
    if limit is not None and len(line) > limit:
        line = line[:limit].rstrip() + "…"
    return _written_out(line, strict)


def without_hidden(text: str) -> str:
    """`text` as the office sends it back outside (the subject of a reply or a forward): the
    characters `unhidden` writes out left out instead, as its reader's mail program shows
    nothing of them, and stacks of diacritics cut to three. What words need stays as in
    `unhidden`, so Arabic, Hebrew, Persian and emoji read as written."""
    return _written_out(_STACKED_MARKS.sub(r"\1", text), strict=False, left_out=True)


def file_name(name: str) -> str:
    """An attachment's name as it may be saved: the part after its last folder (a saved
    file has none, and "../" misleads), without control and format characters (a bidi
    override makes "exe.pdf" read ".pdf"), the characters file systems and headers refuse
    as "_", runs of spaces as one (they push the real extension out of sight), and only
    its last extension ("invoice.pdf.exe", whose ".exe" Windows hides, becomes
    "invoice_pdf.exe"); "" when nothing is left."""
    base = re.split(r"[\\/]", name)[-1]
    cleaned = _UNSAFE_IN_NAME.sub("_", unicodedata.normalize("NFC", base))
    cleaned = "".join(c for c in cleaned if unicodedata.category(c) != "Cf")
    cleaned = " ".join(cleaned.split()).strip(" .")
    stem, dot, extension = cleaned.rpartition(".")
    if dot and stem:
        # Cut, the name keeps its last extension rather than an inner one.
        extension = extension[:_MAX_EXTENSION]
        cleaned = stem.replace(".", "_")[: _MAX_NAME - len(extension) - 1] + "." + extension
    return cleaned[:_MAX_NAME]


def _written_out(text: str, strict: bool, left_out: bool = False) -> str:
    """`text` with each hidden character written out (or `left_out`), but those `unhidden`
    keeps in words."""

    def written_out(found: re.Match[str]) -> str:
        char = found[0]
        if not strict:
            if char in _BIDI_MARKS:
                return char
            start, end = found.span()
            if char in _JOINERS and start > 0 and end < len(text):
                before, after = text[start - 1], text[end]
                if before > "\x7f" and after > "\x7f" and not (HIDDEN.match(before) or HIDDEN.match(after)):
                    return char
        return "" if left_out else f"[U+{ord(char):04X}]"

    return HIDDEN.sub(written_out, text)
