"""What a condition is, the facts about a message that conditions read, and their registry.

A condition kind is a named builder: it checks a rule's argument once, when the config
is loaded, and returns a Condition that answers for one message at a time. The
registry is built once at start and refuses two kinds with the same name.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from config.loading import ConfigError
from config.settings import ConditionSettings, Settings
from routing.message import InboundMessage
from routing.message_text import SPOKEN_CHANNELS, read_message
from routing.normalize import PHRASE_GAP, NormalizedText, normalizer_for

# An index key: if a condition can match a message, the message has one of its atoms.
Atom = tuple[str, ...]
# A text atom's kind, field and length (routing.conditions.base.shape).
Shape = tuple[str, str, int]
# For each shape of text atom an index holds, the words or terms its atoms begin with.
TextKeys = Mapping[Shape, frozenset[str]]
_WORD = re.compile(r"\w+")


class BadArgument(ValueError):
    """A condition's argument in the config that cannot be used; says what is wrong."""


class Facts:
    """A message as conditions and the learner see it, its words and index atoms worked out once.

    `fields` hold the text as written (for regular expressions and exact keywords),
    `normalized` the new words only, as terms (routing.message_text), for keywords and the learner.
    """

    def __init__(self, message: InboundMessage, settings: Settings, keys: TextKeys) -> None:
        """`keys` say which text atoms an index holds (RuleSet.text_keys): of the message's
        words and terms and their pairs, only those that begin one of them are made."""
        self.message = message
        self.settings = settings
        text_field = "transcript" if message.channel in SPOKEN_CHANNELS else "body"
        self.fields = {"subject": message.subject, text_field: message.text}
        self.read = read_message(message, normalizer_for(settings.languages))
        self.normalized = {"subject": self.read.subject, text_field: self.read.body}
        self.atoms = _atoms(message, self.fields, self.normalized, keys)

    def field(self, name: str) -> str:
        return self.fields.get(name, "")

    def terms(self, name: str) -> NormalizedText:
        return self.normalized.get(name) or self.read.empty


def words(text: str) -> list[str]:
    """The lower-case words of a text, as the keyword index splits them."""
    return _WORD.findall(text.lower())


def shape(atom: Atom) -> Shape:
    """A text atom's kind, field and length: ("term", "body", 3) for a term, 4 for a pair."""
    return atom[0], atom[1], len(atom)


def _atoms(
    message: InboundMessage,
    fields: dict[str, str],
    normalized: dict[str, NormalizedText],
    keys: TextKeys,
) -> set[Atom]:
    atoms: set[Atom] = {("channel", message.channel), ("attachments", str(bool(message.attachments)))}
    atoms.update(("recipient", r.lower()) for r in message.recipients)
    sender = message.sender.lower()
    atoms.add(("sender", sender))
    domain = sender.rpartition("@")[2] if "@" in sender else ""
    while domain:  # the domain and each parent: mail.example.com, example.com, com
        atoms.add(("domain", domain))
        domain = domain.partition(".")[2]
    if message.machine_kind:
        atoms.update({("machine", message.machine_kind), ("machine", "*")})
    # A long mail has thousands of words, and each of its pairs is an atom too: only those
    # some rule indexes could begin with are made (an office without exact keywords needs no words).
    for name, text in fields.items():
        if ("word", name, 3) in keys or ("word", name, 4) in keys:
            atoms.update(_text_atoms("word", name, words(text), keys, 1))
    for name, read in normalized.items():
        # A term with each of the next PHRASE_GAP + 1, as a keyword phrase's first two
        # terms may stand with a word between them (routing.normalize).
        atoms.update(_text_atoms("term", name, read.terms, keys, PHRASE_GAP + 1))
    return atoms


def _text_atoms(kind: str, name: str, values: Sequence[str], keys: TextKeys, reach: int) -> Iterable[Atom]:
    """The atoms of a field's words or terms that the index has, and of its pairs of one
    with each of the next `reach` where the first begins a pair the index has."""
    indexed = keys.get((kind, name, 3))
    found = _tagged(kind, name, indexed.intersection(values)) if indexed else iter(())
    firsts = keys.get((kind, name, 4))
    if not firsts or firsts.isdisjoint(values):  # no indexed pair begins in this text
        return found
    # Where a pair begins, so that compress keeps the same places of both its words.
    begins = list(map(firsts.__contains__, values))
    pairs = (
        _tagged(kind, name, itertools.compress(values, begins), itertools.compress(values[step:], begins))
        for step in range(1, reach + 1)
    )
    return itertools.chain(found, *pairs)


# A long mail has thousands of words and pairs: zip makes their atoms without a loop of
# ours. A pair is an atom of two words rather than one joined string, which would cost more.
def _tagged(kind: str, name: str, *values: Iterable[str]) -> Iterable[Atom]:
    return zip(itertools.repeat(kind), itertools.repeat(name), *values)


class Condition(Protocol):
    def check(self, facts: Facts) -> str | None:
        """Why the condition holds for this message, or None when it does not."""

    def describe(self) -> str:
        """What the condition looks for, in a few words."""

    def atoms(self) -> set[Atom] | None:
        """Index keys of which any matching message has one; None when it cannot say."""


@dataclass(frozen=True)
class ConditionKind:
    """A named kind of condition, as rules write it: `name = argument`."""

    name: str
    description: str
    build: Callable[[object, Settings], Condition]


class DuplicateKind(Exception):
    """Two condition kinds were registered under one name."""


class Registry:
    """The condition kinds rules may use, by name."""

    def __init__(self, kinds: Iterable[ConditionKind] = ()) -> None:
        self.kinds: dict[str, ConditionKind] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: ConditionKind) -> None:
        if kind.name in self.kinds:
            raise DuplicateKind(f"condition kind {kind.name!r} is registered twice")
        self.kinds[kind.name] = kind

    def build(self, spec: ConditionSettings, settings: Settings, rule: str) -> Condition:
        """The condition a rule wrote, or a ConfigError naming the rule and the key."""
        kind = self.kinds.get(spec.kind)
        if kind is None:
            known = ", ".join(sorted(self.kinds))
            raise ConfigError(
                settings.source,
                spec.key,
                f"rule {rule!r}: unknown condition kind {spec.kind!r} (known: {known})",
            )
        try:
            return kind.build(spec.argument, settings)
        except BadArgument as error:
            raise ConfigError(settings.source, spec.key, f"rule {rule!r}: {error}") from None


def strings(argument: object, what: str) -> tuple[str, ...]:
    """A string or a non-empty list of strings, as a tuple."""
    values = [argument] if isinstance(argument, str) else argument
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise BadArgument(f"{what} must be a string or a list of strings")
    return tuple(values)


def table(argument: object, allowed: tuple[str, ...], what: str) -> dict[str, object]:
    """A table argument that holds only the allowed keys."""
    if not isinstance(argument, dict):
        raise BadArgument(f"{what} must be a table such as {{ {allowed[0]} = ... }}")
    for key in argument:
        if key not in allowed:
            raise BadArgument(f"{what}: unknown key {key!r} (allowed: {', '.join(allowed)})")
    return argument


def regex(pattern: object, what: str) -> re.Pattern[str]:
    """A case-insensitive regular expression."""
    if not isinstance(pattern, str):
        raise BadArgument(f"{what}: regex must be a string")
    try:
        return re.compile(pattern, re.IGNORECASE | re.MULTILINE)
    except re.error as error:
        raise BadArgument(f"{what}: {pattern!r} is not a valid regular expression ({error})") from None


def shown(values: Iterable[str], limit: int = 5) -> str:
    """A short list for explanations: the first few values, then how many more."""
    values = list(values)
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more
