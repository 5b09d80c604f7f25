"""What is read of a message's words before it is routed and stored, worked out once.

Routing's reading of the new text (routing.message_text), the search index's terms and
the phone numbers written in an email depend on the message and on two settings alone,
the office's languages and its region. So they can be read away from a worker's main
thread, which routes and stores every message in turn and bounds the worker's rate:
the worker's parsing child reads each mail right after parsing it
(intake.email.parse_workers), and the main thread reads only what comes without a
reading, or with one made under other settings (a config reloaded meanwhile).

Nothing here touches the database, so the parsing child need not load it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

from config.settings import Settings
from routing.contacts.addresses import numbers_in
from routing.message import InboundMessage
from routing.message_text import MessageText, read_message
from routing.normalize import Normalizer, normalizer_for


@dataclass(frozen=True)
class ReadingSettings:
    """What a reading depends on besides the message: the office's languages and region."""

    languages: tuple[str, ...]
    region: str

    @classmethod
    def of(cls, settings: Settings) -> ReadingSettings:
        return cls(settings.languages, settings.region)


@dataclass(frozen=True)
class Reading:
    """A message's words as routing and storing read them, under `settings`."""

    settings: ReadingSettings
    # Routing's reading: the new words as terms, in the language they were read in.
    text: MessageText
    # What the search index holds of the message (search_terms).
    search_terms: str
    # The phone numbers written in an email's text, in order (routing.contacts).
    numbers: tuple[str, ...]


def read(message: InboundMessage, settings: ReadingSettings) -> Reading:
    """The message's reading under `settings`."""
    normalizer = normalizer_for(settings.languages)
    return Reading(
        settings,
        read_message(message, normalizer),
        search_terms(normalizer, message.sender, message.sender_name, message.subject, message.text),
        written_numbers(message, settings.region),
    )


def search_terms(
    normalizer: Normalizer, sender: str, sender_name: str | None, subject: str, body: str
) -> str:
    """What the search index holds of one message: its terms, space-separated.

    The language is told from the subject and text (a sender's address says nothing of
    it); the address and name are read in that language too, so `ana.popescu@firma.ro`
    is found by `popescu` and by `firma`."""
    language = normalizer.language(f"{subject}\n{body}")
    # Part by part, which gives the terms of the parts joined by spaces: the text's
    # reading is then the one routing made of it already (Normalizer.read keeps it).
    parts = (sender, sender_name or "", subject, body)
    return " ".join(chain.from_iterable(normalizer.terms(part, language) for part in parts))


def written_numbers(message: InboundMessage, region: str) -> tuple[str, ...]:
    """The phone numbers written in an email's text (none for other channels), in order."""
    return tuple(numbers_in(message.text, region)) if message.channel == "email" else ()
