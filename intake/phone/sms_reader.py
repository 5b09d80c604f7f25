"""How the inbox worker reads a text the messaging webhook accepted: its form read again
from the raw body (intake.phone.sms), and stored with its item in one transaction: the
MMS media to fetch, and the department's acknowledgement by text."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from config.settings import Settings
from intake.jobs.inbox import Read
from intake.phone.acknowledgements import acknowledge_text
from intake.phone.fetch import refusal
from intake.phone.sms import BadWebhook, TwilioMessage, form_of, parse_message, raw_only
from routing.delivery import Delivery
from routing.store.downloads import enqueue
from routing.store.inbox import Arrival
from routing.store.models import utcnow


class TextReader:
    """The inbox worker's reader of texts (SMS, MMS, WhatsApp).

    `settings` is called for each text, so a reloaded config's acknowledgements apply;
    `clock` tells the time a text is made an item at (one that waited a day is not
    acknowledged).
    """

    def __init__(self, settings: Callable[[], Settings], clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.clock = clock

    def read_all(self, arrivals: Iterable[Arrival]) -> Generator[Read, None, None]:
        for arrival in arrivals:
            yield self.read(arrival)

    def read(self, arrival: Arrival) -> Read:
        try:
            parsed = parse_message(form_of(arrival.raw), arrival.raw, arrival.received_at)
        except BadWebhook as error:  # the door checked the form: only a changed check gets here
            return self.raw_only(arrival, str(error))
        return Read(parsed.message, self._with_item(parsed))

    def raw_only(self, arrival: Arrival, why: str) -> Read:
        return Read(raw_only(arrival, why))

    def _with_item(self, parsed: TwilioMessage) -> Callable[[Session, Delivery], None]:
        def store(session: Session, delivery: Delivery) -> None:
            settings = self.settings()
            # A repeat of the webhook finds the downloads queued already: each is keyed by its filename.
            for media in parsed.media:
                refused = refusal(settings.twilio, media.url)
                due = parsed.message.received_at
                enqueue(
                    session,
                    delivery.item_id,
                    media.url,
                    media.filename,
                    "media",
                    due=due,
                    content_type=media.content_type,
                    refused=refused,
                )
            acknowledge_text(session, delivery, parsed.message, settings, self.clock())

        return store
