"""A person, not three addresses: a text, a voicemail and an email about one boiler.

The caller texts, then leaves a voicemail from the same number, then emails from an
address the office has never seen, with that number in the signature. One link makes
them one contact; the voicemail and the email are each flagged as probably the same
request as the text; a merge and its undo are both in the history.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from intake.email.parser import parse_email
from routing.store.database import transaction
from routing.store.models import AuditEvent, ContactSuggestion, Item
from tests.support.mail import email_bytes
from tests.support.twilio import OPEN_TIME, PhoneOffice, recording_form, sms_form

NUMBER = "+447700900123"
JSON = {"Accept": "application/json"}


def _act(phone: PhoneOffice, item_id: int, action: str, **fields: str) -> Any:
    response = phone.client.post(f"/api/v1/items/{item_id}/{action}", json=fields)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _suggestions(phone: PhoneOffice, item_id: int) -> list[tuple[str, int | None, str]]:
    with transaction(phone.runtime.sessions, write=False) as session:
        rows = session.query(ContactSuggestion).filter_by(item_id=item_id).order_by(ContactSuggestion.id)
        return [(s.kind, s.other_item_id or s.contact_id, s.status) for s in rows]


def _actions(phone: PhoneOffice, item_id: int) -> list[str]:
    with transaction(phone.runtime.sessions, write=False) as session:
        events = session.query(AuditEvent).filter_by(item_id=item_id).order_by(AuditEvent.id)
        return [event.action for event in events]


def _three_messages(phone: PhoneOffice) -> tuple[int, int, int]:
    form = sms_form("SM" + "7" * 32, "My boiler is broken, no hot water since this morning", From=NUMBER)
    assert phone.post("/twilio/sms", form).status_code == 200
    phone.clock.advance(timedelta(hours=3))
    call = recording_form(phone.fake.base, From=NUMBER)
    assert phone.post("/twilio/voice/recording", call).status_code == 200
    signature = (
        "Hello,\r\nthe boiler is still broken, can someone come today?\r\n\r\nAna Lima\r\n07700 900123\r\n"
    )
    raw = email_bytes(
        sender="Ana Lima <ana@home.example>", subject="Boiler", message_id="<b1@home.example>", body=signature
    )
    phone.runtime.deliverer.deliver(parse_email(raw, received_at=OPEN_TIME + timedelta(hours=9)))
    text, voicemail, email = (item.id for item in phone.items())
    return text, voicemail, email


def test_a_text_a_voicemail_and_an_email_become_one_person_and_one_request(phone: PhoneOffice) -> None:
    text, voicemail, email = _three_messages(phone)
    items = {item.id: item for item in phone.items()}
    assert items[text].contact_id == items[voicemail].contact_id != items[email].contact_id
    person = items[text].contact_id
    assert _suggestions(phone, voicemail) == [("same-request", text, "open")]
    assert _suggestions(phone, email) == [("known-number", person, "open")]

    # One link, with the key's empty form: the suggested contact.
    linked = _act(phone, email, "link")
    assert linked["contact"] == {"id": person, "name": "Ana Lima"}
    assert _suggestions(phone, email) == [
        ("known-number", person, "accepted"),
        ("same-request", text, "open"),
    ]
    shown = phone.client.get(f"/api/v1/contacts/{person}").get_json()
    assert [item["id"] for item in shown["items"]] == [email, voicemail, text]
    assert [item["channel"] for item in shown["items"]] == ["email", "voicemail", "sms"]
    assert sorted(a["value"] for a in shown["addresses"]) == [NUMBER, "ana@home.example"]

    merged = _act(phone, voicemail, "merge")
    assert (merged["status"], merged["merged_into"]) == ("merged", text)
    page = phone.client.get(f"/items/{text}").get_data(as_text=True)
    assert "voicemail" in page and "Their other open items" in page
    assert _act(phone, voicemail, "unmerge")["status"] == "new"
    assert _actions(phone, voicemail)[-2:] == ["merged into", "unmerged"]
    assert _actions(phone, text)[-2:] == ["merged", "unmerged"]
    assert _actions(phone, email)[-1] == "linked"


def test_the_front_desk_shows_the_suggestions_and_the_item_page_offers_the_keys(phone: PhoneOffice) -> None:
    text, voicemail, email = _three_messages(phone)
    desk = phone.client.get("/").get_data(as_text=True)
    assert 'id="suggestion-' in desk and "probably the same request as" in desk
    page = phone.client.get(f"/items/{voicemail}").get_data(as_text=True)
    assert f"Merge into #{text} <kbd>m</kbd>" in page
    page = phone.client.get(f"/items/{email}").get_data(as_text=True)
    assert "Link to contact <kbd>l</kbd>" in page
    with transaction(phone.runtime.sessions, write=False) as session:
        person = session.get_one(Item, text).contact_id
    assert f'value="{person}"' in page  # the suggested contact, linked with one key


def test_bad_links_and_merges_are_refused_with_a_reason_and_change_nothing(phone: PhoneOffice) -> None:
    text, voicemail, _email = _three_messages(phone)
    for action, fields, reason in (
        ("link", {"contact": "not a contact"}, "neither an email address nor a phone number"),
        ("link", {"contact": "99999"}, "there is no contact 99999"),
        ("link", {"contact": "+447700900999"}, "no contact has the address or number +447700900999"),
        ("link", {"contact": NUMBER}, f"item {voicemail} is already from contact"),
        ("merge", {"into": "seven"}, "into must be an item's number"),
        ("merge", {"into": str(voicemail)}, "cannot be merged into itself"),
        ("unmerge", {}, "is not merged into another"),
    ):
        response = phone.client.post(f"/api/v1/items/{voicemail}/{action}", json=fields)
        assert response.status_code == 400, (action, fields)
        assert reason in response.get_json()["error"]["message"]
    response = phone.client.post(f"/api/v1/items/{text}/merge", json={})
    assert response.status_code == 400
    assert "has no suggestion to merge" in response.get_json()["error"]["message"]
    assert [item.status for item in phone.items()] == ["new", "new", "new"]
