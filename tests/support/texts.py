"""Helpers for the text reply tests: the phone office (Twilio against the fake API on
loopback) with a number that can send texts, its reply worker on a clock the test moves,
and Twilio's signed status callbacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from werkzeug.test import TestResponse

from intake.jobs.replies import ReplyWorker
from routing.store.database import transaction
from routing.store.models import Item, Job, Reply
from tests.support.notifications import Clock
from tests.support.twilio import (
    PUBLIC_URL,
    FakeTwilio,
    PhoneOffice,
    open_phone_office,
    post_signed,
    recording_form,
    sms_form,
)

TEXTING = 'texting_numbers = ["+15555550101"]\n'
RETRIES = "\n[outbound]\nmax_attempts = 3\nretry_seconds = 10\n"


@dataclass
class TextOffice:
    """The phone office, a receptionist answering through the API, and the reply worker."""

    phone: PhoneOffice
    worker: ReplyWorker
    clock: Clock

    @property
    def fake(self) -> FakeTwilio:
        return self.phone.fake

    def text_in(self, body: str = "Do you have the blue one?", **form: str) -> int:
        """A text arrives through the signed webhook; the item it made or joined."""
        assert self.phone.post("/twilio/sms", sms_form(body=body, **form)).status_code == 200
        return self.phone.items()[-1].id

    def voicemail_in(self, **form: str) -> int:
        """A voicemail is left: Twilio's signed recording callback."""
        assert (
            self.phone.post("/twilio/voice/recording", recording_form(self.fake.base, **form)).status_code
            == 200
        )
        return self.phone.items()[-1].id

    def answer(self, item_id: int, **body: Any) -> TestResponse:
        return self.phone.client.post(f"/api/v1/items/{item_id}/reply", json=body)

    def drain(self) -> int:
        """Run the reply worker until nothing is due; how many jobs it did."""
        self.clock.catch_up()
        done = 0
        while self.worker.run_once():
            done += 1
        return done

    def replies(self) -> list[Reply]:
        with transaction(self.phone.runtime.sessions, write=False) as session:
            found = list(session.scalars(select(Reply).order_by(Reply.id)))
            for reply in found:
                _ = reply.job  # loaded while the session is open
            return found

    def stored(self) -> tuple[int, int]:
        """How many replies and reply jobs are stored."""
        with transaction(self.phone.runtime.sessions, write=False) as session:
            replies = session.scalar(select(func.count()).select_from(Reply)) or 0
            jobs = session.scalar(select(func.count()).where(Job.kind == "reply")) or 0
            return replies, jobs

    def report(self, callback_url: str, sid: str, status: str, **extra: str) -> TestResponse:
        """Twilio's signed status callback to the URL the send named."""
        assert callback_url.startswith(PUBLIC_URL)
        form = {
            "MessageSid": sid,
            "MessageStatus": status,
            "AccountSid": self.phone.settings.twilio.account_sid,
        }
        return post_signed(self.phone.client, callback_url.removeprefix(PUBLIC_URL), {**form, **extra})

    def item(self, item_id: int) -> Item:
        with transaction(self.phone.runtime.sessions, write=False) as session:
            item = session.get_one(Item, item_id)
            _ = item.events
            return item


@contextmanager
def open_text_office(
    database_url: str, tmp_path: Path, fake: FakeTwilio, keys: str = TEXTING, acknowledgements: str = ""
) -> Iterator[TextOffice]:
    """The text office; without the office's acknowledgements unless given, so that what
    reaches the Messages API is what people answer."""
    phone = open_phone_office(
        database_url, tmp_path, fake, keys=keys, tables=RETRIES, acknowledgements=acknowledgements
    )
    clock = Clock()
    worker = ReplyWorker(phone.runtime.sessions, lambda: phone.settings, clock=clock)
    try:
        yield TextOffice(phone, worker, clock)
    finally:
        phone.close()
