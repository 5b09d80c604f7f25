"""The dashboard page: items per day by department and by channel, and pick-up times."""

from __future__ import annotations

from flask import Blueprint, render_template

from routing.queues import dashboard
from routing.store.models import utcnow
from web import charts
from web.access import visible_departments
from web.storage import reading, storage

blueprint = Blueprint("dashboard", __name__)


@blueprint.get("/dashboard")
def show() -> str:
    settings = storage().settings
    with reading() as session:
        figures = dashboard.figures(session, settings.timezone, utcnow(), visible_departments())
    days = len(figures.days)
    return render_template(
        "dashboard.html",
        office=settings.office_name,
        figures=figures,
        by_department=charts.stacked_bars(
            f"Items per day by department, last {days} days", figures.days, figures.by_department
        ),
        by_channel=charts.stacked_bars(
            f"Items per day by channel, last {days} days",
            figures.days,
            figures.by_channel,
            offset=charts.CHANNEL_OFFSET,
        ),
        waits=charts.wait_bars("Median time to pick up, by department", figures.pick_up),
        duration=charts.duration,
        day_label=charts.day_label,
    )
