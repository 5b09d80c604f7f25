"""People acting on the same item at the same moment through the API.

Each race starts its requests together (threads on a barrier, one test client each) and
is run several times to shake out the timing. Whatever the order the database picks,
every request is answered 2xx or a clear 4xx, never 5xx; the item ends as one order of
the requests, one after the other, would have left it; and its history names each action
that was done once, in that order: nothing lost, nothing doubled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from config.settings import Settings
from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.store.database import transaction
from routing.store.models import AuditEvent, Item, Job, Message, Reply
from tests.support.mail import email_bytes
from tests.support.people import csrf_token, office_client
from tests.support.replies import replying_office

RACES = 5
UNUSED_PORT = 9
MONDAY = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
# What delivery records of every item; the races are about what people add after it.
ARRIVAL = ("received",)
Request = Callable[[], TestResponse]
Answer = TypeVar("Answer")
# An event as the history reads it: who, what, and the detail that tells moves apart.
Event = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class Office:
    """The test office with writes that wait their turn, and three receptionists."""

    runtime: Runtime
    ann: FlaskClient
    ben: FlaskClient
    cat: FlaskClient
    # Ann's second window: the same person, the same token, another connection.
    ann_again: FlaskClient


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The test office answering by email (patient_runtime opens it); no relay listens on
    the port it names: replies are only stored, the worker never runs."""
    return replying_office(tmp_path, database_url, relay_port=UNUSED_PORT)


@pytest.fixture
def office(patient_runtime: Runtime) -> Office:
    app = patient_runtime.web_app()
    sessions = patient_runtime.sessions
    ann = office_client(app, sessions, name="ann")
    ann_again = app.test_client()
    ann_again.environ_base["HTTP_AUTHORIZATION"] = ann.environ_base["HTTP_AUTHORIZATION"]
    return Office(
        patient_runtime,
        ann,
        office_client(app, sessions, name="ben"),
        office_client(app, sessions, name="cat"),
        ann_again,
    )


def new_item(office: Office, round_: int) -> int:
    """A new email to sales, a message of its own each round."""
    raw = email_bytes(message_id=f"<race{round_}@client.example>", body="Twenty chairs, please.\r\n")
    return office.runtime.deliverer.deliver(parse_email(raw, received_at=MONDAY)).item_id


def follow_up(office: Office, round_: int) -> Callable[[], int]:
    """The sender writing again on the item of `round_`, delivered when called (an
    In-Reply-To header added to the literal message, which has none)."""
    raw = email_bytes(
        subject="Re: A question about prices",
        message_id=f"<again{round_}@client.example>",
        body="And twenty tables.\r\n",
    ).replace(b"MIME-Version", f"In-Reply-To: <race{round_}@client.example>\r\nMIME-Version".encode())
    message = parse_email(raw, received_at=MONDAY)
    return lambda: office.runtime.deliverer.deliver(message).item_id


def post(client: FlaskClient, item_id: int, action: str, **fields: str) -> Request:
    """The API request for `action` on the item, sent when called."""
    path = f"/api/v1/items/{item_id}/{action}"
    return lambda: client.post(path, json=fields) if fields else client.post(path)


def at_once(*requests: Callable[[], Answer]) -> list[Answer]:
    """Run the requests on threads released together; their answers in the order given."""
    start = threading.Barrier(len(requests))

    def run(request: Callable[[], Answer]) -> Answer:
        start.wait(timeout=30)
        return request()

    with ThreadPoolExecutor(len(requests)) as pool:
        return [future.result(timeout=60) for future in [pool.submit(run, request) for request in requests]]


def statuses(answers: list[TestResponse]) -> list[int]:
    for answer in answers:
        assert answer.status_code < 500, answer.get_data(as_text=True)
        if answer.status_code >= 400:
            assert answer.get_json()["error"]["message"], "a refusal says why"
    return [answer.status_code for answer in answers]


def history(office: Office, item_id: int) -> list[Event]:
    """The item's events after its arrival, in the order they were written."""
    with transaction(office.runtime.sessions, write=False) as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.item_id == item_id).order_by(AuditEvent.id)
        )
        found = [(event.actor, event.action, event.detail) for event in events]
    assert [action for _, action, _ in found[: len(ARRIVAL)]] == list(ARRIVAL)
    return found[len(ARRIVAL) :]


def state(office: Office, item_id: int) -> tuple[str, str | None, str]:
    """The item's status, who has it, and its department."""
    with transaction(office.runtime.sessions, write=False) as session:
        item = session.get_one(Item, item_id)
        assignee = item.assignee.name if item.assignee is not None else None
        return item.status, assignee, item.department_id


def test_two_people_claiming_at_once_end_with_one_claimer_and_both_claims_in_order(office: Office) -> None:
    for round_ in range(RACES):
        item_id = new_item(office, round_)
        answers = statuses(at_once(post(office.ann, item_id, "claim"), post(office.ben, item_id, "claim")))
        # A claim takes the item from whoever had it: both are done, the later one wins.
        assert answers == [200, 200]
        events = history(office, item_id)
        [first, last] = [actor for actor, _, _ in events]
        assert events == [(first, "claimed", {}), (last, "claimed", {"from": first})]
        assert state(office, item_id) == ("claimed", last, "sales")


def test_a_claim_and_a_resolve_at_once_end_as_one_then_the_other(office: Office) -> None:
    for round_ in range(RACES):
        item_id = new_item(office, round_)
        answers = statuses(at_once(post(office.ann, item_id, "claim"), post(office.ben, item_id, "resolve")))
        events = history(office, item_id)
        if answers == [200, 200]:  # claimed, then resolved
            assert events == [("ann", "claimed", {}), ("ben", "resolved", {})]
            assert state(office, item_id) == ("resolved", "ann", "sales")
        else:  # resolved first: the claim is refused
            assert answers == [400, 200]
            assert events == [("ben", "resolved", {})]
            assert state(office, item_id) == ("resolved", None, "sales")


def test_two_reroutes_at_once_end_in_one_of_the_departments_with_both_moves_in_order(office: Office) -> None:
    for round_ in range(RACES):
        item_id = new_item(office, round_)
        answers = statuses(
            at_once(
                post(office.ann, item_id, "reroute", department="billing", reason="an invoice"),
                post(office.ben, item_id, "reroute", department="front-desk", reason="not ours"),
            )
        )
        assert answers == [200, 200]
        moves = [(event[2]["from"], event[2]["to"]) for event in history(office, item_id)]
        assert moves in (
            [("sales", "billing"), ("billing", "front-desk")],
            [("sales", "front-desk"), ("front-desk", "billing")],
        )
        assert state(office, item_id) == ("new", None, moves[-1][1])


def test_a_reroute_and_a_resolve_at_once_leave_it_resolved_where_it_was_sent(office: Office) -> None:
    for round_ in range(RACES):
        item_id = new_item(office, round_)
        answers = statuses(
            at_once(
                post(office.ann, item_id, "reroute", department="billing", reason="an invoice"),
                post(office.ben, item_id, "resolve"),
            )
        )
        # A resolved item may still be moved: both are done, in either order.
        assert answers == [200, 200]
        assert sorted(action for _, action, _ in history(office, item_id)) == ["rerouted", "resolved"]
        assert state(office, item_id) == ("resolved", None, "billing")


def test_a_note_and_a_resolve_at_once_both_stay_in_the_history(office: Office) -> None:
    for round_ in range(RACES):
        item_id = new_item(office, round_)
        answers = statuses(
            at_once(
                post(office.ann, item_id, "note", text="Called back."), post(office.ben, item_id, "resolve")
            )
        )
        assert answers == [200, 200]
        events = history(office, item_id)
        assert sorted(events, key=lambda event: event[1]) == [
            ("ann", "note", {"text": "Called back."}),
            ("ben", "resolved", {}),
        ]
        assert state(office, item_id)[0] == "resolved"


def test_a_reply_sent_twice_at_once_makes_two_separate_replies(office: Office) -> None:
    # Without a key (docs/api.md), two requests are two replies, whatever their text.
    for round_ in range(RACES):
        item_id = new_item(office, round_)
        text = "Twenty chairs cost 400 EUR."
        answers = at_once(
            post(office.ann, item_id, "reply", text=text), post(office.ann_again, item_id, "reply", text=text)
        )
        assert statuses(answers) == [202, 202]
        sent = [answer.get_json() for answer in answers]
        assert len({reply["id"] for reply in sent}) == 2
        assert len({reply["message_id"] for reply in sent}) == 2
        events = history(office, item_id)
        assert sorted(event[2]["reply"] for event in events) == sorted(reply["id"] for reply in sent)
        assert {(actor, action) for actor, action, _ in events} == {("ann", "replied")}
        with transaction(office.runtime.sessions, write=False) as session:
            replies = session.scalar(select(func.count()).where(Reply.item_id == item_id))
            jobs = session.scalar(select(func.count()).where(Job.kind == "reply", Job.item_id == item_id))
        assert (replies, jobs) == (2, 2)


def test_a_reply_sent_twice_at_once_with_its_key_makes_one_reply(office: Office) -> None:
    for round_ in range(RACES):
        item_id = new_item(office, round_)
        fields = {"text": "Twenty chairs cost 400 EUR.", "key": f"answer-form-{round_}"}
        answers = at_once(
            post(office.ann, item_id, "reply", **fields), post(office.ann_again, item_id, "reply", **fields)
        )
        assert statuses(answers) == [202, 202]
        assert len({answer.get_json()["id"] for answer in answers}) == 1
        assert [(actor, action) for actor, action, _ in history(office, item_id)] == [("ann", "replied")]
        with transaction(office.runtime.sessions, write=False) as session:
            jobs = session.scalar(select(func.count()).where(Job.kind == "reply", Job.item_id == item_id))
        assert jobs == 1


def test_an_assign_and_a_release_at_once_end_as_one_then_the_other(office: Office) -> None:
    for round_ in range(RACES):
        item_id = new_item(office, round_)
        assert post(office.ann, item_id, "claim")().status_code == 200
        answers = statuses(
            at_once(post(office.cat, item_id, "assign", person="ben"), post(office.ann, item_id, "release"))
        )
        events = history(office, item_id)[1:]
        assert answers == [200, 200]
        if events[0][1] == "assigned":  # to ben, who then gave it back
            assert events == [
                ("cat", "assigned", {"from": "ann", "to": "ben"}),
                ("ann", "released", {"from": "ben"}),
            ]
            assert state(office, item_id) == ("new", None, "sales")
        else:  # released, then given to ben
            assert events == [("ann", "released", {"from": "ann"}), ("cat", "assigned", {"to": "ben"})]
            assert state(office, item_id) == ("claimed", "ben", "sales")


@pytest.mark.parametrize("resolved", [False, True], ids=["open", "resolved"])
def test_a_reopen_and_a_resolve_at_once_end_as_one_then_the_other(office: Office, resolved: bool) -> None:
    for round_ in range(RACES):
        item_id = new_item(office, round_)
        if resolved:
            assert post(office.cat, item_id, "resolve")().status_code == 200
        answers = statuses(at_once(post(office.ann, item_id, "reopen"), post(office.ben, item_id, "resolve")))
        events = history(office, item_id)[int(resolved) :]
        if answers == [200, 200]:
            # From open: resolved, then reopened; from resolved: reopened, then resolved.
            order = ["resolved", "reopened"] if not resolved else ["reopened", "resolved"]
            assert [action for _, action, _ in events] == order
            assert state(office, item_id)[0] == ("new" if not resolved else "resolved")
        else:  # the one that needed the other first was refused
            assert answers == ([400, 200] if not resolved else [200, 400])
            assert [action for _, action, _ in events] == (["resolved"] if not resolved else ["reopened"])
            assert state(office, item_id)[0] == ("resolved" if not resolved else "new")


@pytest.mark.parametrize(
    ("action", "fields", "done"),
    [
        ("claim", {}, "claimed"),
        ("resolve", {}, "resolved"),
        ("reroute", {"department": "billing", "reason": "an invoice"}, "rerouted"),
        ("note", {"text": "Called back."}, "note"),
    ],
)
def test_an_action_while_the_sender_writes_again_keeps_both(
    office: Office, action: str, fields: dict[str, str], done: str
) -> None:
    for round_ in range(RACES):
        item_id = new_item(office, round_)
        answer, joined = at_once(post(office.ann, item_id, action, **fields), follow_up(office, round_))
        assert statuses([answer]) == [200]
        assert joined == item_id
        with transaction(office.runtime.sessions, write=False) as session:
            follow_ups = session.scalar(select(func.count()).where(Message.item_id == item_id))
        assert follow_ups == 1
        actions = [event[1] for event in history(office, item_id)]
        status = state(office, item_id)[0]
        if action == "resolve":
            # A reply after the resolve reopens the item; one before it is resolved with it.
            assert actions in (["resolved", "reply received", "reopened"], ["reply received", "resolved"])
            assert status == ("new" if actions[-1] == "reopened" else "resolved")
        else:
            assert sorted(actions) == sorted([done, "reply received"])
            assert status == ("claimed" if action == "claim" else "new")


def test_two_items_merged_into_each_other_at_once_end_with_one_merged(office: Office) -> None:
    for round_ in range(RACES):
        first, second = new_item(office, round_), new_item(office, round_ + RACES)
        answers = statuses(
            at_once(
                post(office.ann, first, "merge", into=str(second)),
                post(office.ben, second, "merge", into=str(first)),
            )
        )
        # The later merge finds the other item merged already, or merged into its own.
        assert sorted(answers) == [200, 400]
        merged = [item_id for item_id in (first, second) if state(office, item_id)[0] == "merged"]
        assert merged == [(first, second)[answers.index(200)]]


def test_bulk_claims_of_the_same_items_in_opposite_orders_both_finish(office: Office) -> None:
    ann_token, ben_token = (
        csrf_token(client.get("/").get_data(as_text=True)) for client in (office.ann, office.ben)
    )
    for round_ in range(RACES):
        items = [str(new_item(office, round_)), str(new_item(office, round_ + RACES))]

        def claim(client: FlaskClient, token: str, ids: list[str]) -> Request:
            form = {"csrf_token": token, "action": "claim", "item": ids}
            return lambda: client.post("/items/bulk", data=form, headers={"Accept": "application/json"})

        answers = at_once(claim(office.ann, ann_token, items), claim(office.ben, ben_token, items[::-1]))
        assert statuses(answers) == [200, 200]
        assert [sorted(answer.get_json()["done"]) for answer in answers] == [sorted(map(int, items))] * 2
        for item_id in map(int, items):
            [first, last] = [actor for actor, _, _ in history(office, item_id)]
            assert history(office, item_id) == [(first, "claimed", {}), (last, "claimed", {"from": first})]
