"""Why a person must decide where an item belongs: the reasons kept in `Item.decision_needed`.

A reason is stored in English, as the API and the item's history give it. Each kind of
reason is written from one pattern here, so `read` can take a stored reason apart again
and a page can say it in the reader's language, with the department's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# What a suggestion that is not well founded rests on (routing.learning.Suggestion).
RESTING_ON = {
    "unkeyed": "one word that is no keyword of it",
    "contested": "words that say as much for another department",
}
# The kinds of reason, each with its English pattern. A field is a run of text without
# the characters that surround it in the pattern, so reading back is unambiguous.
PATTERNS = {
    "machine": "machine mail ({machine}) that no rule recognised",
    "disagree": "the address and the words disagree: they read as {department} ({confidence})",
    "below": "weak suggestion: {department} ({confidence}, below {threshold})",
    **{kind: f"weak suggestion: {{department}}, on {phrase}{{words}}" for kind, phrase in RESTING_ON.items()},
    "unrouted": "no rule or address chose a department",
}
_FIELD = re.compile(r"\\\{(\w+)\\\}")
# What each field may hold: a department id, a percentage, the machine's kind, and the
# words a suggestion rests on (" (a, b)", or nothing).
_FIELD_TEXT = {
    "department": r"[^\s,()]+",
    "confidence": r"\d+%",
    "threshold": r"\d+%",
    "machine": r"[^()]+",
    "words": r"(?: \(.*\))?",
}
_READERS = {
    kind: re.compile(_FIELD.sub(lambda field: f"(?P<{field[1]}>{_FIELD_TEXT[field[1]]})", re.escape(pattern)))
    for kind, pattern in PATTERNS.items()
}


@dataclass(frozen=True)
class Undecided:
    """One reason: its kind (a key of PATTERNS) and the values of its pattern's fields."""

    kind: str
    fields: dict[str, str]

    def __str__(self) -> str:
        return PATTERNS[self.kind].format(**self.fields)


def machine_mail(kind: str) -> Undecided:
    return Undecided("machine", {"machine": kind})


def words_disagree(department: str, confidence: float) -> Undecided:
    return Undecided("disagree", {"department": department, "confidence": f"{confidence:.0%}"})


def below_threshold(department: str, confidence: float, threshold: float) -> Undecided:
    figures = {"confidence": f"{confidence:.0%}", "threshold": f"{threshold:.0%}"}
    return Undecided("below", {"department": department, **figures})


def too_little(department: str, contested: bool, words: tuple[str, ...]) -> Undecided:
    """A suggestion resting on one word no keyword of its department, or on words that
    say as much for another department; the words named."""
    return Undecided(resting_on(contested), {"department": department, "words": named_words(words)})


def resting_on(contested: bool) -> str:
    return "contested" if contested else "unkeyed"


def named_words(words: tuple[str, ...]) -> str:
    return f" ({', '.join(words)})" if words else ""


UNROUTED = Undecided("unrouted", {})


def read(reason: str) -> Undecided | None:
    """The reason a stored text was written from, or None for a text of no known pattern
    (one stored before its pattern changed)."""
    for kind, reader in _READERS.items():
        found = reader.fullmatch(reason)
        if found is not None:
            return Undecided(kind, found.groupdict())
    return None
