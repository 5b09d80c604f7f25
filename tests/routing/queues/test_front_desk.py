"""The front desk: every queue's new, claimed and overdue counts, and what needs a decision first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

import web.queue
from intake.cli.runtime import Runtime
from routing.queues import reading
from routing.store.models import Item, utcnow
from tests.support.people import office_client
from tests.support.queue_pages import START, add_item, counts, item_ids, rows
from web.display import age


def _fill_the_office(runtime: Runtime) -> None:
    past, future = utcnow() - timedelta(minutes=1), utcnow() + timedelta(hours=1)
    add_item(runtime, 1)
    add_item(runtime, 2, due_at=past)
    add_item(runtime, 3, due_at=future)
    add_item(runtime, 4, status="claimed", due_at=past)
    add_item(runtime, 5, status="claimed")
    add_item(runtime, 6, status="resolved", due_at=past)  # done: neither open nor overdue
    add_item(runtime, 7, to="billing@office.test", status="claimed")
    add_item(runtime, 8, to="billing@office.test", status="resolved")


def test_counts_new_claimed_and_overdue_per_queue(runtime: Runtime, client: FlaskClient) -> None:
    _fill_the_office(runtime)
    page = client.get("/").get_data(as_text=True)
    assert counts(page) == {"front-desk": (0, 0, 0), "sales": (3, 2, 2), "billing": (0, 1, 0)}
    with runtime.sessions() as session:
        found = {
            c.department.id: (c.new, c.claimed, c.overdue, c.open_items)
            for c in reading.department_counts(session)
        }
    assert found == {"front-desk": (0, 0, 0, 0), "sales": (3, 2, 2, 5), "billing": (0, 1, 0, 1)}


def test_the_counts_link_to_the_filtered_queue(runtime: Runtime, client: FlaskClient) -> None:
    _fill_the_office(runtime)
    page = client.get("/").get_data(as_text=True)
    for link, expected in (
        ("/departments/sales?status=new", 3),
        ("/departments/sales?status=claimed", 2),
        ("/departments/sales?due=overdue", 2),
    ):
        assert f'href="{link}"' in page
        # The queue pages hold three rows; the count is what the filtered view lists.
        listed = client.get(link).get_data(as_text=True)
        assert len(item_ids(listed)) == min(expected, 3)


def test_staff_see_counts_and_decisions_of_their_departments_only(runtime: Runtime, app: Flask) -> None:
    _fill_the_office(runtime)
    add_item(runtime, 9, decision_needed="machine mail (bounce) that no rule recognised")
    billing = add_item(runtime, 10, to="billing@office.test", decision_needed="a weak suggestion")
    staff = office_client(app, runtime.sessions, name="bill", role="staff", departments=["billing"])
    page = staff.get("/").get_data(as_text=True)
    assert counts(page) == {"billing": (1, 1, 0)}
    assert item_ids(page, "decision") == [billing]
    live = staff.get("/live").json
    assert live["counts"] == [{"department": "billing", "new": 1, "claimed": 1, "overdue": 0}]
    assert live["decisions"] == 1


def test_needs_a_decision_lists_open_undecided_items_newest_first(
    runtime: Runtime, client: FlaskClient
) -> None:
    unrouted = add_item(runtime, 1, to="someone@elsewhere.example")  # routing asks: nothing routed it
    add_item(runtime, 2)  # routed by its address: nothing to decide
    bounce = add_item(runtime, 3, decision_needed="machine mail (bounce) that no rule recognised")
    add_item(runtime, 4, decision_needed="a weak suggestion", status="resolved")
    claimed = add_item(runtime, 5, decision_needed="a weak suggestion", status="claimed")
    page = client.get("/").get_data(as_text=True)
    assert page.index("Needs a decision") < page.index("Queues</h1>")
    found = rows(page, "decision")
    assert [int(row.attrs["data-item-id"]) for row in found] == [claimed, bounce, unrouted]
    assert [row.cells["why"] for row in found] == [
        "a weak suggestion",
        "machine mail (bounce) that no rule recognised",
        "no rule or address chose a department",
    ]
    assert (found[2].cells["queue"], found[2].cells["sender"]) == (
        "Front desk",
        "Ann Example ann@client.example",
    )
    assert f'href="/items/{unrouted}"' in page


def test_the_live_front_desk_answers_counts_and_the_decisions_list(
    runtime: Runtime, client: FlaskClient
) -> None:
    assert client.get("/").get_data(as_text=True).count("Nothing waits for a decision") == 1
    _fill_the_office(runtime)
    undecided = add_item(runtime, 9, to="someone@elsewhere.example")
    live = client.get("/live").json
    assert live["counts"] == [
        {"department": "front-desk", "new": 1, "claimed": 0, "overdue": 0},
        {"department": "sales", "new": 3, "claimed": 2, "overdue": 2},
        {"department": "billing", "new": 0, "claimed": 1, "overdue": 0},
    ]
    assert live["decisions"] == 1
    assert item_ids(live["decisions_html"], "decision") == [undecided]


def test_the_decisions_list_says_how_many_more_wait_than_it_shows(
    runtime: Runtime, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web.queue, "DECISIONS_SHOWN", 2)
    undecided = [add_item(runtime, n, decision_needed="a weak suggestion") for n in range(1, 4)]
    page = client.get("/").get_data(as_text=True)
    assert item_ids(page, "decision") == undecided[:0:-1]
    assert "The 2 newest of 3 are shown" in page
    live = client.get("/live").json
    assert live["decisions"] == 3 and "The 2 newest of 3 are shown" in live["decisions_html"]
    with runtime.sessions() as session:
        assert reading.needs_decision(session, None, 2).waiting == 3
        assert reading.needs_decision(session, ["billing"], 2) == reading.Decisions([], 0)
        session.execute(update(Item).where(Item.id == undecided[2]).values(status="resolved"))
        session.commit()
    assert "newest of" not in client.get("/").get_data(as_text=True)


def test_the_front_desk_loads_the_keyboard_without_inline_script(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert '<script src="/static/keys.js" defer></script>' in page
    assert '<script src="/static/queue.js" defer></script>' in page
    assert "<script>" not in page
    assert 'id="front-desk"' in page and 'data-live="/live"' in page and 'id="keys-help"' in page


@pytest.mark.parametrize(
    ("ago", "shown"),
    [
        (timedelta(seconds=20), "now"),
        (timedelta(minutes=5), "5 min. ago"),
        (timedelta(minutes=59, seconds=59), "59 min. ago"),
        (timedelta(hours=3, minutes=10), "3 hr. ago"),
        (timedelta(days=2, hours=5), "2 days ago"),
        (timedelta(minutes=-3), "now"),  # a clock a little ahead of ours
    ],
)
def test_ages_read_coarsely(ago: timedelta, shown: str) -> None:
    assert age(START - ago, now=START) == shown
