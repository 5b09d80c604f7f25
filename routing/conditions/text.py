"""The `subject`, `body` and `transcript` conditions: keywords or a regular expression.

    subject = ["invoice", "credit note"]            (any of these words or phrases)
    body = { regex = "order\\s+#?\\d{5}" }
    transcript = { keywords = ["emergency"] }       (the text of a voicemail)

Keywords match whole words, case-insensitively; a regex is case-insensitive too.
`body` reads the text of mail and messages, `transcript` that of voicemail.
"""

from __future__ import annotations

import re

from config.settings import Settings
from routing.conditions.base import (
    Atom,
    BadArgument,
    ConditionKind,
    Facts,
    regex,
    shown,
    strings,
    table,
    words,
)


class Keywords:
    def __init__(self, field: str, keywords: tuple[str, ...]) -> None:
        self.field, self.keywords = field, tuple(k.lower() for k in keywords)
        alternatives = "|".join(re.escape(k) for k in sorted(self.keywords, key=len, reverse=True))
        self.pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    def check(self, facts: Facts) -> str | None:
        found = self.pattern.search(facts.field(self.field))
        return f"{self.field} has {found[0].lower()!r}" if found else None

    def describe(self) -> str:
        return f"{self.field} has {shown(repr(k) for k in self.keywords)}"

    def atoms(self) -> set[Atom] | None:
        # A phrase is found through its first two words, which the message has side by
        # side wherever the phrase occurs; the check then reads the whole phrase.
        found: set[Atom] = set()
        for keyword in self.keywords:
            split = words(keyword)
            if not split:
                return None
            found.add(("word", self.field, " ".join(split[:2])))
        return found


class Pattern:
    def __init__(self, field: str, pattern: re.Pattern[str]) -> None:
        self.field, self.pattern = field, pattern

    def check(self, facts: Facts) -> str | None:
        found = self.pattern.search(facts.field(self.field))
        return f"{self.field} matches /{self.pattern.pattern}/ at {found[0][:60]!r}" if found else None

    def describe(self) -> str:
        return f"{self.field} matches /{self.pattern.pattern}/"

    def atoms(self) -> set[Atom] | None:
        return None


def _builder(field: str) -> ConditionKind:
    def build(argument: object, settings: Settings) -> Keywords | Pattern:
        if not isinstance(argument, dict):
            return Keywords(field, strings(argument, field))
        options = table(argument, ("keywords", "regex"), field)
        if len(options) != 1:
            raise BadArgument(f"{field}: give either keywords or regex")
        if "regex" in options:
            return Pattern(field, regex(options["regex"], field))
        return Keywords(field, strings(options["keywords"], f"{field}.keywords"))

    return ConditionKind(field, f"words or a pattern in the {field}", build)


KINDS = (_builder("subject"), _builder("body"), _builder("transcript"))
