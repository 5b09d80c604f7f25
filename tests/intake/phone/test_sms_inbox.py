"""The messaging webhook accepts into the inbox: its 200 comes once the signed form is
committed there, and an inbox worker makes the item, its downloads and its
acknowledgement later. A retried webhook is one item; a bad form is answered 400 at
once with nothing stored; the acknowledgement reaches Twilio's Messages API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from routing.store import jobs
from routing.store.database import transaction
from routing.store.models import Job
from tests.support.texts import open_text_office
from tests.support.twilio import (
    ACKNOWLEDGEMENTS_TOML,
    CALLER,
    PUBLIC_URL,
    SALES_NUMBER,
    FakeTwilio,
    PhoneOffice,
    api_path,
    sms_form,
)

THANKS = "Thanks, Sales will reply shortly."


def test_the_200_comes_once_the_form_is_in_the_inbox_and_a_worker_makes_the_item(phone: PhoneOffice) -> None:
    form = sms_form(body="Do you deliver on Sundays?")
    assert phone.send("/twilio/sms", form).status_code == 200
    assert (phone.waiting(), phone.items(), phone.acknowledgements()) == (1, [], [])
    assert phone.drain() == 1
    [item] = phone.items()
    assert (item.channel, item.department_id, item.text) == ("sms", "sales", "Do you deliver on Sundays?")
    assert item.idempotency_key == form["MessageSid"]
    assert phone.waiting() == 0
    assert phone.acknowledgements() == [THANKS]


def test_a_webhook_retried_before_any_worker_ran_is_one_item_and_one_acknowledgement(
    phone: PhoneOffice,
) -> None:
    form = sms_form()
    for _ in range(3):  # Twilio retried twice: the same MessageSid each time
        assert phone.send("/twilio/sms", form).status_code == 200
    assert phone.waiting() == 3
    assert phone.drain() == 3
    [item] = phone.items()
    assert [e.action for e in item.events] == ["received", "acknowledged"]
    assert phone.acknowledgements() == [THANKS]


def test_a_text_that_waited_in_the_inbox_over_a_day_is_made_an_item_and_not_acknowledged(
    phone: PhoneOffice,
) -> None:
    """After an outage, "we will reply shortly" would reach a sender days late: a text
    is acknowledged within a day of its coming, as mail is."""
    assert phone.send("/twilio/sms", sms_form("SM" + "1" * 32)).status_code == 200
    phone.clock.advance(timedelta(hours=1))
    assert phone.send("/twilio/sms", sms_form("SM" + "2" * 32, From="+15557654322")).status_code == 200
    phone.clock.advance(timedelta(days=1) - timedelta(hours=1) + timedelta(seconds=1))
    assert phone.drain() == 2
    old, recent = phone.items()
    assert [e.action for e in old.events] == ["received"]
    assert [e.action for e in recent.events] == ["received", "acknowledged"]
    assert phone.acknowledgements() == [THANKS]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"MessageSid": ""}, b"the webhook has no MessageSid"),
        ({"From": "  "}, b"the webhook has no From"),
        ({"To": ""}, b"the webhook has no To"),
        ({"MessageSid": "SM" + "0" * 63}, b"the webhook's MessageSid has 65 characters"),
    ],
    ids=["no-sid", "blank-from", "no-to", "long-sid"],
)
def test_a_bad_form_is_answered_400_at_once_and_nothing_is_stored(
    phone: PhoneOffice, changes: dict[str, str], reason: bytes
) -> None:
    response = phone.send("/twilio/sms", sms_form(**changes))
    assert response.status_code == 400
    assert response.data.startswith(reason)
    assert (phone.waiting(), phone.items()) == (0, [])


def test_mms_media_are_queued_by_the_worker_with_the_item(phone: PhoneOffice) -> None:
    media = phone.fake.base + api_path("Messages/MM1/Media/ME1")
    form = sms_form(NumMedia="1", MediaUrl0=media, MediaContentType0="image/png")
    assert phone.send("/twilio/sms", form).status_code == 200
    assert phone.downloads() == []  # nothing to attach them to yet
    phone.drain()
    [download] = phone.downloads()
    assert (download.status, download.filename) == ("pending", f"{form['MessageSid']}-0.png")


def test_each_download_keeps_the_type_its_text_announced_or_none(phone: PhoneOffice) -> None:
    media = phone.fake.base + api_path("Messages/MM1/Media/ME")
    form = sms_form(NumMedia="3", MediaUrl0=f"{media}0", MediaUrl1=f"{media}1", MediaUrl2=f"{media}2")
    form.update(MediaContentType0="audio/x-made-up", MediaContentType1=" ", MediaContentType2="image/png")
    assert phone.send("/twilio/sms", form).status_code == 200
    phone.drain()
    with transaction(phone.runtime.sessions, write=False) as session:
        payloads = session.scalars(select(Job.payload).where(Job.kind == jobs.DOWNLOAD).order_by(Job.id))
        kept = [(p["filename"], p["content_type"]) for p in payloads]
    sid = form["MessageSid"]
    assert kept == [
        (f"{sid}-0.bin", "audio/x-made-up"),
        (f"{sid}-1.bin", None),
        (f"{sid}-2.png", "image/png"),
    ]


@pytest.mark.parametrize("prefix", ["", "whatsapp:"], ids=["sms", "whatsapp"])
def test_the_acknowledgement_reaches_the_messages_api_from_the_number_texted(
    database_url: str, tmp_path: Path, fake_twilio: FakeTwilio, prefix: str
) -> None:
    with open_text_office(
        database_url, tmp_path, fake_twilio, acknowledgements=ACKNOWLEDGEMENTS_TOML
    ) as office:
        item_id = office.text_in(From=prefix + CALLER, To=prefix + SALES_NUMBER)
        assert office.drain() == 1  # the reply worker sent it
        [posted] = office.fake.posted
        [reply] = office.replies()
        assert posted.form == {
            "From": prefix + SALES_NUMBER,
            "To": prefix + CALLER,
            "Body": THANKS,
            "StatusCallback": f"{PUBLIC_URL}/twilio/replies/{reply.id}/status",
        }
        assert (reply.kind, reply.channel, reply.status) == (
            "acknowledgement",
            "whatsapp" if prefix else "sms",
            "queued",
        )
        assert [e.action for e in office.item(item_id).events] == ["received", "acknowledged"]
