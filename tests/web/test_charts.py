"""The dashboard's chart geometry and the words for a wait, without a database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import Flask
from flask_babel import Babel

from routing.queues.dashboard import PickUp, Series
from web import charts

DAYS = (date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4))


@pytest.mark.parametrize(
    ("span", "words"),
    [
        (None, "none picked up"),
        (timedelta(seconds=59), "under a minute"),
        (timedelta(seconds=-5), "under a minute"),
        (timedelta(minutes=25, seconds=59), "25 min"),
        (timedelta(hours=1), "1 h"),
        (timedelta(hours=1, minutes=20), "1 h 20 min"),
        (timedelta(days=1), "1 d"),
        (timedelta(days=2, hours=3, minutes=59), "2 d 3 h"),
    ],
)
def test_a_wait_reads_as_people_say_it(span: timedelta | None, words: str) -> None:
    assert charts.duration(span) == words


@pytest.mark.parametrize(
    ("largest", "top", "step"),
    [(0, 1, 1), (1, 1, 1), (4, 4, 1), (7, 8, 2), (12, 15, 5), (23, 25, 5), (99, 100, 20), (1234, 1500, 500)],
)
def test_the_axis_ends_on_a_round_step(largest: int, top: int, step: int) -> None:
    assert charts.scale(largest) == (top, step)


def test_bars_stack_the_series_bottom_up_with_a_title_each() -> None:
    sales = Series("sales", "Sales", (2, 0, 1), position=1)
    billing = Series("billing", "Billing", (3, 0, 0), position=9)  # past the palette: it wraps
    chart = charts.stacked_bars("Items", DAYS, [sales, billing])
    assert [(s.title, s.colour) for s in chart.segments] == [
        ("Sales, Nov 2: 2 items", "series-1"),
        ("Billing, Nov 2: 3 items", "series-1"),
        ("Sales, Nov 4: 1 item", "series-1"),
    ]
    first, second, third = chart.segments
    assert first.y + first.height == chart.bottom  # sales sits on the axis
    assert second.y + second.height == pytest.approx(first.y)  # billing on top of it
    assert second.height == pytest.approx(first.height * 3 / 2)
    assert first.x == second.x < third.x
    assert [t.label for t in chart.y_ticks] == ["0", "1", "2", "3", "4", "5"]
    assert [t.label for t in chart.x_ticks] == ["Nov 4"]  # every seventh day, back from today
    assert [(e.label, e.total) for e in chart.legend] == [("Sales", 3), ("Billing", 3)]
    assert chart.description == "6 items from Nov 2 to Nov 4, the busiest day 5 items."


def test_the_wait_bars_are_as_long_as_the_median() -> None:
    rows = [
        PickUp("sales", "Sales", 0, timedelta(hours=2), 3, 0),
        PickUp("billing", "Billing", 1, timedelta(hours=1), 1, 2),
        PickUp("front-desk", "Front desk", 2, None, 0, 4),
    ]
    chart = charts.wait_bars("Waits", rows)
    (_, sales), (_, billing), (_, nothing) = chart.rows
    assert sales is not None and billing is not None and nothing is None
    assert billing.width == pytest.approx(sales.width / 2)
    assert sales.title == "Sales: median 2 h over 3 items picked up"


def test_the_axis_writes_its_numbers_as_the_rest_of_the_page() -> None:
    app = Flask(__name__)
    Babel(app)  # a page's numbers are written in its language: English here
    busy = Series("sales", "Sales", (1234, 0, 10), position=0)
    with app.test_request_context():
        chart = charts.stacked_bars("Items", DAYS, [busy])
    assert [t.label for t in chart.y_ticks] == ["0", "500", "1,000", "1,500"]
    assert chart.description == "1,244 items from Nov 2 to Nov 4, the busiest day 1,234 items."
