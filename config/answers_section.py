"""A department's `acknowledgement` table, its `forward_to` and its `[[departments.templates]]`."""

from __future__ import annotations

from string import Formatter

from config.answers import (
    ACKNOWLEDGEMENT_FIELDS,
    DEFAULT_ACKNOWLEDGEMENT,
    TEMPLATE_FIELDS,
    Acknowledgement,
    Template,
)
from config.domains import owns
from config.table import ADDRESS, Table, bounded

# An answer within a week at most: a longer promise is no acknowledgement.
MAX_HOURS = 7 * 24
MAX_TEMPLATE_NAME = 100
# As long as a reply may be (routing.queues.replies.MAX_REPLY).
MAX_TEXT = 20_000


def read_acknowledgement(table: Table, languages: tuple[str, ...]) -> Acknowledgement:
    """`enabled`, `hours`, and `texts = {LANGUAGE = "..."}` in the office's languages; the
    first language's text defaults to the English one only where English is that language."""
    table.only("enabled", "hours", "texts")
    enabled = table.get("enabled", bool, False)
    hours = bounded(table, "hours", Acknowledgement.hours, 1, MAX_HOURS)
    given = table.table("texts")
    texts = {}
    for language in given.data:
        if language not in languages:
            raise given.fail(language, f"is not one of office.languages ({', '.join(languages)})")
        texts[language] = checked_text(given, language, ACKNOWLEDGEMENT_FIELDS)
    first = languages[0]
    if first not in texts:
        if enabled and first != "en":
            raise given.fail(first, "is required: the text in the office's first language")
        texts[first] = DEFAULT_ACKNOWLEDGEMENT
    ordered = ((first, texts[first]), *((code, text) for code, text in texts.items() if code != first))
    return Acknowledgement(enabled=enabled, hours=hours, texts=tuple(ordered))


def read_forward_to(table: Table, domains: tuple[str, ...]) -> str:
    """The department's outside address that items are forwarded to, "" for none."""
    address: str = table.get("forward_to", str, "").lower()
    if address and not ADDRESS.match(address):
        raise table.fail("forward_to", f"{address!r} is not an email address")
    if address and owns(domains, address.rpartition("@")[2]):
        # Intake itself takes the office's mail: the forward would come back as a message.
        raise table.fail("forward_to", f"{address!r} is at one of office.domains; reroute the item instead")
    return address


def read_templates(tables: list[Table]) -> tuple[Template, ...]:
    """Each `[[departments.templates]]`: a `name` unique in the department and its `text`."""
    templates: list[Template] = []
    for table in tables:
        table.only("name", "text")
        name = " ".join(table.text("name").split())
        if len(name) > MAX_TEMPLATE_NAME:
            raise table.fail("name", f"is at most {MAX_TEMPLATE_NAME} characters")
        if name in {template.name for template in templates}:
            raise table.fail("name", f"another template of the department is named {name!r}")
        templates.append(Template(name, checked_text(table, "text", TEMPLATE_FIELDS)))
    return tuple(templates)


def checked_text(table: Table, key: str, fields: tuple[str, ...]) -> str:
    """The text at `key`, refused unless every {field} it names is one of `fields`."""
    text = table.text(key, lines=True)
    if len(text) > MAX_TEXT:
        raise table.fail(key, f"is at most {MAX_TEXT:,} characters")
    allowed = ", ".join("{" + name + "}" for name in fields)
    try:
        named = [(name, spec, conversion) for _, name, spec, conversion in Formatter().parse(text)]
    except ValueError as error:
        raise table.fail(key, f"{error} (write a brace as {{{{ or }}}})") from None
    for name, spec, conversion in named:
        if name is not None and (name not in fields or spec or conversion):
            raise table.fail(key, f"{{{name}}} is not one of {allowed}")
    return text
