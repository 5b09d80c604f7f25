"""What a department sends without a person writing it afresh: its acknowledgement of new
mail, the outside address it forwards to, and its canned answers (templates).

Texts name the item's fields in braces ({id}, {name}, ...); the loader has checked that
they name only the fields given to them, so filling one in never fails.
"""

from __future__ import annotations

from dataclasses import dataclass

# The fields each kind of text may name; "{{" and "}}" write a brace.
ACKNOWLEDGEMENT_FIELDS = ("id", "hours", "department")
TEMPLATE_FIELDS = ("name", "id", "subject", "department")
DEFAULT_ACKNOWLEDGEMENT = (
    "Thank you for your message. We have it, and its reference is #{id}.\n"
    "{department} answers within {hours} hours."
)


@dataclass(frozen=True)
class Acknowledgement:
    """A department's automatic "we have your message": off unless `enabled`.

    `texts` are (language, text) pairs, the office's first language always among them
    when enabled; a message in a language without a text gets that first one.
    """

    enabled: bool = False
    hours: int = 24
    texts: tuple[tuple[str, str], ...] = ()

    def text(self, language: str) -> str:
        """The text for `language`, else the first one (the office's first language)."""
        return dict(self.texts).get(language, self.texts[0][1] if self.texts else "")


@dataclass(frozen=True)
class Template:
    """A canned answer: a name people pick it by, and its text with the item's fields."""

    name: str
    text: str

    def filled(self, fields: dict[str, str]) -> str:
        return self.text.format_map(fields)
