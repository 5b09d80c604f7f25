"""The queue view for people: departments with their counts, a queue, an item."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from werkzeug.exceptions import BadRequest, NotFound

from routing import queues
from web import actions, health
from web.access import check_department, visible_departments, visible_item
from web.phone import phone_facts
from web.storage import reading, storage

blueprint = Blueprint("queue", __name__)


@blueprint.get("/")
def index() -> str:
    with reading() as session:
        visible = visible_departments()
        counts = [
            c for c in queues.department_counts(session) if visible is None or c.department.id in visible
        ]
        return render_template(
            "index.html", office=storage().settings.office_name, counts=counts, mailboxes=health.mailboxes()
        )


@blueprint.get("/departments/<department_id>")
def department(department_id: str) -> str:
    try:
        after = queues.Cursor.parse(request.args["cursor"]) if request.args.get("cursor") else None
    except queues.BadQuery as error:
        raise BadRequest(str(error)) from None
    check_department(department_id)
    with reading() as session:
        found = queues.get_department(session, department_id)
        if found is None:
            raise NotFound()
        page = queues.list_items(
            session, limit=storage().settings.web.page_size, department_id=department_id, after=after
        )
        return render_template(
            "department.html", office=storage().settings.office_name, department=found, page=page
        )


@blueprint.get("/items/<int:item_id>")
def item(item_id: int) -> str:
    with reading() as session:
        found = visible_item(session, item_id)
        return render_template(
            "item.html",
            office=storage().settings.office_name,
            item=found,
            phone=phone_facts(session, item_id),
            choices=actions.choices(session, found),
        )
