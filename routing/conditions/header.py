"""The `header` condition: an email header is present, or its value matches a regex.

header = { name = "List-Id" }
header = { name = "X-Spam-Flag", regex = "^yes$" }
"""

from __future__ import annotations

import re

from config.settings import Settings
from routing.conditions.base import Atom, BadArgument, ConditionKind, Facts, regex, table


class Header:
    def __init__(self, name: str, pattern: re.Pattern[str] | None) -> None:
        self.name, self.pattern = name, pattern

    def check(self, facts: Facts) -> str | None:
        for name, value in facts.message.headers:
            if name.lower() != self.name.lower():
                continue
            if self.pattern is None:
                return f"has header {self.name}"
            if self.pattern.search(value):
                return f"header {self.name} is {value[:60]!r}"
        return None

    def describe(self) -> str:
        if self.pattern is None:
            return f"has header {self.name}"
        return f"header {self.name} matches /{self.pattern.pattern}/"

    def atoms(self) -> set[Atom] | None:
        return None


def _build(argument: object, settings: Settings) -> Header:
    options = table(argument, ("name", "regex"), "header")
    name = options.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadArgument('header: name the header, such as { name = "List-Id" }')
    pattern = regex(options["regex"], "header") if "regex" in options else None
    return Header(name.strip(), pattern)


KINDS = (ConditionKind("header", "an email header, present or matching a pattern", _build),)
