"""What a message teaches the learned suggestion: its new words as weighted terms, and its sender.

A lesson is read when the message is routed and kept on its item, so that a person's
correction teaches what was read then (routing.learning); each text weighs one in all
however long it is, an old subject and what a sentence thanks for weigh less.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from config.settings import Settings
from routing.message import InboundMessage
from routing.message_text import MessageText, read_message
from routing.normalize import normalizer_for
from routing.senders import sender_features

MAX_TERM_LENGTH = 64
# A subject that repeats an old one (Re: ...) weighs this much of a fresh one.
OLD_SUBJECT_WEIGHT = 0.3
# A word of a sentence that thanks or wishes well, beside one that asks (routing.message_text).
COURTESY_WEIGHT = 0.3


@dataclass(frozen=True)
class Lesson:
    """What a message teaches when a person says where it belongs."""

    terms: dict[str, float]  # term -> weight, summing to 1
    sender: str
    # What is learned of the sender (routing.senders.sender_features).
    senders: tuple[str, ...]
    # The terms' weights before they were scaled to sum to 1 (1 a word, less for an old
    # subject or a thanks): what is stored, as `1.0` is shorter to write and read than
    # `0.01730103806228374`, on every item (a JSON encoder's time is mostly its floats').
    weights: dict[str, float] = field(default_factory=dict, compare=False)
    # A word as written for each term, for explanations; not stored.
    words: dict[str, str] = field(default_factory=dict, compare=False)
    # The signature's terms and the opening sentences', read only for who is writing; not stored.
    signed: frozenset[str] = field(default_factory=frozenset, compare=False)
    # The same, the opening's and the signature's terms in order; not stored.
    signed_in_order: tuple[tuple[str, ...], ...] = field(default=(), compare=False)

    def signs_as(self, phrase: tuple[str, ...]) -> bool:
        """Whether the opening or the signature has the phrase's terms together: a writer
        phrase ("I own") says who writes only so, not an "I" in one sentence and "my own"
        in the next."""
        if not all(term in self.signed for term in phrase):  # most messages: decided here
            return False
        size = len(phrase)
        return size == 1 or any(
            terms[start : start + size] == phrase
            for terms in self.signed_in_order
            for start in range(len(terms))
        )

    def stored(self) -> dict[str, Any]:
        return {"weights": self.weights, "sender": self.sender, "senders": list(self.senders)}

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> Lesson:
        """The lesson as stored: its weights scaled as when it was read, so that what a
        correction taught is exactly what an erasure takes back; a lesson stored scaled
        (before weights were kept) as it is."""
        sender, senders = str(data["sender"]), tuple(data["senders"])
        if "terms" in data:
            terms = dict(data["terms"])
            return cls(terms, sender, senders, terms)
        weights = dict(data["weights"])
        return cls(_scaled(weights), sender, senders, weights)


def _scaled(weights: dict[str, float]) -> dict[str, float]:
    """The weights scaled to sum to one."""
    total = sum(weights.values()) or 1.0
    return {term: weight / total for term, weight in weights.items()}


def lesson_of(
    text: MessageText, sender: str, settings: Settings | None, vocabulary: frozenset[str] = frozenset()
) -> Lesson:
    """The message's distinct terms, weighted (an old subject less) and scaled to sum to one.

    The config's words (`vocabulary`) are looked for inside compounds and, in a
    transcript, across two neighbouring words (routing.normalize).
    """
    raw: dict[str, float] = {}
    words: dict[str, str] = {}
    subject_weight = OLD_SUBJECT_WEIGHT if text.old_subject else 1.0
    body = text.body
    if settings is not None and vocabulary:
        body = normalizer_for(settings.languages).with_known_parts(body, vocabulary, joined=text.spoken)
    for read, weight in ((body, 1.0), (text.subject, subject_weight)):
        for term, word in zip(read.terms, read.words, strict=True):
            said = COURTESY_WEIGHT * weight if term in text.courtesy else weight
            if raw.get(term, 0.0) >= said:  # seen already: most words of a text repeat
                continue
            if len(term) < 2 or term.isdigit() or len(term) > MAX_TERM_LENGTH:
                continue
            raw[term] = said
            words.setdefault(term, word)
    senders = sender_features(sender, settings) if settings else ()
    signature = text.signature
    if signature is not None:
        for term, word in zip(signature.terms, signature.words, strict=True):
            words.setdefault(term, word)
    read_for_writers = (text.opening, signature.terms if signature is not None else ())
    return Lesson(
        _scaled(raw),
        sender.lower(),
        senders,
        raw,
        words,
        frozenset().union(*read_for_writers),
        read_for_writers,
    )


def legacy_lesson(channel: str, sender: str, subject: str, text: str) -> Lesson:
    """The lesson of an item routed before lessons were kept: its new words read as
    English (the office's languages were not recorded), and its address alone."""
    message = InboundMessage(
        channel, sender, (), subject, text, "legacy", datetime.now(UTC), b"", "text/plain"
    )
    read = read_message(message, normalizer_for(("en",)))
    return replace(lesson_of(read, sender, None), senders=(f"from:{sender.lower()}",) if sender else ())
