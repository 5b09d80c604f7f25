"""The `subject`, `body` and `transcript` conditions: keywords or a regular expression.

    subject = ["invoice", "credit note"]            (any of these words or phrases)
    body = { regex = "order\\s+#?\\d{5}" }
    transcript = { keywords = ["emergency"] }       (the text of a voicemail)

A keyword matches any form of its words in the new text (routing.message_text):
`plată` finds `plata`, `plăți` and `plătit`, `invoice` finds `Invoices`, in whichever of
the office's languages the message is written; a phrase's words may have one other word
between them (`miroase a gaz` finds `miroase puternic a gaz`). `"exact:..."` finds the
words exactly as written (whole words, any case) anywhere in the text, quotes included;
so does a regex.
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
from routing.normalize import Normalizer, normalizer_for

EXACT = "exact:"


class Keywords:
    """Keywords in any form, and `exact:` ones as written; holds when one is found."""

    def __init__(self, field: str, keywords: tuple[str, ...], normalizer: Normalizer) -> None:
        self.field, self.keywords = field, tuple(k.lower() for k in keywords)
        exact = [k.removeprefix(EXACT).strip() for k in self.keywords if k.startswith(EXACT)]
        if any(not words(k) for k in exact):
            raise BadArgument(f"{field}: give the words after {EXACT!r}")
        self.exact = tuple(exact)
        alternatives = "|".join(re.escape(k) for k in sorted(exact, key=len, reverse=True))
        self.pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE) if exact else None
        self.forms = {
            keyword: normalizer.spellings(keyword)
            for keyword in self.keywords
            if not keyword.startswith(EXACT)
        }
        if any(not forms for forms in self.forms.values()):
            raise BadArgument(f"{field}: a keyword needs at least one word")

    def check(self, facts: Facts) -> str | None:
        read = facts.terms(self.field)
        for keyword, forms in self.forms.items():
            for form in forms:
                found = read.find(form)
                if found is not None:
                    written = "" if found.casefold() == keyword else f" (as {found!r})"
                    return f"{self.field} has {keyword!r}{written}"
        exact = self.pattern.search(facts.field(self.field)) if self.pattern else None
        return f"{self.field} has {EXACT}{exact[0].lower()!r}" if exact else None

    def describe(self) -> str:
        return f"{self.field} has {shown(repr(k) for k in self.keywords)}"

    def atoms(self) -> set[Atom] | None:
        # A phrase is found through its first two words (or terms), which the message has
        # side by side wherever the phrase occurs (its terms with at most PHRASE_GAP words
        # between them); the check then reads the whole phrase.
        found: set[Atom] = {("word", self.field, *words(k)[:2]) for k in self.exact}
        for forms in self.forms.values():
            found.update(("term", self.field, *form[:2]) for form in forms)
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
            return Keywords(field, strings(argument, field), normalizer_for(settings.languages))
        options = table(argument, ("keywords", "regex"), field)
        if len(options) != 1:
            raise BadArgument(f"{field}: give either keywords or regex")
        if "regex" in options:
            return Pattern(field, regex(options["regex"], field))
        keywords = strings(options["keywords"], f"{field}.keywords")
        return Keywords(field, keywords, normalizer_for(settings.languages))

    return ConditionKind(field, f"words or a pattern in the {field}", build)


KINDS = (_builder("subject"), _builder("body"), _builder("transcript"))
