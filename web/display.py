"""How times, numbers and items read on screen: ages, dates, due times, a line to stand for an item.

Text from outside (a sender's name, a subject, a file name) goes through `outside`, or
`one_line` and `unhidden` where no markup may go (an attribute, the page's title, a
message's text): see routing.shown_text.unhidden for what they write out, and why.

Registered on the app as Jinja filters and tests. Dates and ages are Babel's, in the
page's language and the office's time zone; web/static/live.js refreshes ages with the
browser's own CLDR data (Intl.RelativeTimeFormat), so a page left open stays right.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from babel.dates import format_skeleton, format_timedelta, get_datetime_format
from flask import Flask
from flask_babel import format_number, format_percent, get_timezone, gettext
from markupsafe import Markup

from routing.queues.filters import OPEN_STATUSES
from routing.shown_text import one_line, unhidden
from routing.store.models import ArrivedMessage, Item, utcnow
from web.i18n import page_locale

FIRST_LINE = 120  # characters of an item's subject, or of its text when it has none, in a list
# Characters of a sender's name and of their address in a list.
NAME_IN_LIST = 60
ADDRESS_IN_LIST = 80
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


def headline(item: Item) -> Markup:
    """The subject, or for an item without one the first line of its text, as `outside` shows it."""
    line = item.subject.strip() or next((line for line in item.text.splitlines() if line.strip()), "")
    return outside(line, FIRST_LINE) if line.strip() else Markup.escape(gettext("(no subject)"))


def outside(text: str | None, limit: int | None = None, strict: bool = False) -> Markup:
    """A field from outside on one line, its hidden characters written out (`strict` for an
    address, a number or a file name), cut to `limit`; and in <bdi>, so that a right-to-left
    name keeps to itself rather than moving the address or the punctuation after it."""
    return Markup("<bdi>%s</bdi>") % one_line(text or "", limit, strict)


def sender(message: ArrivedMessage) -> Markup:
    """Who a message is from, in a list: the name it gives, then the address or number it
    came from, so that a name such as "Front desk" or "Intake <alerts@office>" cannot pass
    for someone it is not."""
    if not message.sender:
        name = message.sender_name
        return outside(name, NAME_IN_LIST) if name else Markup.escape(gettext("(unknown sender)"))
    address = outside(message.sender, ADDRESS_IN_LIST, strict=True)
    if not message.sender_name or message.sender_name.strip() == message.sender:
        return address
    return Markup('%s <span class="address">%s</span>') % (
        outside(message.sender_name, NAME_IN_LIST),
        address,
    )


def is_overdue(item: Item, now: datetime | None = None) -> bool:
    return item.status in OPEN_STATUSES and item.due_at is not None and item.due_at < (now or utcnow())


def init_app(app: Flask) -> None:
    app.add_template_filter(age, "age")
    app.add_template_filter(headline, "headline")
    app.add_template_filter(outside, "outside")
    app.add_template_filter(sender, "sender")
    app.add_template_filter(one_line, "one_line")
    app.add_template_filter(unhidden, "unhidden")
    app.jinja_env.globals["FIRST_LINE"] = FIRST_LINE
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(short_time, "short_time")
    app.add_template_filter(number, "number")
    app.add_template_filter(percent, "percent")
    app.add_template_test(is_overdue, "overdue")
