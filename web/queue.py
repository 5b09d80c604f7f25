"""The queue view for people: the front desk, a queue with its filters, an item.

Besides the pages, two small endpoints keep an open page current without a reload
(web/static/queue.js polls them): the rows that arrived in a queue since the page
was drawn, and one row redrawn after a person acted on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, make_response, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest, NotFound

from config.settings import PRIORITIES
from routing.contacts.reading import item_person
from routing.contacts.suggestions import desk_suggestions
from routing.message import CHANNELS
from routing.people import accounts
from routing.queues import reading as queues
from routing.queues.filters import FILTER_NAMES, SORTS, STATUS_VIEWS, Filters, row_id
from routing.queues.replies import reply_channels
from routing.queues.templates import filled_templates
from routing.store.models import Department, Item
from web import actions, forwards, health, item_view, replies
from web.access import check_department, person, visible_departments, visible_item
from web.phone import phone_facts
from web.storage import reading, storage

blueprint = Blueprint("queue", __name__)
T = TypeVar("T")

DECISIONS_SHOWN = 50
NEW_ROWS_AT_ONCE = 50  # more than this at once and the page asks for a reload instead
QUEUE_STATUS = "open"  # what a queue shows unless its status filter says otherwise

# The page's usual policy (web.app), with images from anywhere: for the one page view
# where a person asked to see an email's remote images.
REMOTE_IMAGES_POLICY = "default-src 'self'; img-src 'self' https: http:; frame-ancestors 'none'"


@blueprint.get("/")
def index() -> str:
    with reading() as session:
        return render_template(
            "index.html",
            office=storage().settings.office_name,
            mailboxes=health.mailboxes(),
            departments=queues.active_departments(session),
            **_desk(session),
        )


@blueprint.get("/live")
def front_desk_live() -> Response:
    """The front desk's counts and decisions list, for the open page to redraw itself."""
    with reading() as session:
        desk = _desk(session)
        counts = [
            {"department": c.department.id, "new": c.new, "claimed": c.claimed, "overdue": c.overdue}
            for c in desk["counts"]
        ]
        decisions = render_template("_decisions.html", decisions=desk["decisions"])
    return jsonify(counts=counts, decisions=desk["decisions"].waiting, decisions_html=decisions)


@blueprint.get("/departments/<department_id>")
def department(department_id: str) -> str:
    filters = _filters()
    with reading() as session:
        found = _department(session, department_id)
        after = _cursor(filters)
        page = _query(
            lambda: queues.list_items(
                session,
                limit=storage().settings.web.page_size,
                department_id=department_id,
                filters=filters,
                after=after,
                me=person().name,
            )
        )
        return render_template(
            "department.html",
            office=storage().settings.office_name,
            department=found,
            page=page,
            filters=filters,
            view=_view_args(),
            first_page=after is None,
            latest=queues.latest_item_id(session),
            choices=_choices(session),
        )


@blueprint.get("/departments/<department_id>/since")
def new_rows(department_id: str) -> Response:
    """The view's items after item `after`, newest first, as rows for the page's table."""
    after = row_id(request.args.get("after", ""))
    if after is None:
        raise BadRequest("after must be the id of the newest item the page has seen")
    filters = _filters()
    with reading() as session:
        _department(session, department_id)
        found = _query(
            lambda: queues.newer_items(
                session, department_id, after, filters, person().name, NEW_ROWS_AT_ONCE + 1
            )
        )
        rows = [_row(item) for item in found[:NEW_ROWS_AT_ONCE]]
        latest = max([after, *(item.id for item in found)])
    return jsonify(after=latest, rows=rows, more=len(found) > NEW_ROWS_AT_ONCE)


@blueprint.get("/departments/<department_id>/rows/<int:item_id>")
def row(department_id: str, item_id: int) -> Response:
    """One item's row as the view shows it now, or 204 when it has left the view."""
    filters = _filters()
    with reading() as session:
        _department(session, department_id)
        found = _query(lambda: queues.item_in_view(session, department_id, item_id, filters, person().name))
        if found is None:
            return Response(status=204)
        return Response(_row(found), mimetype="text/html")


@blueprint.get("/items/<int:item_id>")
def item(item_id: int) -> Response:
    # Remote images are fetched only when the person asks: they tell the sender the mail was read.
    remote_images = request.args.get("images") == "remote"
    with reading() as session:
        found = visible_item(session, item_id)
        names = {d.id: d.name for d in session.scalars(select(Department))}
        reply_channel, reply_refusal, reads_no_replies = reply_channels(session, found, replies.addresses())
        response = make_response(
            render_template(
                "item.html",
                office=storage().settings.office_name,
                item=found,
                phone=phone_facts(session, item_id),
                conversation=item_view.conversation(found, remote_images=remote_images),
                history=item_view.history(found.events, names),
                routing_trace=item_view.routing_trace(found.routing_hits),
                remote_images=remote_images,
                choices=actions.choices(session, found),
                reply_channel=reply_channel,
                reply_refusal=reply_refusal,
                reads_no_replies=reads_no_replies,
                templates=filled_templates(storage().settings, found),
                forwarding=forwards.forwarding(found),
                sender=item_person(session, found, visible_departments()),
            )
        )
    if remote_images:
        response.headers["Content-Security-Policy"] = REMOTE_IMAGES_POLICY
    return response


def _desk(session: Session) -> dict[str, Any]:
    visible = visible_departments()
    return {
        "counts": queues.department_counts(session, visible),
        "decisions": queues.needs_decision(session, visible, DECISIONS_SHOWN),
        "suggestions": desk_suggestions(session, visible, DECISIONS_SHOWN),
    }


def _department(session: Session, department_id: str) -> Department:
    check_department(department_id)
    found = queues.get_department(session, department_id)
    if found is None:
        raise NotFound(f"there is no department {department_id!r}")
    return found


def _filters() -> Filters:
    try:
        return Filters.parse(request.args, QUEUE_STATUS, storage().settings.languages)
    except queues.BadQuery as error:
        raise BadRequest(str(error)) from None


def _cursor(filters: Filters) -> queues.Cursor | None:
    text = request.args.get("cursor")
    try:
        return queues.Cursor.parse(text, filters.sort) if text else None
    except queues.BadQuery as error:
        raise BadRequest(str(error)) from None


def _query(run: Callable[[], T]) -> T:
    """Run a queue read; a filter it refuses (an unknown assignee) is the asker's 400."""
    try:
        return run()
    except queues.BadQuery as error:
        raise BadRequest(str(error)) from None


def _view_args() -> dict[str, str]:
    """The filters as the query string gave them, for links that keep the view."""
    return {name: request.args[name] for name in FILTER_NAMES if request.args.get(name)}


def _choices(session: Session) -> dict[str, Any]:
    """What the filter bar and the bulk bar offer."""
    return {
        "statuses": STATUS_VIEWS,
        "channels": CHANNELS,
        "priorities": PRIORITIES,
        "sorts": SORTS,
        "users": [user.name for user in accounts.list_users(session) if user.active],
        "departments": queues.active_departments(session),
    }


def _row(found: Item) -> str:
    return render_template("_row.html", item=found)
