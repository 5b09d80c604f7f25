"""A queue's filters, search and orders, in the page and the API, and the live endpoints."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from intake.cli.runtime import Runtime
from intake.desk import hand_taken
from routing.store.models import utcnow
from tests.support.people import add_person, office_client
from tests.support.queue_pages import START, add_item, item_ids, rows


def shown(client: FlaskClient, query: str = "", department: str = "sales") -> list[int]:
    """Every item the queue view shows, following its pager to the end."""
    response = client.get(f"/departments/{department}?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    found = item_ids(page)
    while 'id="next-page" href="' in page:
        link = page.split('id="next-page" href="')[1].split('"')[0].replace("&amp;", "&")
        for part in (p for p in query.split("&") if p and not p.startswith("cursor=")):
            assert part in link, f"the pager dropped {part}"
        page = client.get(link).get_data(as_text=True)
        found += item_ids(page)
    return found


def api_shown(client: FlaskClient, query: str) -> list[int]:
    body = client.get(f"/api/v1/items?limit=2&{query}").json
    assert body is not None
    found = [item["id"] for item in body["items"]]
    while body["next"]:
        link = urlsplit(body["next"])
        body = client.get(f"{link.path}?{link.query}").json
        found += [item["id"] for item in body["items"]]
    return found


def test_a_queue_shows_open_items_unless_asked_for_resolved_or_all(
    runtime: Runtime, client: FlaskClient
) -> None:
    new = add_item(runtime, 1)
    claimed = add_item(runtime, 2, status="claimed")
    resolved = add_item(runtime, 3, status="resolved")
    assert shown(client) == [claimed, new]
    assert shown(client, "status=open") == [claimed, new]
    assert shown(client, "status=new") == [new]
    assert shown(client, "status=claimed") == [claimed]
    assert shown(client, "status=resolved") == [resolved]
    assert shown(client, "status=all") == [resolved, claimed, new]
    # The API lists every status unless told, as it always has.
    assert api_shown(client, "department=sales") == [resolved, claimed, new]
    assert api_shown(client, "department=sales&status=open") == [claimed, new]


def test_channel_priority_and_overdue_filters(runtime: Runtime, client: FlaskClient) -> None:
    text = add_item(runtime, 1, channel="sms")
    call = add_item(runtime, 2, channel="voicemail", priority="urgent")
    mail = add_item(runtime, 3, priority="urgent", due_at=utcnow() - timedelta(hours=1))
    add_item(runtime, 4, due_at=utcnow() + timedelta(hours=1))
    assert shown(client, "channel=sms") == [text]
    assert shown(client, "channel=voicemail") == [call]
    assert shown(client, "priority=urgent") == [mail, call]
    assert shown(client, "priority=urgent&channel=email") == [mail]
    assert shown(client, "due=overdue") == [mail]
    assert api_shown(client, "channel=voicemail") == [call]


def test_the_channel_filter_finds_messages_taken_by_hand(runtime: Runtime, client: FlaskClient) -> None:
    taken = {kind: add_item(runtime, n, channel=kind) for n, kind in enumerate(hand_taken.KINDS, 1)}
    page = client.get("/departments/sales").get_data(as_text=True)
    for kind, item_id in taken.items():
        assert f'<option value="{kind}">' in page
        assert shown(client, f"channel={kind}") == [item_id]
        assert api_shown(client, f"channel={kind}") == [item_id]


def test_the_tag_filter_matches_whole_tags_only(runtime: Runtime, client: FlaskClient) -> None:
    vip = add_item(runtime, 1, tags=["vip"])
    add_item(runtime, 2, tags=["vip-not", "xvip"])
    both = add_item(runtime, 3, tags=["order", "vip"])
    odd = add_item(runtime, 4, tags=['say "hi"', "50%_off"])
    add_item(runtime, 5)
    assert shown(client, "tag=vip") == [both, vip]
    assert shown(client, "tag=vi") == []
    assert shown(client, "tag=say+%22hi%22") == [odd]
    assert shown(client, "tag=50%25_off") == [odd]
    assert shown(client, "tag=50%25") == []
    assert api_shown(client, "tag=order") == [both]


def test_the_assignee_filter_takes_a_name_me_or_nobody(runtime: Runtime, client: FlaskClient) -> None:
    add_person(runtime.sessions, "sam", "staff", ["sales"])
    mine = add_item(runtime, 1, status="claimed", assignee="reception")
    sams = add_item(runtime, 2, status="claimed", assignee="sam")
    nobodys = add_item(runtime, 3)
    assert shown(client, "assignee=me") == [mine]
    assert shown(client, "assignee=reception") == [mine]
    assert shown(client, "assignee=sam") == [sams]
    assert shown(client, "assignee=nobody") == [nobodys]
    assert api_shown(client, "assignee=me") == [mine]
    page = client.get("/departments/sales?assignee=sam").get_data(as_text=True)
    assert [row.cells["assignee"] for row in rows(page)] == ["sam"]


def test_search_looks_in_sender_name_subject_and_text_ignoring_case(
    runtime: Runtime, client: FlaskClient
) -> None:
    by_address = add_item(runtime, 1, sender="Bo <bo@gearbox.example>")
    by_name = add_item(runtime, 2, sender="Gearbox Repairs <desk@repairs.example>")
    by_subject = add_item(runtime, 3, subject="The GEARBOX broke")
    by_text = add_item(runtime, 4, body="my gearbox is making a noise\r\n")
    add_item(runtime, 5, subject="Nothing to see")
    assert shown(client, "q=gearbox") == [by_text, by_subject, by_name, by_address]
    assert shown(client, "q=GearBox&channel=email&status=open") == [by_text, by_subject, by_name, by_address]
    assert api_shown(client, "q=gearbox+repairs") == [by_name]


def test_search_takes_words_and_reads_other_characters_as_gaps(runtime: Runtime, client: FlaskClient) -> None:
    percent = add_item(runtime, 1, subject="50% off")
    add_item(runtime, 2, subject="500 off")
    underscore = add_item(runtime, 3, subject="order a_b")
    add_item(runtime, 4, subject="order axb")
    slash = add_item(runtime, 5, subject="and/or")
    assert shown(client, "q=50%25") == [percent]
    assert shown(client, "q=a_b") == [underscore]
    assert shown(client, "q=and%2For") == [slash]
    assert shown(client, "q=d%2Fo") == []  # words, not a piece of one


def test_urgent_order_pages_by_priority_then_due_then_newest(runtime: Runtime, client: FlaskClient) -> None:
    due_soon, due_later = START + timedelta(days=1), START + timedelta(days=2)
    low = add_item(runtime, 1, priority="low")
    normal_old = add_item(runtime, 2)
    normal_new = add_item(runtime, 3)
    normal_due_later = add_item(runtime, 4, due_at=due_later)
    normal_due_soon = add_item(runtime, 5, due_at=due_soon)
    high = add_item(runtime, 6, priority="high")
    urgent_a = add_item(runtime, 7, priority="urgent", due_at=due_soon)
    urgent_b = add_item(runtime, 8, priority="urgent", due_at=due_soon)
    urgent_none = add_item(runtime, 9, priority="urgent")
    expected = [
        urgent_b,  # same priority and due time: the newer first
        urgent_a,
        urgent_none,
        high,
        normal_due_soon,
        normal_due_later,
        normal_new,
        normal_old,
        low,
    ]
    assert shown(client, "sort=urgent") == expected  # three pages of three
    assert api_shown(client, "department=sales&sort=urgent") == expected
    assert shown(client, "sort=urgent&priority=normal") == expected[4:8]
    assert shown(client) == list(range(urgent_none, low - 1, -1))


def test_newest_order_pages_keep_their_filters(runtime: Runtime, client: FlaskClient) -> None:
    texts = [add_item(runtime, number, channel="sms" if number % 2 else "email") for number in range(1, 10)]
    assert shown(client, "channel=sms") == [texts[8], texts[6], texts[4], texts[2], texts[0]]


BAD = [
    ("status=lost", "status 'lost' is not one of open, new, claimed, resolved, all"),
    ("channel=fax", "channel 'fax' is not one of email, sms, whatsapp, voicemail, phone-note, visit, post"),
    ("priority=mega", "priority 'mega' is not one of low, normal, high, urgent"),
    ("sort=oldest", "sort 'oldest' is not one of newest, urgent"),
    ("due=soon", "due 'soon' is not one of overdue"),
    ("assignee=ghost", "assignee 'ghost' is not a user name, 'me' or 'nobody'"),
    ("q=" + "x" * 201, "q is longer than 200 characters"),
    ("cursor=u1-2-3", "cursor 'u1-2-3' is not one this server handed out"),
    ("cursor=1-2&sort=urgent", "cursor '1-2' belongs to sort=newest, not sort=urgent"),
    ("cursor=u1-2-3-4", "cursor 'u1-2-3-4' belongs to sort=urgent, not sort=newest"),
    # Digits int() reads but no database column holds: refused, not a crash.
    ("cursor=\u00b2-1", "cursor '\u00b2-1' is not one this server handed out"),
    ("cursor=1-99999999999999999999", "cursor '1-99999999999999999999' is not one this server handed out"),
    ("cursor=u9999999999-2-3-4&sort=urgent", "cursor 'u9999999999-2-3-4' is not one this server handed out"),
    ("q=a%00b", "q has a NUL character"),
    ("tag=%00", "tag has a NUL character"),
]


@pytest.mark.parametrize(("query", "message"), BAD)
def test_bad_filters_are_400_in_the_page_and_the_api(client: FlaskClient, query: str, message: str) -> None:
    page = client.get(f"/departments/sales?{query}")
    assert page.status_code == 400
    assert message in page.get_data(as_text=True).replace("&#39;", "'")
    api = client.get(f"/api/v1/items?{query}")
    assert (api.status_code, api.json) == (400, {"error": {"status": 400, "message": message}})


def test_a_queue_page_draws_what_the_keyboard_and_the_bulk_bar_need(
    runtime: Runtime, client: FlaskClient
) -> None:
    item_id = add_item(runtime, 1, channel="voicemail", priority="high", tags=["vip"])
    response = client.get("/departments/sales")
    page = response.get_data(as_text=True)
    [row] = rows(page)
    assert row.attrs["id"] == f"item-{item_id}"
    assert row.attrs["data-href"] == f"/items/{item_id}"
    assert (row.attrs["data-department"], row.attrs["data-status"]) == ("sales", "new")
    # The name the sender gives, then the address it came from.
    assert (row.cells["sender"], row.cells["priority"], row.cells["status"]) == (
        "Ann Example ann@client.example",
        "high",
        "new",
    )
    assert row.cells["subject"] == "Message 1 vip"
    assert 'aria-label="voicemail"' in page
    assert 'name="csrf-token" content="' in page
    assert '<script src="/static/queue.js" defer></script>' in page
    assert "<script>" not in page and " onclick=" not in page  # the CSP allows no inline script
    for element in ('id="search"', 'id="bulk"', 'id="reroute-dialog"', 'id="keys-help"', 'form="bulk"'):
        assert element in page
    assert 'action="/items/bulk"' in page and 'name="next" value="/departments/sales?"' in page


def test_a_row_shows_its_age_and_an_overdue_due_time(runtime: Runtime, client: FlaskClient) -> None:
    add_item(runtime, 1, received_at=utcnow() - timedelta(minutes=5), due_at=utcnow() - timedelta(minutes=1))
    [row] = rows(client.get("/departments/sales").get_data(as_text=True))
    assert row.cells["age"] == "5 min. ago"
    assert "overdue" in row.attrs["class"].split()


def test_the_poll_returns_rows_newer_than_the_page_in_its_view(runtime: Runtime, client: FlaskClient) -> None:
    add_item(runtime, 1)
    page = client.get("/departments/sales").get_data(as_text=True)
    latest = page.split('data-after="')[1].split('"')[0]
    assert client.get(f"/departments/sales/since?after={latest}").json == {
        "after": int(latest),
        "rows": [],
        "more": False,
    }
    mail = add_item(runtime, 2)
    text = add_item(runtime, 3, channel="sms")
    add_item(runtime, 4, to="billing@office.test")
    add_item(runtime, 5, status="resolved")
    answer = client.get(f"/departments/sales/since?after={latest}").json
    assert answer["after"] == text and answer["more"] is False
    assert [item_ids(row)[0] for row in answer["rows"]] == [text, mail]
    only_texts = client.get(f"/departments/sales/since?after={latest}&channel=sms").json
    assert [item_ids(row)[0] for row in only_texts["rows"]] == [text]
    assert client.get("/departments/sales/since?after=soon").status_code == 400
    assert client.get("/departments/sales/since?after=1&channel=fax").status_code == 400
    assert client.get("/departments/nowhere/since?after=1").status_code == 404


def test_the_poll_repeats_the_last_minutes_items_so_a_late_commit_is_not_missed(
    runtime: Runtime, client: FlaskClient
) -> None:
    add_item(runtime, 1, received_at=utcnow() - timedelta(minutes=5))  # before the window
    # Two ids taken at once; the second committed first and the page saw it, then the first.
    late = add_item(runtime, 2, received_at=utcnow() - timedelta(seconds=5))
    seen = add_item(runtime, 3, received_at=utcnow() - timedelta(seconds=3))
    answer = client.get(f"/departments/sales/since?after={seen}").json
    assert answer is not None and answer["after"] == seen
    assert [item_ids(row)[0] for row in answer["rows"]] == [seen, late]


def test_the_row_endpoint_redraws_a_row_or_says_it_left_the_view(
    runtime: Runtime, client: FlaskClient
) -> None:
    open_item = add_item(runtime, 1, status="claimed", assignee="reception")
    done = add_item(runtime, 2, status="resolved")
    redrawn = client.get(f"/departments/sales/rows/{open_item}")
    assert redrawn.status_code == 200
    [row] = rows(f"<table>{redrawn.get_data(as_text=True)}</table>")
    assert (row.cells["assignee"], row.cells["status"]) == ("reception", "claimed")
    assert client.get(f"/departments/sales/rows/{done}").status_code == 204
    assert client.get(f"/departments/sales/rows/{done}?status=all").status_code == 200
    assert client.get(f"/departments/billing/rows/{open_item}").status_code == 204


def test_staff_poll_and_rows_of_their_departments_only(runtime: Runtime, app: Flask) -> None:
    item_id = add_item(runtime, 1)
    staff = office_client(app, runtime.sessions, name="bill", role="staff", departments=["billing"])
    assert staff.get("/departments/sales/since?after=0").status_code == 404
    assert staff.get(f"/departments/sales/rows/{item_id}").status_code == 404
    assert staff.get("/departments/sales").status_code == 404
    assert staff.get("/departments/billing/since?after=0").json["rows"] == []
    assert staff.get("/api/v1/items?q=Message").json["items"] == []


@pytest.mark.parametrize("after", ["abc", "\u00b2", "-1", "99999999999999999999"])
def test_the_poll_refuses_an_after_that_is_no_item_id(client: FlaskClient, after: str) -> None:
    response = client.get(f"/departments/sales/since?after={after}")
    assert response.status_code == 400
    assert "after must be the id of the newest item" in response.get_data(as_text=True)


def test_ids_past_what_the_database_holds_are_404(runtime: Runtime, client: FlaskClient) -> None:
    add_item(runtime, 1)
    huge = "99999999999999999999"
    for path in (
        f"/items/{huge}",
        f"/items/{huge}/attachments/1",
        f"/items/1/attachments/{huge}",
        f"/items/1/inline/{huge}",
        f"/departments/sales/rows/{huge}",
        f"/api/v1/items/{huge}",
    ):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/api/v1/items/{huge}/claim").status_code == 404
