"""How times, numbers and items read on screen: ages, dates, due times, a line to stand for an item.

Registered on the app as Jinja filters and tests. Dates and ages are Babel's, in the
page's language and the office's time zone; web/static/live.js refreshes ages with the
browser's own CLDR data (Intl.RelativeTimeFormat), so a page left open stays right.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from babel.dates import format_skeleton, format_timedelta, get_datetime_format
from flask import Flask
from flask_babel import format_number, format_percent, get_timezone, gettext

from routing.queues.filters import OPEN_STATUSES
from routing.store.models import Item, utcnow
from web.i18n import page_locale

FIRST_LINE = 120  # characters of the text shown for an item without a subject
# Skeletons, not patterns: each language orders and spells the parts its own way.
LONG_DATE = "yMMMEd"  # "Fri, Dec 4, 2026"; "vin., 4 dec. 2026"
SHORT_DATE = "MMMEd"  # the same without the year
DAY = "MMMd"  # "Dec 4"; "4 dec."
CLOCK = "Hm"  # the office's 24-hour clock, in every language


def age(moment: datetime, now: datetime | None = None) -> str:
    """How long ago, coarsely and in the page's language: "now", "5 min ago", "3 hr ago"."""
    elapsed = max((now or utcnow()) - moment, timedelta(0))
    if elapsed < timedelta(minutes=1):
        return str(gettext("now"))
    # Whole minutes, and a threshold of 1, keep "59 min" rather than rounding it up to an hour.
    minutes = timedelta(minutes=elapsed // timedelta(minutes=1))
    shown: str = format_timedelta(
        -minutes, granularity="minute", threshold=1, add_direction=True, format="short", locale=page_locale()
    )
    return shown


def local_time(moment: datetime, date_skeleton: str = LONG_DATE) -> str:
    """A moment in the office's time zone, as the page's language writes a date and a time."""
    locale, zone = page_locale(), get_timezone()
    day = format_skeleton(date_skeleton, moment, tzinfo=zone, locale=locale)
    clock = format_skeleton(CLOCK, moment, tzinfo=zone, locale=locale)
    joined: str = str(get_datetime_format("medium", locale=locale)).replace("{1}", day).replace("{0}", clock)
    return joined


def short_time(moment: datetime) -> str:
    return local_time(moment, SHORT_DATE)


def day_label(day: date) -> str:
    """A day of the year, as "4 Dec"; a date has no time zone to convert."""
    return format_skeleton(DAY, day, locale=page_locale())


def number(value: int) -> str:
    shown: str = format_number(value)
    return shown


def percent(share: float) -> str:
    """A share of one as a whole percentage: 0.83 reads "83%" ("83 %" in some languages)."""
    shown: str = format_percent(share)
    return shown


def headline(item: Item) -> str:
    """The subject, or for an item without one the first line of its text."""
    if item.subject.strip():
        return item.subject
    line = next((line.strip() for line in item.text.splitlines() if line.strip()), "")
    return (line[:FIRST_LINE] + "…" if len(line) > FIRST_LINE else line) or gettext("(no subject)")


def is_overdue(item: Item, now: datetime | None = None) -> bool:
    return item.status in OPEN_STATUSES and item.due_at is not None and item.due_at < (now or utcnow())


def init_app(app: Flask) -> None:
    app.add_template_filter(age, "age")
    app.add_template_filter(headline, "headline")
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(short_time, "short_time")
    app.add_template_filter(number, "number")
    app.add_template_filter(percent, "percent")
    app.add_template_test(is_overdue, "overdue")
