"""The queue view for people: departments with their counts, a queue, an item."""

from __future__ import annotations

from flask import Blueprint, Response, make_response, render_template, request
from sqlalchemy import select
from werkzeug.exceptions import BadRequest, NotFound

from routing import queues
from routing.models import Department
from web import actions, health, item_view
from web.access import check_department, visible_departments, visible_item
from web.phone import phone_facts
from web.storage import reading, storage

blueprint = Blueprint("queue", __name__)

# The page's usual policy (web.app), with images from anywhere: for the one page view
# where a person asked to see an email's remote images.
REMOTE_IMAGES_POLICY = "default-src 'self'; img-src 'self' https: http:; frame-ancestors 'none'"


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
def item(item_id: int) -> Response:
    # Remote images are fetched only when the person asks: they tell the sender the mail was read.
    remote_images = request.args.get("images") == "remote"
    with reading() as session:
        found = visible_item(session, item_id)
        names = {d.id: d.name for d in session.scalars(select(Department))}
        response = make_response(
            render_template(
                "item.html",
                office=storage().settings.office_name,
                item=found,
                phone=phone_facts(session, item_id),
                conversation=item_view.conversation(found, remote_images=remote_images),
                history=item_view.history(found.events, names),
                remote_images=remote_images,
                choices=actions.choices(session, found),
            )
        )
    if remote_images:
        response.headers["Content-Security-Policy"] = REMOTE_IMAGES_POLICY
    return response
