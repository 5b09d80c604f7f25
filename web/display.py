"""How times and items read on screen: ages, due times, a line to stand for an item.

Registered on the app as Jinja filters and tests; web/static/queue.js refreshes ages
with the same rules, so a page left open stays right.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask

from config.holder import SettingsHolder
from routing.queues.filters import OPEN_STATUSES
from routing.store.models import Item, utcnow

FIRST_LINE = 120  # characters of the text shown for an item without a subject


def age(moment: datetime, now: datetime | None = None) -> str:
    """How long ago, coarsely: "now", "5 min", "3 h", "2 d"."""
    elapsed = max((now or utcnow()) - moment, timedelta(0))
    if elapsed < timedelta(minutes=1):
        return "now"
    if elapsed < timedelta(hours=1):
        return f"{elapsed // timedelta(minutes=1)} min"
    if elapsed < timedelta(days=1):
        return f"{elapsed // timedelta(hours=1)} h"
    return f"{elapsed.days} d"


def headline(item: Item) -> str:
    """The subject, or for an item without one the first line of its text."""
    if item.subject.strip():
        return item.subject
    line = next((line.strip() for line in item.text.splitlines() if line.strip()), "")
    return (line[:FIRST_LINE] + "…" if len(line) > FIRST_LINE else line) or "(no subject)"


def is_overdue(item: Item, now: datetime | None = None) -> bool:
    return item.status in OPEN_STATUSES and item.due_at is not None and item.due_at < (now or utcnow())


def init_app(app: Flask, settings: SettingsHolder) -> None:
    def short_time(moment: datetime) -> str:
        return moment.astimezone(settings.current.timezone).strftime("%a %d %b, %H:%M")

    app.add_template_filter(age, "age")
    app.add_template_filter(headline, "headline")
    app.add_template_filter(short_time, "short_time")
    app.add_template_test(is_overdue, "overdue")
