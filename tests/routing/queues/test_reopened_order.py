"""An item that a reply or a person reopens comes back at the top of its queue, its age
counted from then, while the time it first arrived stays what it was."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient

from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.queues import reading, triage
from routing.queues.filters import Filters
from routing.store.database import transaction
from routing.store.models import Item, utcnow
from tests.support.mail import raw_message
from tests.support.people import new_person
from tests.support.queue_pages import START, add_item, item_ids, rows


def _reply_to(runtime: Runtime, number: int, minutes: int) -> None:
    """Ann's answer to message `number`, arriving `minutes` after START."""
    reply = raw_message(
        "From: Ann Example <ann@client.example>",
        "To: sales@office.test",
        f"Subject: Re: Message {number}",
        f"Message-ID: <r{number}@client.example>",
        f"In-Reply-To: <m{number}@client.example>",
        "",
        "One more question, please.",
    )
    runtime.deliverer.deliver(parse_email(reply, received_at=START + timedelta(minutes=minutes)))


def _queue(runtime: Runtime) -> list[int]:
    with transaction(runtime.sessions, write=False) as session:
        page = reading.list_items(session, limit=10, department_id="sales", filters=Filters(status="open"))
        return [item.id for item in page.items]


def test_an_item_a_reply_reopens_comes_back_at_the_top_of_its_queue(
    runtime: Runtime, client: FlaskClient
) -> None:
    oldest = add_item(runtime, 1, status="resolved")
    others = [add_item(runtime, n) for n in (2, 3)]
    assert _queue(runtime) == others[::-1]
    _reply_to(runtime, 1, minutes=60)
    assert _queue(runtime) == [oldest, *others[::-1]]
    with transaction(runtime.sessions, write=False) as session:
        item = session.get_one(Item, oldest)
        assert (item.status, item.received_at, item.queued_at) == (
            "new",
            START + timedelta(minutes=1),
            START + timedelta(minutes=60),
        )
    # The page walks the same order, a page at a time, and the API says both times.
    page = client.get("/departments/sales").get_data(as_text=True)
    assert item_ids(page) == [oldest, *others[::-1]]
    answer = client.get(f"/api/v1/items/{oldest}").json
    assert answer is not None
    assert answer["queued_at"] == (START + timedelta(minutes=60)).isoformat()
    assert answer["received_at"] == (START + timedelta(minutes=1)).isoformat()


def test_a_reply_to_an_open_item_leaves_it_where_it_is(runtime: Runtime) -> None:
    first, second = add_item(runtime, 1), add_item(runtime, 2)
    _reply_to(runtime, 1, minutes=60)
    assert _queue(runtime) == [second, first]


def test_an_item_a_person_reopens_comes_back_at_the_top_with_its_age_from_then(
    runtime: Runtime, client: FlaskClient
) -> None:
    long_ago = utcnow() - timedelta(days=20)
    done = add_item(runtime, 1, status="resolved", received_at=long_ago)
    waiting = add_item(runtime, 2, received_at=utcnow() - timedelta(hours=2))
    maria = new_person(runtime.sessions, "maria")
    with transaction(runtime.sessions) as session:
        triage.reopen(session, done, maria)
    assert _queue(runtime) == [done, waiting]
    ages = {
        int(row.attrs["data-item-id"]): row.cells["age"]
        for row in rows(client.get("/departments/sales").get_data(as_text=True))
    }
    assert ages == {done: "now", waiting: "2 hr. ago"}
