"""The dashboard page: items per day by department and by channel, and pick-up times."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, render_template
from flask_babel import gettext

from routing.queues import dashboard
from routing.store.models import utcnow
from web import charts
from web.access import visible_departments
from web.display import day_label
from web.labels import label
from web.storage import reading, storage

blueprint = Blueprint("dashboard", __name__)


@blueprint.get("/dashboard")
def show() -> str:
    settings = storage().settings
    with reading() as session:
        figures = dashboard.figures(session, settings.timezone, utcnow(), visible_departments())
    days = len(figures.days)
    # The channels' names are the page's words for them; departments are named by the office.
    by_channel = [replace(series, label=label(series.key)) for series in figures.by_channel]
    return render_template(
        "dashboard.html",
        office=settings.office_name,
        figures=replace(figures, by_channel=tuple(by_channel)),
        by_department=charts.stacked_bars(
            gettext("Items per day by department, last %(days)s days", days=days),
            figures.days,
            figures.by_department,
        ),
        by_channel=charts.stacked_bars(
            gettext("Items per day by channel, last %(days)s days", days=days),
            figures.days,
            by_channel,
            offset=charts.CHANNEL_OFFSET,
        ),
        waits=charts.wait_bars(gettext("Median time to pick up, by department"), figures.pick_up),
        duration=charts.duration,
        day_label=day_label,
        items=charts.items,
    )
