"""The same-request check of a batch: looked for in one statement once the batch's items
are stored, each item as if it had been stored alone, in turn."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event, select

from intake.cli.runtime import Runtime
from routing.contacts.suggestions import SAME_REQUEST, SAME_REQUESTS_PER_STATEMENT, Arrived, same_requests
from routing.delivery import Delivering
from routing.message import InboundMessage
from routing.store.database import transaction
from routing.store.models import ContactSuggestion, Item
from tests.support.contacts import ARRIVED

NUMBER = "+447700900456"


def _from_the_number(channel: str, key: str, minutes: int) -> InboundMessage:
    text = "the boiler in flat 3 makes a loud noise"
    return InboundMessage(
        channel, NUMBER, ("+15555550101",), text, text, key, ARRIVED + timedelta(minutes=minutes),
        f"From={NUMBER}&Body={text}".encode(), "application/x-www-form-urlencoded",
    )  # fmt: skip


@contextmanager
def _same_request_statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.lstrip().startswith("WITH wanted"):
            seen.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(runtime.engine, "before_cursor_execute", record)


def _deliver_together(runtime: Runtime, messages: list[InboundMessage]) -> list[int]:
    with transaction(runtime.sessions) as session:
        batch = [Delivering(message) for message in messages]
        return [delivery.item_id for delivery in runtime.deliverer.deliver_all(session, batch)]


def _suggested(runtime: Runtime) -> dict[int, int | None]:
    with transaction(runtime.sessions, write=False) as session:
        rows = session.execute(
            select(ContactSuggestion.item_id, ContactSuggestion.other_item_id).where(
                ContactSuggestion.kind == SAME_REQUEST
            )
        )
        return {item_id: other for item_id, other in rows}


def test_a_text_after_a_voicemail_in_one_batch_is_suggested_as_its_request(runtime: Runtime) -> None:
    with _same_request_statements(runtime) as statements:
        voicemail, text = _deliver_together(
            runtime, [_from_the_number("voicemail", "voice:1", 0), _from_the_number("sms", "sms:1", 5)]
        )
    assert _suggested(runtime) == {text: voicemail}
    assert len(statements) == 1  # the batch's two items asked at once


def test_an_item_stored_later_in_the_batch_is_not_suggested_to_an_earlier_one(runtime: Runtime) -> None:
    """Stored alone, in turn, the text (received last) finds nothing, since the voicemail
    is not stored yet; and the voicemail finds nothing, since the text came after it. So
    together too, though the text's window holds the voicemail."""
    _deliver_together(
        runtime, [_from_the_number("sms", "sms:2", 5), _from_the_number("voicemail", "voice:2", 0)]
    )
    assert _suggested(runtime) == {}


def test_a_batch_of_one_channel_suggests_nothing_and_a_later_batch_finds_the_open_item(
    runtime: Runtime,
) -> None:
    [text] = _deliver_together(runtime, [_from_the_number("sms", "sms:3", 0)])
    assert _suggested(runtime) == {}
    [voicemail] = _deliver_together(runtime, [_from_the_number("voicemail", "voice:3", 30)])
    assert _suggested(runtime) == {voicemail: text}


def test_more_items_than_one_statement_holds_are_each_checked(runtime: Runtime) -> None:
    [text] = _deliver_together(runtime, [_from_the_number("sms", "sms:4", 0)])
    with transaction(runtime.sessions, write=False) as session:
        contact = session.get_one(Item, text).contact_id
        assert contact is not None
        later = ARRIVED + timedelta(minutes=1)
        arrived = [
            Arrived(text + 1 + n, contact, "voicemail", later) for n in range(SAME_REQUESTS_PER_STATEMENT + 6)
        ]
        found = same_requests(session, arrived, runtime.settings, earlier_only=True)
    assert found == [text] * len(arrived)
