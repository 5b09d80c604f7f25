"""The known-number suggestion as a batch of messages is stored: the number in an email's
signature is looked up among the contacts, those made in the same batch included."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from intake.cli.runtime import Runtime
from routing.contacts import directory
from routing.delivery import Delivering, Routed
from routing.message import InboundMessage
from routing.store.database import transaction
from routing.store.models import ContactSuggestion, Item
from tests.support.mail import email_bytes
from tests.support.routers import email, sms

NUMBER = "+447700900123"


def _signed(sender: str, key: str, signature: str) -> InboundMessage:
    body = f"Hello,\r\nthe boiler is still broken.\r\n\r\nAna Lima\r\n{signature}\r\n"
    raw = email_bytes(sender=sender, subject="Boiler", message_id=f"<{key}@home.example>", body=body)
    return email(raw)


def _stored_together(runtime: Runtime, *messages: InboundMessage, ahead: bool = False) -> list[int]:
    """The messages' items, stored in one batch; `ahead`: routed first in a reading
    transaction, their numbers read there, as an inbox worker stores a batch."""
    routed: list[Routed | None] = [None] * len(messages)
    if ahead:
        with transaction(runtime.sessions, write=False) as session:
            routed = list(runtime.deliverer.route_all_ahead(session, messages))
    batch = [Delivering(message, routed=found) for message, found in zip(messages, routed, strict=True)]
    with transaction(runtime.sessions) as session:
        deliveries = runtime.deliverer.deliver_all(session, batch)
    return [delivery.item_id for delivery in deliveries]


def _known_numbers(runtime: Runtime, item_id: int) -> list[tuple[str | None, int | None]]:
    with transaction(runtime.sessions, write=False) as session:
        rows = session.execute(
            select(ContactSuggestion.number, ContactSuggestion.contact_id).where(
                ContactSuggestion.item_id == item_id, ContactSuggestion.kind == "known-number"
            )
        )
        return [(number, contact) for number, contact in rows]


def _contact(runtime: Runtime, item_id: int) -> int | None:
    with transaction(runtime.sessions, write=False) as session:
        return session.get_one(Item, item_id).contact_id


@pytest.mark.parametrize("ahead", [False, True], ids=["stored", "routed ahead"])
def test_an_email_finds_the_contact_a_text_of_the_same_batch_made(runtime: Runtime, ahead: bool) -> None:
    text, mail = _stored_together(
        runtime,
        sms("The boiler is broken", sender=NUMBER),
        _signed("ana@home.example", f"a1-{ahead}", "07700 900123"),
        ahead=ahead,
    )
    assert _known_numbers(runtime, mail) == [(NUMBER, _contact(runtime, text))]
    assert _known_numbers(runtime, text) == []


@pytest.mark.parametrize("ahead", [False, True], ids=["stored", "routed ahead"])
def test_the_first_number_written_that_is_another_contact_s_is_suggested(
    runtime: Runtime, ahead: bool
) -> None:
    (text,) = _stored_together(runtime, sms("The boiler is broken", sender=NUMBER))
    signature = "Tel. 01632 960000\r\nMobile 07700 900123"  # the first is nobody's
    (mail,) = _stored_together(runtime, _signed("ana@home.example", f"a2-{ahead}", signature), ahead=ahead)
    assert _known_numbers(runtime, mail) == [(NUMBER, _contact(runtime, text))]


def test_a_text_s_numbers_are_not_looked_up(runtime: Runtime) -> None:
    # A number in a text is who to call back, not the writer's other way of writing.
    _stored_together(runtime, sms("The boiler is broken", sender=NUMBER))
    (text,) = _stored_together(runtime, sms("Call my husband on 07700 900123", sender="+447700900999"))
    assert _known_numbers(runtime, text) == []


def test_numbers_read_ahead_are_not_read_again_while_the_batch_holds_the_write_lock(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    mail = _signed("ana@home.example", "a4", "07700 900123")
    with transaction(runtime.sessions, write=False) as session:
        [routed] = runtime.deliverer.route_all_ahead(session, [mail])
    assert routed.numbers == (NUMBER,)

    def not_here(text: str, region: str) -> list[str]:
        raise AssertionError("the numbers were read again in the storing transaction")

    monkeypatch.setattr(directory, "numbers_in", not_here)
    with transaction(runtime.sessions) as session:
        runtime.deliverer.deliver_all(session, [Delivering(mail, routed=routed)])
