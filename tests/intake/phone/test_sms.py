"""The messaging webhook: SMS, MMS and WhatsApp, signed as Twilio signs them."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from config.loading import load_settings
from routing.engine import Router
from tests.support.twilio import (
    ACCOUNT_SID,
    CALLER,
    CLOSED_TIME,
    OTHER_ACCOUNT_SID,
    PUBLIC_URL,
    Answer,
    PhoneOffice,
    api_path,
    sign,
    sms_form,
)

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response />'


def test_a_text_to_the_sales_number_becomes_a_sales_item_with_its_raw_form(phone: PhoneOffice) -> None:
    form = sms_form(To="+15555550100", Body="Is the office open on Saturday?")
    response = phone.post("/twilio/sms", form)
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert response.data == EMPTY_TWIML  # a text's acknowledgement goes later, by the Messages API
    [item] = phone.items()
    assert (item.channel, item.department_id, item.sender) == ("sms", "front-desk", CALLER)
    assert item.recipients == ["+15555550100"]
    assert item.text == "Is the office open on Saturday?"
    assert item.idempotency_key == form["MessageSid"]
    assert item.raw_content_type == "application/x-www-form-urlencoded"
    assert {k: v[0] for k, v in parse_qs(item.raw.content.decode()).items()} == form
    assert item.routing_reason == "no rule matched; sent to the default department front-desk"
    assert phone.acknowledgements() == []  # none is configured for the front desk


def test_a_replayed_webhook_makes_no_second_item_and_no_second_acknowledgement(phone: PhoneOffice) -> None:
    form = sms_form()
    first = phone.post("/twilio/sms", form)
    assert (first.status_code, first.data) == (200, EMPTY_TWIML)
    assert phone.acknowledgements() == ["Thanks, Sales will reply shortly."]
    second = phone.post("/twilio/sms", form)
    assert (second.status_code, second.data) == (200, EMPTY_TWIML)
    assert len(phone.items()) == 1
    assert phone.acknowledgements() == ["Thanks, Sales will reply shortly."]


def test_the_acknowledgement_follows_the_opening_hours_when_the_text_came(phone: PhoneOffice) -> None:
    phone.clock.now = CLOSED_TIME
    assert phone.post("/twilio/sms", sms_form()).status_code == 200
    assert phone.acknowledgements() == ["Thanks, Sales will reply when we open."]


@pytest.mark.parametrize(
    ("sender", "body"),
    [("72345", "Your code is 1234"), (CALLER, "Your order has shipped. Reply STOP to opt out")],
)
def test_automated_texts_get_no_acknowledgement(phone: PhoneOffice, sender: str, body: str) -> None:
    response = phone.post("/twilio/sms", sms_form(From=sender, Body=body))
    assert response.data == EMPTY_TWIML
    [item] = phone.items()
    assert item.machine_kind == "automated"
    assert phone.acknowledgements() == []


MARKING_RULES = """
[[rules]]
name = "prize-texts"
description = "Texts about a prize are spam."
when = { body = ["prize"] }
spam = true

[[rules]]
name = "meter-readings"
description = "Meter readings are sent by machines."
when = { body = ["meter reading"] }
machine = true
"""


@pytest.mark.parametrize("body", ["You won a prize, call now", "Your meter reading is 01234"])
def test_texts_rules_mark_as_spam_or_machine_mail_get_no_acknowledgement(
    phone: PhoneOffice, body: str
) -> None:
    path = phone.settings.source.with_name("office-with-marks.toml")
    path.write_text(phone.settings.source.read_text() + MARKING_RULES)
    settings = load_settings(path, {"INTAKE_DATABASE_URL": phone.settings.database.url})
    phone.hooks.deliverer.router = Router(settings)
    response = phone.post("/twilio/sms", sms_form(Body=body))
    assert (response.status_code, response.data) == (200, EMPTY_TWIML)
    [item] = phone.items()
    assert item.department_id == "sales" and (item.spam or item.machine_kind == "marked-by-rule")
    assert phone.acknowledgements() == []


def test_nul_characters_are_dropped_from_the_item_and_kept_in_the_raw_form(phone: PhoneOffice) -> None:
    form = sms_form(Body="Hello\x00 there", From=CALLER + "\x00")
    assert phone.post("/twilio/sms", form).status_code == 200
    [item] = phone.items()
    assert (item.text, item.sender) == ("Hello there", CALLER)
    assert parse_qs(item.raw.content.decode())["Body"] == ["Hello\x00 there"]


def test_a_message_sid_longer_than_twilio_s_is_answered_400_not_retry_later(phone: PhoneOffice) -> None:
    # Checked at the door, on every database: a retry would be refused the same way.
    response = phone.post("/twilio/sms", sms_form(sid="SM" + "9" * 300))
    assert response.status_code == 400
    assert response.data == b"the webhook's MessageSid has 302 characters, more than a Twilio SID's 64"
    assert (phone.waiting(), phone.items()) == (0, [])


def test_a_whatsapp_message_keeps_its_channel_and_routes_by_number(phone: PhoneOffice) -> None:
    form = sms_form(From=f"whatsapp:{CALLER}", To="whatsapp:+15555550101", Body="Hola")
    assert phone.post("/twilio/sms", form).status_code == 200
    assert phone.post("/twilio/sms", form).status_code == 200
    [item] = phone.items()
    assert (item.channel, item.sender, item.recipients, item.department_id) == (
        "whatsapp",
        CALLER,
        ["+15555550101"],
        "sales",
    )
    assert item.subject == f"WhatsApp message from {CALLER}: Hola"


def test_an_mms_with_two_media_stores_both_as_attachments(phone: PhoneOffice) -> None:
    sid = "MM" + "5" * 32
    photo, pdf = api_path(f"Messages/{sid}/Media/ME1"), api_path(f"Messages/{sid}/Media/ME2")
    phone.fake.serve(photo, Answer(302, headers={"Location": f"{phone.fake.cdn}/cdn/photo"}))
    phone.fake.serve("/cdn/photo", Answer(200, b"\xff\xd8jpeg bytes", {"Content-Type": "image/jpeg"}))
    phone.fake.serve(pdf, Answer(200, b"%PDF-1.4 invoice", {"Content-Type": "application/pdf"}))
    form = sms_form(sid, "Photo of the damage and the invoice", NumMedia="2")
    form.update(
        MediaUrl0=phone.fake.base + photo,
        MediaContentType0="image/jpeg",
        MediaUrl1=phone.fake.base + pdf,
        MediaContentType1="application/pdf",
    )
    assert phone.post("/twilio/sms", form).status_code == 200
    assert phone.post("/twilio/sms", form).status_code == 200  # a replay adds no download
    assert [d.status for d in phone.downloads()] == ["pending", "pending"]  # the item exists first
    assert phone.worker.run_once() and phone.worker.run_once()
    assert not phone.worker.run_once()
    [item] = phone.items()
    assert [(a.filename, a.content_type, a.blob.content) for a in item.attachments] == [
        (f"{sid}-0.jpg", "image/jpeg", b"\xff\xd8jpeg bytes"),
        (f"{sid}-1.pdf", "application/pdf", b"%PDF-1.4 invoice"),
    ]
    seen = {s.path: s for s in phone.fake.seen}
    assert seen[photo].authorization is not None and seen[photo].authorization.startswith("Basic ")
    assert seen["/cdn/photo"].authorization is None  # the content host gets no credentials
    assert seen["/cdn/photo"].host == f"localhost:{phone.fake.port}"


ELSEWHERE = "{url} is not on the configured Twilio API ({base})"
OTHER_ACCOUNT = "{url} does not belong to the configured Twilio account"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/security-credentials/?token=x", ELSEWHERE),
        ("{base}/2010-04-01/Accounts/{other}/Messages/MM1/Media/ME1", OTHER_ACCOUNT),
        ("http://localhost:{port}/2010-04-01/Accounts/{sid}/Messages/MM1/Media/ME1", ELSEWHERE),
        ("{base}/2010-04-01/Accounts/{sid}/../{other}/Media/ME1", OTHER_ACCOUNT),
    ],
    ids=["metadata", "other-account", "localhost", "dot-dot"],
)
def test_media_outside_the_account_is_recorded_as_refused_and_never_fetched(
    phone: PhoneOffice, url: str, expected: str
) -> None:
    media_url = url.format(
        base=phone.fake.base, other=OTHER_ACCOUNT_SID, port=phone.fake.port, sid=ACCOUNT_SID
    )
    form = sms_form(NumMedia="1", MediaUrl0=media_url, MediaContentType0="image/png")
    assert phone.post("/twilio/sms", form).status_code == 200
    [download] = phone.downloads()
    assert download.status == "failed"
    assert download.last_error == expected.format(
        url=media_url.split("?")[0], base=phone.fake.base, sid=ACCOUNT_SID
    )
    assert not phone.worker.run_once()
    assert phone.fake.seen == []
    [item] = phone.items()
    assert item.text == "Hello, I would like a quote"  # the message itself is kept


def test_a_signed_webhook_without_a_message_sid_is_refused_clearly(phone: PhoneOffice) -> None:
    form = sms_form()
    del form["MessageSid"]
    response = phone.post("/twilio/sms", form)
    assert response.status_code == 400
    assert b"no MessageSid" in response.data
    assert phone.items() == []


@pytest.mark.parametrize("count", ["lots", "\u00b2", "\u0663"])  # a word, a superscript two, an Arabic three
def test_a_bad_num_media_is_recorded_as_a_defect(phone: PhoneOffice, count: str) -> None:
    assert phone.post("/twilio/sms", sms_form(NumMedia=count)).status_code == 200
    [item] = phone.items()
    assert item.parse_defects == [f"NumMedia {count!r} is not a number from 0 to 10"]


def test_signatures_cover_the_full_public_url(phone: PhoneOffice) -> None:
    form = sms_form()
    # Twilio signs the URL it called: a query string is part of it.
    query_path = "/twilio/sms?office=main"
    response = phone.client.post(
        query_path, data=form, headers={"X-Twilio-Signature": sign(PUBLIC_URL + query_path, form)}
    )
    assert response.status_code == 200
    # A signature over the URL without its query string is not Twilio's.
    other = sms_form("SM" + "8" * 32)
    response = phone.client.post(
        query_path, data=other, headers={"X-Twilio-Signature": sign(PUBLIC_URL + "/twilio/sms", other)}
    )
    assert response.status_code == 403
    phone.drain()
    assert len(phone.items()) == 1


def test_stored_media_of_a_risky_type_is_served_only_as_a_download(phone: PhoneOffice) -> None:
    path = api_path("Messages/MM1/Media/ME1")
    phone.fake.serve(path, Answer(200, b"<script>alert(1)</script>", {"Content-Type": "text/html"}))
    phone.post(
        "/twilio/sms", sms_form(NumMedia="1", MediaUrl0=phone.fake.base + path, MediaContentType0="text/html")
    )
    assert phone.worker.run_once()
    [item] = phone.items()
    served = phone.client.get(f"/items/{item.id}/attachments/{item.attachments[0].id}")
    assert served.mimetype == "application/octet-stream"
    assert served.headers["Content-Disposition"].startswith("attachment; filename=")
    assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_a_second_text_joins_the_first_and_is_not_acknowledged_again(phone: PhoneOffice) -> None:
    assert phone.post("/twilio/sms", sms_form()).status_code == 200
    second = phone.post("/twilio/sms", sms_form("SM" + "2" * 32, body="For forty chairs, please"))
    assert second.status_code == 200
    # A person answers a conversation, not the machine.
    assert phone.acknowledgements() == ["Thanks, Sales will reply shortly."]
    [item] = phone.items()
    assert [e.action for e in item.events] == ["received", "acknowledged", "reply received"]
