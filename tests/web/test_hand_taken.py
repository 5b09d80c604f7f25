"""Taking a message by hand at /take: a call, a visitor or a letter becomes a routed item."""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from config.loading import load_settings
from intake.cli.runtime import Runtime, open_runtime, reload_config
from intake.desk.hand_taken import MAX_SCAN_BYTES
from intake.rules.replay import replay
from routing.engine import Router
from routing.store.models import DeliveryKey, Item
from tests.support.people import add_person, csrf_token, office_client
from tests.support.routers import office_with

_KEY = re.compile(r'name="key" value="([^"]+)"')
RULES = """
[[rules]]
name = "invoices"
when = { body = ["invoice"] }
route = "billing"
tags = ["invoice"]
"""


@pytest.fixture
def client(runtime: Runtime, app: Flask) -> FlaskClient:
    return office_client(app, runtime.sessions, name="rita")


def blank(client: FlaskClient, kind: str = "") -> dict[str, str]:
    """The hidden fields of a freshly shown form."""
    page = client.get(f"/take?kind={kind}").get_data(as_text=True)
    key = _KEY.search(page)
    assert key, "the form has no key"
    return {"csrf_token": csrf_token(page), "key": key[1]}


def filled(client: FlaskClient, **changes: Any) -> dict[str, Any]:
    """A whole phone message for billing, as a receptionist would type it."""
    return {
        **blank(client),
        "kind": "phone-note",
        "name": "Ann Smith",
        "contact": "+1 (555) 555-0123",
        "department": "billing",
        "person": "",
        "callback_by": "",
        "text": "Please call back about the March statement.",
        **changes,
    }


def send(client: FlaskClient, form: dict[str, Any]) -> TestResponse:
    return client.post("/take", data=form, content_type="multipart/form-data")


def item_of(response: TestResponse) -> int:
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith("/items/")
    return int(location.removeprefix("/items/"))


def stored_items(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        keys = session.scalar(select(func.count()).select_from(DeliveryKey))
        items = session.scalar(select(func.count()).select_from(Item))
    assert keys == items  # a refused form leaves no key behind either
    return items or 0


def test_the_form_offers_the_kinds_departments_and_people(runtime: Runtime, client: FlaskClient) -> None:
    add_person(runtime.sessions, "sam", "staff", ["billing"])
    page = client.get("/take?kind=post").get_data(as_text=True)
    assert 'id="kind-post" value="post" checked autofocus' in page
    assert '<option value="billing">Billing</option>' in page
    assert '<option value="sam">sam (staff)</option>' in page
    assert 'type="datetime-local" name="callback_by"' in page and 'type="file" name="scan"' in page
    assert 'enctype="multipart/form-data"' in page and "style=" not in page
    # The page's script is told the largest scan the server reads, to stop a larger one before it is sent.
    assert '<script src="/static/take.js" defer></script>' in page
    assert f'data-max-bytes="{MAX_SCAN_BYTES}"' in page and "(at most 20 MB)" in page
    assert 'href="/take">Take a message</a>' in client.get("/").get_data(as_text=True)
    # A kind the form does not know is not chosen for the receptionist.
    assert 'id="kind-phone-note" value="phone-note" checked' in client.get("/take?kind=fax").get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    ("kind", "contact", "sender", "subject"),
    [
        ("phone-note", "+1 555 555 0123", "+15555550123", "Phone message from Ann Smith: Please call back"),
        ("visit", "", "Ann Smith", "Visit from Ann Smith: Please call back"),
        ("post", "ann@client.example", "ann@client.example", "Letter from Ann Smith: Please call back"),
    ],
)
def test_each_kind_makes_an_item_of_its_channel_in_the_chosen_department(
    runtime: Runtime, client: FlaskClient, kind: str, contact: str, sender: str, subject: str
) -> None:
    response = send(client, filled(client, kind=kind, contact=contact, text="Please call back\nabout March."))
    item_id = item_of(response)
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert f"Message taken: item {item_id}, in Billing." in page  # the department as the office names it
    assert f"<dd>{kind.replace('-', ' ')}</dd>" in page  # the channel in words
    with runtime.sessions() as session:
        item = session.get_one(Item, item_id)
        assert (item.channel, item.sender, item.subject) == (kind, sender, subject)
        assert item.sender_name == ("Ann Smith" if contact else None)
        assert item.department_id == "billing" and item.status == "new" and item.assignee_id is None
        assert item.routing_reason.startswith("taken by hand by rita for billing")
        assert item.decision_needed is None and item.due_at is None
        assert item.raw_content_type == "application/json"
        raw = json.loads(item.raw.content)
        assert (raw["kind"], raw["contact"], raw["taken_by"]) == (kind, contact, "rita")
        assert [(e.actor, e.action) for e in item.events] == [
            ("intake", "received"),
            ("rita", "taken-by-hand"),
        ]
        assert item.events[1].detail == {
            "kind": kind,
            "department": "billing",
            "assignee": None,
            "due_at": None,
        }
    # Shown in its department's queue like any other item.
    assert f"/items/{item_id}" in client.get("/departments/billing").get_data(as_text=True)


def test_without_a_department_the_rules_route_it(tmp_path: Path, database_url: str) -> None:
    runtime = open_runtime(office_with(tmp_path, RULES, database_url))
    try:
        client = office_client(runtime.web_app(), runtime.sessions)
        ruled = item_of(send(client, filled(client, department="", text="About invoice 7")))
        defaulted = item_of(send(client, filled(client, department="", text="Call me")))
        chosen = item_of(send(client, filled(client, department="sales", text="About invoice 8")))
        with runtime.sessions() as session:
            ruled_item, default_item, chosen_item = (
                session.get_one(Item, i) for i in (ruled, defaulted, chosen)
            )
            assert (ruled_item.department_id, ruled_item.tags) == ("billing", ["invoice"])
            assert ruled_item.routing_reason == "rule 'invoices' routes to billing"
            assert default_item.department_id == "front-desk"
            # The choice stands; the rule still tags it.
            assert (chosen_item.department_id, chosen_item.tags) == ("sales", ["invoice"])
            assert (
                chosen_item.routing_hits[-1]["reason"]
                == "body has 'invoice': already routed, so not to billing, tag invoice"
            )
    finally:
        runtime.engine.dispose()


def test_after_a_reload_a_message_taken_by_hand_follows_the_new_rules(
    tmp_path: Path, database_url: str
) -> None:
    runtime = open_runtime(office_with(tmp_path, "", database_url))
    try:
        client = office_client(runtime.web_app(), runtime.sessions)
        before = item_of(send(client, filled(client, department="", text="About invoice 7")))
        runtime.settings.source.write_text(runtime.settings.source.read_text() + RULES)
        assert reload_config(runtime)
        after = item_of(send(client, filled(client, department="", text="About invoice 8")))
        with runtime.sessions() as session:
            departments = [session.get_one(Item, i).department_id for i in (before, after)]
        assert departments == ["front-desk", "billing"]
    finally:
        runtime.engine.dispose()


def test_callback_time_and_person_make_it_due_and_claimed(runtime: Runtime, client: FlaskClient) -> None:
    add_person(runtime.sessions, "sam", "staff", ["billing"])
    # 14:30 in the office's zone (New York, daylight time ended on 1 November) is 19:30 UTC.
    item_id = item_of(send(client, filled(client, person="sam", callback_by="2026-11-03T14:30")))
    with runtime.sessions() as session:
        item = session.get_one(Item, item_id)
        assert item.due_at == datetime(2026, 11, 3, 19, 30, tzinfo=UTC)
        assert item.assignee is not None and item.assignee.name == "sam"
        assert item.status == "claimed" and item.claimed_at is not None
        assert item.events[-1].detail == {
            "kind": "phone-note",
            "department": "billing",
            "assignee": "sam",
            "due_at": "2026-11-03T14:30:00-05:00",
        }
    # The history says whom it is for and when to call back, in the office's time.
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    [line] = re.findall(r'<li>.*<strong class="action">taken by hand</strong>.*</li>', page)
    assert (
        '<span class="detail"> · to Billing</span><span class="detail"> · for sam</span>'
        '<span class="detail"> · callback wanted by Tue, Nov 3, 2026, 14:30</span></li>'
    ) in line


def test_a_letters_scan_is_stored_as_its_attachment_and_can_be_downloaded(
    runtime: Runtime, client: FlaskClient
) -> None:
    scan = b"%PDF-1.4 a scanned letter"
    form = filled(client, kind="post", contact="", text="", scan=(io.BytesIO(scan), "scans/letter.pdf"))
    item_id = item_of(send(client, form))
    with runtime.sessions() as session:
        item = session.get_one(Item, item_id)
        [attachment] = item.attachments
        assert (attachment.filename, attachment.content_type, attachment.size) == (
            "letter.pdf",
            "application/pdf",
            len(scan),
        )
        assert item.subject == "Letter from Ann Smith" and item.text == ""
        assert json.loads(item.raw.content)["scan"]["sha256"] == hashlib.sha256(scan).hexdigest()
        path = f"/items/{item_id}/attachments/{attachment.id}"
    assert path in client.get(f"/items/{item_id}").get_data(as_text=True)
    download = client.get(path)
    assert download.status_code == 200 and download.data == scan


@pytest.mark.parametrize(("kind", "contact"), [("phone-note", "+1 555 555 0123"), ("visit", "")])
def test_a_scan_chosen_before_switching_to_a_call_or_a_visit_is_not_attached(
    runtime: Runtime, client: FlaskClient, kind: str, contact: str
) -> None:
    # The file field is hidden once another kind is chosen, but a browser still sends it.
    scan = (io.BytesIO(b"%PDF-1.4 a scanned letter"), "letter.pdf")
    response = send(client, filled(client, kind=kind, contact=contact, scan=scan))
    item_id = item_of(response)
    with runtime.sessions() as session:
        item = session.get_one(Item, item_id)
        assert (item.channel, item.attachments) == (kind, [])
        assert json.loads(item.raw.content)["scan"] is None
    # Nor does a file the form ignores make a refused form say it was not kept.
    empty = (io.BytesIO(b""), "letter.pdf")
    page = send(client, filled(client, kind=kind, contact=contact, text="", scan=empty)).get_data(
        as_text=True
    )
    assert "write the message" in page and "letter.pdf" not in page and 'id="scan-error"' not in page


def test_a_form_sent_twice_makes_one_item(runtime: Runtime, client: FlaskClient) -> None:
    add_person(runtime.sessions, "sam", "staff", ["billing"])
    form = filled(client, person="sam")
    first = item_of(send(client, form))
    again = send(client, form)
    assert item_of(again) == first
    page = client.get(f"/items/{first}").get_data(as_text=True)
    assert f"This form was already sent: it is item {first}; nothing new was stored." in page
    assert stored_items(runtime) == 1
    with runtime.sessions() as session:
        assert [e.action for e in session.get_one(Item, first).events] == ["received", "taken-by-hand"]
    # A new form is a new message, even with the same words.
    assert item_of(send(client, filled(client))) != first


BAD_FORMS = [
    ({"text": "  "}, "text", "write the message"),
    ({"kind": "post", "text": ""}, "text", "write the message or attach the scan"),
    ({"contact": "555-0123"}, "contact", "is neither a phone number with its country code"),
    ({"contact": "ann@client"}, "contact", "is neither a phone number with its country code"),
    ({"contact": ""}, "contact", "a phone message needs the number or email address"),
    ({"kind": "visit", "name": "", "contact": ""}, "name", "say who the message is from"),
    ({"department": "nowhere"}, "department", "there is no department &#39;nowhere&#39;"),
    ({"person": "nobody"}, "person", "there is no active user &#39;nobody&#39;"),
    ({"callback_by": "tomorrow at 3"}, "callback_by", "is not a date and time such as 2026-11-03T14:30"),
    ({"callback_by": "2026-13-40T25:00"}, "callback_by", "is not a date and time"),
    ({"callback_by": "9999-12-31T23:59"}, "callback_by", "must lie between 0001-01-02 and 9999-12-30"),
    ({"kind": "fax"}, "kind", "choose one of phone-note, visit, post, not &#39;fax&#39;"),
    ({"key": ""}, "key", "this form was not shown by Intake or was changed"),
    ({"text": "x" * 20_001}, "text", "at most 20000 fit"),
]


def test_a_bad_form_is_shown_again_with_its_error_and_values_and_nothing_is_stored(
    runtime: Runtime, client: FlaskClient
) -> None:
    for changes, field, problem in BAD_FORMS:
        form = filled(client, **({"name": "Ann O'Neil"} | changes))
        response = send(client, form)
        assert response.status_code == 400, changes
        page = response.get_data(as_text=True)
        assert "Nothing was stored yet" in page and problem in page, changes
        assert f'id="{field}-error"' in page or field == "key", changes
        assert f'{field}-error" autofocus' not in page  # the cursor goes to the field, not its message
        if "name" not in changes:
            assert 'value="Ann O&#39;Neil"' in page, changes  # what was typed is kept
        if field != "key":
            # The same key, so that the corrected form still makes one item.
            assert f'name="key" value="{form["key"]}"' in page, changes
        assert stored_items(runtime) == 0, changes


def test_a_staff_member_from_another_department_cannot_be_given_the_message(
    runtime: Runtime, client: FlaskClient
) -> None:
    add_person(runtime.sessions, "sam", "staff", ["sales"])
    response = send(client, filled(client, person="sam", department=""))  # the rules send it to front-desk
    assert response.status_code == 400
    assert "sam does not work in front-desk, where the message goes" in response.get_data(as_text=True)
    assert stored_items(runtime) == 0


def test_a_scan_too_large_is_refused_clearly(runtime: Runtime, client: FlaskClient) -> None:
    big = io.BytesIO(b"x" * (MAX_SCAN_BYTES + 1))
    response = send(client, filled(client, kind="post", scan=(big, "letter.tiff")))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert (
        "a scan of at most 20 MB fits" in page
        and "The file letter.tiff was not kept: choose it again" in page
    )
    huge = io.BytesIO(b"x" * (MAX_SCAN_BYTES + 2 * 1024 * 1024))
    form = filled(client, kind="post", name="Ann O'Neil", scan=(huge, "letter.tiff"))
    response = send(client, form)
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "the upload is larger than 20 MB, so nothing was read or stored" in page
    # What was typed before the file is kept, and the file is named.
    assert 'id="kind-post" value="post" checked' in page and 'value="Ann O&#39;Neil"' in page
    assert "Please call back about the March statement.</textarea>" in page
    assert '<option value="billing" selected>' in page
    assert "The file letter.tiff was not kept: choose it again" in page
    assert stored_items(runtime) == 0


def test_a_large_upload_from_another_site_fills_in_nothing(
    runtime: Runtime, app: Flask, client: FlaskClient
) -> None:
    huge = io.BytesIO(b"x" * (MAX_SCAN_BYTES + 2 * 1024 * 1024))
    form = filled(client, kind="post", name="Mallory", csrf_token="forged", scan=(huge, "letter.tiff"))
    page = send(client, form).get_data(as_text=True)
    assert "the upload is larger than 20 MB" in page and "Mallory" not in page and "March" not in page
    assert form["key"] not in page


def test_the_form_tells_the_largest_scan_the_web_server_reads(tmp_path: Path, database_url: str) -> None:
    office = office_with(tmp_path, "", database_url)
    lowered = office.source.read_text().replace("[web]\n", f"[web]\nmax_request_bytes = {5 * 1024 * 1024}\n")
    office.source.write_text(lowered)
    runtime = open_runtime(load_settings(office.source, {"INTAKE_DATABASE_URL": database_url}))
    try:
        client = office_client(runtime.web_app(), runtime.sessions)
        page = client.get("/take?kind=post").get_data(as_text=True)
        # What the server reads, less room for the rest of the form.
        assert f'data-max-bytes="{4 * 1024 * 1024}"' in page and "(at most 4 MB)" in page
    finally:
        runtime.engine.dispose()


def test_a_form_without_its_csrf_token_is_refused(runtime: Runtime, client: FlaskClient) -> None:
    form = filled(client)
    del form["csrf_token"]
    assert send(client, form).status_code == 400
    assert stored_items(runtime) == 0


def test_staff_do_not_take_messages(runtime: Runtime, app: Flask, client: FlaskClient) -> None:
    form = filled(client)
    staff = office_client(app, runtime.sessions, name="sam", role="staff", departments=["billing"])
    assert staff.get("/take").status_code == 403
    form["csrf_token"] = csrf_token(staff.get("/").get_data(as_text=True))
    assert send(staff, form).status_code == 403
    assert "Take a message" not in staff.get("/").get_data(as_text=True)
    assert stored_items(runtime) == 0
    admin = office_client(app, runtime.sessions, name="ada", role="admin")
    assert admin.get("/take").status_code == 200


def test_replaying_the_rules_keeps_a_chosen_department(
    runtime: Runtime, client: FlaskClient, tmp_path: Path
) -> None:
    chosen = item_of(send(client, filled(client, department="sales", text="About invoice 8")))
    ruled = item_of(send(client, filled(client, department="", text="About invoice 9")))
    report = replay(runtime.sessions, Router(office_with(tmp_path, RULES)), datetime(2026, 1, 1, tzinfo=UTC))
    assert report.replayed == 2
    assert [(move.item_id, move.now, move.would_be) for move in report.moves] == [
        (ruled, "front-desk", "billing")
    ]
    assert chosen not in [move.item_id for move in report.moves]


def test_a_number_written_with_its_trunk_zero_is_the_callers_contact(
    runtime: Runtime, client: FlaskClient
) -> None:
    first = item_of(send(client, filled(client, contact="+44 20 7946 0958")))
    again = item_of(send(client, filled(client, contact="+44 (0)20 7946 0958", name="Ann")))
    with runtime.sessions() as session:
        items = [session.get_one(Item, item_id) for item_id in (first, again)]
        assert [item.sender for item in items] == ["+442079460958", "+442079460958"]
        assert items[0].contact_id is not None and items[0].contact_id == items[1].contact_id


def test_line_breaks_count_as_the_browser_counts_them(runtime: Runtime, client: FlaskClient) -> None:
    # A browser counts a line break as one character against maxlength, and sends it as two.
    typed = "\r\n".join(["x" * 99] * 200) + "y"
    item_id = item_of(send(client, filled(client, text=typed)))
    with runtime.sessions() as session:
        item = session.get_one(Item, item_id)
        assert item.text == typed.replace("\r\n", "\n") and len(item.text) == 20_000
        assert json.loads(item.raw.content)["text"] == typed  # the raw form keeps what was sent


def test_a_form_sent_again_with_other_values_is_not_lost(runtime: Runtime, client: FlaskClient) -> None:
    # Back from the item page, the browser shows the form as it was sent, key and all.
    form = filled(client)
    first = item_of(send(client, form))
    other = form | {"name": "Bob Jones", "contact": "+1 555 555 0199", "text": "Bob's new order"}
    response = send(client, other)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert f"this form was already sent, as item {first}, with other values" in page
    assert 'value="Bob Jones"' in page and "Bob&#39;s new order</textarea>" in page
    assert f'name="key" value="{form["key"]}"' not in page
    assert stored_items(runtime) == 1
    # Sent again as shown, it is a message of its own.
    key = _KEY.search(page)
    assert key is not None
    second = item_of(send(client, other | {"key": key[1], "csrf_token": csrf_token(page)}))
    assert second != first
    with runtime.sessions() as session:
        assert session.get_one(Item, second).sender_name == "Bob Jones"
    assert stored_items(runtime) == 2


def test_when_no_field_is_at_fault_the_cursor_is_on_the_kind(runtime: Runtime, client: FlaskClient) -> None:
    page = send(client, filled(client, key="changed")).get_data(as_text=True)
    assert "this form was not shown by Intake" in page
    assert 'id="kind-phone-note" value="phone-note" checked autofocus' in page
