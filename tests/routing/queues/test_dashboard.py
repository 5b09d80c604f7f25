"""The dashboard: items per office day by department and channel, pick-up medians, the page.

The test office is in America/New_York, and the window below (22 Oct to 20 Nov 2026)
spans the end of summer time on 1 Nov: a day starts at 04:00 UTC before it, 05:00 after.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from intake.phone.sms import parse_message
from routing.people import accounts
from routing.queues import triage
from routing.queues.dashboard import Dashboard, Series, Window, figures
from routing.store.database import transaction
from routing.store.models import Department, Item
from tests.support.mail import email_bytes
from tests.support.people import office_client

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 10:00 in the office
ADDRESSES = {
    "front-desk": "hello@office.test",
    "sales": "sales@office.test",
    "billing": "billing@office.test",
}
_numbers = itertools.count(1)


def email(runtime: Runtime, department: str, at: datetime, claimed_after: timedelta | None = None) -> int:
    n = next(_numbers)
    raw = email_bytes(
        to=ADDRESSES[department],
        sender=f"Client {n} <client{n}@client.example>",
        subject=f"Question {n}",
        message_id=f"<q{n}@client.example>",
    )
    return claim(runtime, runtime.deliverer.deliver(parse_email(raw, received_at=at)).item_id, claimed_after)


def text(runtime: Runtime, at: datetime, claimed_after: timedelta | None = None) -> int:
    """A text to the sales number, from a number of its own so that it is a new item."""
    n = next(_numbers)
    form = {"MessageSid": f"SM{n:032d}", "From": f"+1555777{n:04d}", "To": "+15555550101", "Body": "Hi"}
    message = parse_message(form, b"form", at).message
    return claim(runtime, runtime.deliverer.deliver(message).item_id, claimed_after)


def claim(runtime: Runtime, item_id: int, after: timedelta | None) -> int:
    if after is not None:
        with transaction(runtime.sessions) as session:
            item = session.get_one(Item, item_id)
            item.claimed_at = item.received_at + after
    return item_id


def read(runtime: Runtime, departments: set[str] | None = None, now: datetime = NOW) -> Dashboard:
    with runtime.sessions() as session:
        return figures(session, runtime.settings.timezone, now, departments)


def nonzero(dashboard: Dashboard, series: tuple[Series, ...]) -> dict[str, dict[date, int]]:
    """Each series' days with items; and every series has a count for every day."""
    assert all(len(s.counts) == len(dashboard.days) for s in series)
    return {s.key: {d: c for d, c in zip(dashboard.days, s.counts, strict=True) if c} for s in series}


def test_items_count_on_the_office_day_they_arrived_including_days_with_none(runtime: Runtime) -> None:
    email(runtime, "front-desk", datetime(2026, 10, 21, 15, 0, tzinfo=UTC))  # 30 days ago: outside
    email(runtime, "front-desk", datetime(2026, 10, 22, 3, 59, tzinfo=UTC))  # 21 Oct, 23:59 in the office
    email(runtime, "front-desk", datetime(2026, 10, 22, 4, 0, tzinfo=UTC))  # 22 Oct, 00:00: the first day
    email(runtime, "billing", datetime(2026, 10, 25, 3, 30, tzinfo=UTC))  # 24 Oct, 23:30 (UTC-4)
    email(runtime, "sales", datetime(2026, 11, 10, 4, 30, tzinfo=UTC))  # 9 Nov, 23:30 (UTC-5)
    email(runtime, "sales", datetime(2026, 11, 10, 5, 30, tzinfo=UTC))  # 10 Nov, 00:30
    text(runtime, datetime(2026, 11, 20, 14, 0, tzinfo=UTC))  # today
    text(runtime, datetime(2026, 11, 21, 4, 59, tzinfo=UTC))  # 20 Nov, 23:59: still today

    dashboard = read(runtime)

    assert len(dashboard.days) == 30
    assert (dashboard.days[0], dashboard.days[-1]) == (date(2026, 10, 22), date(2026, 11, 20))
    assert [s.label for s in dashboard.by_department] == ["Front desk", "Sales", "Billing"]
    assert nonzero(dashboard, dashboard.by_department) == {
        "front-desk": {date(2026, 10, 22): 1},
        "sales": {date(2026, 11, 9): 1, date(2026, 11, 10): 1, date(2026, 11, 20): 2},
        "billing": {date(2026, 10, 24): 1},
    }
    assert [(s.key, s.label) for s in dashboard.by_channel] == [("email", "Email"), ("sms", "SMS")]
    assert nonzero(dashboard, dashboard.by_channel) == {
        "email": {date(2026, 10, 22): 1, date(2026, 10, 24): 1, date(2026, 11, 9): 1, date(2026, 11, 10): 1},
        "sms": {date(2026, 11, 20): 2},
    }
    assert dashboard.total == 6


def test_an_empty_office_has_thirty_days_of_zeros(runtime: Runtime) -> None:
    dashboard = read(runtime)
    assert [s.counts for s in dashboard.by_department] == [(0,) * 30] * 3
    assert dashboard.by_channel == ()
    assert [(p.median, p.picked_up, p.waiting) for p in dashboard.pick_up] == [(None, 0, 0)] * 3


def test_the_median_wait_counts_picked_up_items_and_the_rest_wait(runtime: Runtime) -> None:
    morning = datetime(2026, 11, 16, 14, 0, tzinfo=UTC)
    for minutes in (120, 10):
        email(runtime, "sales", morning, timedelta(minutes=minutes))
    text(runtime, morning, timedelta(minutes=30))  # a text to sales counts as sales'
    email(runtime, "sales", morning)  # not picked up yet
    for minutes in (180, 10, 60, 20):
        email(runtime, "billing", morning, timedelta(minutes=minutes))
    email(runtime, "front-desk", morning)
    email(runtime, "billing", datetime(2026, 10, 1, tzinfo=UTC), timedelta(days=3))  # before the window

    waits = {p.department_id: (p.median, p.picked_up, p.waiting) for p in read(runtime).pick_up}

    assert waits == {
        "front-desk": (None, 0, 1),
        "sales": (timedelta(minutes=30), 3, 1),  # odd: 10, 30, 120
        "billing": (timedelta(minutes=40), 4, 0),  # even: halfway between 20 and 60
    }


def test_staff_see_only_their_departments_figures(runtime: Runtime) -> None:
    day = datetime(2026, 11, 16, 14, 0, tzinfo=UTC)
    email(runtime, "sales", day, timedelta(minutes=5))
    text(runtime, day)
    email(runtime, "billing", day, timedelta(minutes=50))

    dashboard = read(runtime, {"billing"})

    assert [(s.key, s.position) for s in dashboard.by_department] == [("billing", 2)]  # its colour as for all
    assert nonzero(dashboard, dashboard.by_channel) == {"email": {date(2026, 11, 16): 1}}
    assert [(p.department_id, p.median) for p in dashboard.pick_up] == [("billing", timedelta(minutes=50))]


def test_a_department_gone_from_the_config_is_shown_while_it_has_items(runtime: Runtime) -> None:
    email(runtime, "billing", datetime(2026, 11, 16, 14, 0, tzinfo=UTC))
    with transaction(runtime.sessions) as session:
        for department in session.scalars(select(Department).where(Department.id != "sales")):
            department.active = False
    dashboard = read(runtime)
    assert [(s.label, s.total) for s in dashboard.by_department] == [("Sales", 0), ("Billing", 1)]
    assert [p.department_id for p in dashboard.pick_up] == ["sales", "billing"]


def test_a_day_is_the_office_day_across_the_change_to_summer_time(runtime: Runtime) -> None:
    # 8 Mar 2026: clocks go forward at 02:00, so that office day has 23 hours.
    window = Window.ending(datetime(2026, 3, 9, 12, 0, tzinfo=UTC), runtime.settings.timezone, days=2)
    assert window.days == (date(2026, 3, 8), date(2026, 3, 9))
    assert [s.hour for s in window.starts] == [5, 4, 4]  # midnight EST, EDT, EDT
    assert window.starts[1] - window.starts[0] == timedelta(hours=23)


@pytest.mark.parametrize(
    ("now", "days", "message"),
    [
        (datetime(2026, 11, 20, 15, 0), 30, "the dashboard's 'now' must carry a time zone"),
        (NOW, 0, "the dashboard shows at least one day, not 0"),
    ],
)
def test_a_window_without_a_zone_or_days_is_refused(
    runtime: Runtime, now: datetime, days: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Window.ending(now, runtime.settings.timezone, days)


def test_a_one_day_window_counts_today(runtime: Runtime) -> None:
    email(runtime, "sales", NOW - timedelta(hours=1))
    email(runtime, "sales", NOW - timedelta(days=1))
    with runtime.sessions() as session:
        dashboard = figures(session, runtime.settings.timezone, NOW, days=1)
    assert [s.counts for s in dashboard.by_department] == [(0,), (1,), (0,)]


def local_noon(runtime: Runtime, days_ago: int) -> tuple[datetime, str]:
    """Noon, `days_ago` office days before today, and how the chart names that day."""
    today = datetime.now(UTC).astimezone(runtime.settings.timezone).date()
    day = today - timedelta(days=days_ago)
    return datetime.combine(day, time(12), runtime.settings.timezone), f"{day:%b} {day.day}"


def page(runtime: Runtime, name: str, role: str, departments: tuple[str, ...] = ()) -> str:
    app = runtime.web_app()
    client: FlaskClient = office_client(app, runtime.sessions, name=name, role=role, departments=departments)
    response = client.get("/dashboard")
    assert response.status_code == 200
    assert "style-src" not in response.headers["Content-Security-Policy"]  # default-src 'self' covers styles
    return response.get_data(as_text=True)


def test_the_page_draws_the_bars_with_a_title_each(runtime: Runtime) -> None:
    noon, label = local_noon(runtime, 2)
    email(runtime, "sales", noon, timedelta(minutes=80))
    email(runtime, "sales", noon)
    text(runtime, noon)
    email(runtime, "billing", noon, timedelta(minutes=25))

    html = page(runtime, "reception", "receptionist")

    assert html.count("<svg ") == 3
    assert f"<title>Sales, {label}: 3 items</title>" in html
    assert f"<title>Billing, {label}: 1 item</title>" in html
    assert f"<title>email, {label}: 3 items</title>" in html
    assert f"<title>SMS, {label}: 1 item</title>" in html
    assert '<td class="num">1 h 20 min</td>' in html
    assert '<td class="num">25 min</td>' in html
    assert "style=" not in html and "<style" not in html  # the CSP allows neither
    assert '<a href="/dashboard">Dashboard</a>' in html


def test_staff_see_a_page_of_their_departments_only(runtime: Runtime) -> None:
    noon, label = local_noon(runtime, 0)
    email(runtime, "sales", noon - timedelta(hours=1))
    email(runtime, "billing", noon - timedelta(hours=1))

    html = page(runtime, "sam", "staff", ("billing",))

    assert f"<title>Billing, {label}: 1 item</title>" in html
    assert f"<title>email, {label}: 1 item</title>" in html
    assert "Sales" not in html


def test_messages_taken_by_hand_have_their_channels_named(runtime: Runtime) -> None:
    for channel in ("post", "phone-note", "visit"):
        item_id = email(runtime, "sales", NOW - timedelta(hours=1))
        with transaction(runtime.sessions) as session:
            session.get_one(Item, item_id).channel = channel  # as /take stores them
    labels = [(s.key, s.label) for s in read(runtime).by_channel]
    assert labels == [("phone-note", "Phone note"), ("visit", "Visit"), ("post", "Post")]


def test_an_item_dealt_with_before_anyone_picked_it_up_is_not_waiting(runtime: Runtime) -> None:
    morning = datetime(2026, 11, 16, 14, 0, tzinfo=UTC)
    resolved, spam, _still_new = (email(runtime, "sales", morning) for _ in range(3))
    with transaction(runtime.sessions) as session:
        reception = accounts.person_of(accounts.add_user(session, "reception", "receptionist", "x" * 12))
        triage.resolve(session, resolved, reception)
        triage.mark_spam(session, spam, reception)

    [sales] = [p for p in read(runtime).pick_up if p.department_id == "sales"]

    assert (sales.median, sales.picked_up, sales.waiting) == (None, 0, 1)  # the one still new
