"""The hand-taken adapter: a receptionist's form as an InboundMessage, and its placement."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from intake.desk.hand_taken import BadForm, HandForm, Scan, parse_callback, placement_of, problems, to_message
from routing.engine import Router
from tests.support.routers import OPEN_TIME, office_with

NEW_YORK = ZoneInfo("America/New_York")
FORM = HandForm(
    key="k" * 24,
    kind="phone-note",
    name="Ann Smith",
    contact="+44 20 7946 0958",
    department="billing",
    person="sam",
    text="Call back about the March statement.\nShe is in until five.",
    callback_by=datetime(2026, 11, 3, 14, 30, tzinfo=NEW_YORK),
    taken_by="rita",
)
RULES = """
[[rules]]
name = "statements"
when = { body = ["statement"] }
route = "sales"
priority = "high"
"""


def test_a_phone_note_becomes_a_message_keyed_by_its_form() -> None:
    message = to_message(FORM, OPEN_TIME)
    assert (message.channel, message.sender, message.sender_name) == (
        "phone-note",
        "+442079460958",
        "Ann Smith",
    )
    assert message.subject == "Phone message from Ann Smith: Call back about the March statement."
    assert message.text == FORM.text and message.recipients == ()
    assert message.idempotency_key == "hand:" + FORM.key and message.received_at == OPEN_TIME
    assert message.placement is not None and (message.placement.department_id, message.placement.by) == (
        "billing",
        "rita",
    )
    raw = json.loads(message.raw)
    assert raw["contact"] == "+44 20 7946 0958" and raw["callback_by"] == "2026-11-03T14:30:00-05:00"
    assert placement_of(message.raw) == message.placement


def test_without_a_department_nothing_is_placed() -> None:
    message = to_message(dataclasses.replace(FORM, department=""), OPEN_TIME)
    assert message.placement is None and placement_of(message.raw) is None


def test_a_scan_keeps_its_own_name_and_the_raw_form_names_it_by_hash() -> None:
    scan = Scan("C:\\Scans\\letter.pdf", "application/pdf", b"%PDF")
    message = to_message(dataclasses.replace(FORM, kind="post", text="", scan=scan), OPEN_TIME)
    [attachment] = message.attachments
    assert (attachment.filename, attachment.content_type, attachment.content) == (
        "letter.pdf",
        "application/pdf",
        b"%PDF",
    )
    assert message.subject == "Letter from Ann Smith"
    assert json.loads(message.raw)["scan"]["size"] == 4


def test_nul_characters_are_kept_raw_but_not_stored_as_text() -> None:
    message = to_message(dataclasses.replace(FORM, name="Ann\x00 Smith", text="Hi\x00"), OPEN_TIME)
    assert (message.sender_name, message.text) == ("Ann Smith", "Hi")
    assert json.loads(message.raw)["name"] == "Ann\x00 Smith"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-03T14:30", datetime(2026, 11, 3, 19, 30, tzinfo=UTC)),
        ("2026-07-07T09:05:30", datetime(2026, 7, 7, 13, 5, 30, tzinfo=UTC)),  # daylight time
        ("  ", None),
    ],
)
def test_a_callback_time_is_read_in_the_offices_zone(value: str, expected: datetime | None) -> None:
    assert parse_callback(value, NEW_YORK) == expected


@pytest.mark.parametrize("value", ["3pm", "2026-11-03", "2026-02-30T10:00", "2026-11-03 14:30+00:00"])
def test_a_callback_in_another_format_is_refused(value: str) -> None:
    with pytest.raises(BadForm) as raised:
        parse_callback(value, NEW_YORK)
    assert raised.value.errors == {
        "callback_by": f"{value!r} is not a date and time such as 2026-11-03T14:30"
    }


def test_every_field_at_fault_is_named_at_once() -> None:
    bad = dataclasses.replace(FORM, key="short", kind="fax", name="", contact="call me", text="", taken_by="")
    with pytest.raises(BadForm) as raised:
        to_message(bad, OPEN_TIME)
    assert set(raised.value.errors) == {"key", "kind", "contact", "text", "taken_by"}
    assert "'call me' is neither a phone number" in str(raised.value)


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"kind": "visit", "contact": ""}, set()),
        ({"kind": "post", "contact": "", "text": "", "scan": Scan("a.pdf", "application/pdf", b"x")}, set()),
        ({"contact": "ann@client.example"}, set()),
        ({"contact": "+0 555"}, {"contact"}),
        ({"contact": "ann@@client.example"}, {"contact"}),
        ({"kind": "post", "scan": Scan("a.pdf", "application/pdf", b"")}, {"scan"}),
        ({"name": "x" * 201}, {"name"}),
        # Only a letter carries a scan: a call or a visit with a file is refused, not given it.
        ({"kind": "phone-note", "scan": Scan("a.pdf", "application/pdf", b"x")}, {"scan"}),
        ({"kind": "visit", "contact": "", "scan": Scan("a.pdf", "application/pdf", b"x")}, {"scan"}),
    ],
)
def test_what_each_kind_needs(changes: dict[str, object], errors: set[str]) -> None:
    assert set(problems(dataclasses.replace(FORM, **changes))) == errors  # type: ignore[arg-type]


def test_the_chosen_department_wins_and_rules_still_set_priority(tmp_path: Path) -> None:
    router = Router(office_with(tmp_path, RULES))
    decision = router.route(to_message(FORM, OPEN_TIME))
    assert (decision.department_id, decision.priority) == ("billing", "high")
    assert decision.reason == "taken by hand by rita for billing"
    assert decision.decision_needed is None
    assert [(o.rule, o.matched) for o in decision.outcomes] == [
        ("chosen by hand", True),
        ("statements", True),
    ]
    assert decision.outcomes[1].reason.endswith("already routed, so not to sales, priority high")


def test_a_department_gone_from_the_config_leaves_the_choice_to_the_rules(tmp_path: Path) -> None:
    router = Router(office_with(tmp_path, RULES))
    decision = router.route(to_message(dataclasses.replace(FORM, department="legal"), OPEN_TIME))
    assert decision.department_id == "sales"
    assert decision.outcomes[0].reason == "rita chose legal, which is no department now"


@pytest.mark.parametrize(
    ("contact", "sender"),
    [
        ("+44 (0)20 7946 0958", "+442079460958"),  # the trunk 0 a British number is written with
        ("+40 (0)721 234 567", "+40721234567"),
        ("+1 555\u2013555\u20130123", "+15555550123"),  # dashes pasted from a document
        ("+33 1 23 45 67 89", "+33123456789"),
        ("Ann@Client.example", "Ann@Client.example"),
    ],
)
def test_a_number_is_stored_as_its_contact_reads_it(contact: str, sender: str) -> None:
    message = to_message(dataclasses.replace(FORM, contact=contact), OPEN_TIME)
    assert message.sender == sender
    assert json.loads(message.raw)["contact"] == contact


@pytest.mark.parametrize(
    "contact", ["+1 555 555 01234", "+44 20", "+1 555 555 0123 ext 4", "+44 20 7946 0958 0"]
)
def test_a_number_no_phone_can_have_is_refused(contact: str) -> None:
    assert set(problems(dataclasses.replace(FORM, contact=contact))) == {"contact"}
