"""The JSON API, /api/v1: items and queues for scripts and other tools.

Errors are JSON too: {"error": {"status": 400, "message": "..."}}.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest, HTTPException, NotFound

from routing import queues
from routing.models import Item
from web.access import person, visible_departments, visible_item
from web.phone import phone_json
from web.storage import reading, storage

blueprint = Blueprint("api", __name__)

MAX_LIMIT = 500


def item_json(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "channel": item.channel,
        "department": item.department_id,
        "status": item.status,
        "sender": item.sender,
        "subject": item.subject,
        "received_at": item.received_at.isoformat(),
        "routing_reason": item.routing_reason,
        "machine_kind": item.machine_kind,
        "priority": item.priority,
        "tags": list(item.tags),
        "spam": item.spam,
        "suggestion": (
            {"department": item.suggested_department_id, "confidence": item.suggestion_confidence}
            if item.suggested_department_id
            else None
        ),
        **phone_json(item),
    }


@blueprint.get("/items")
def list_items() -> Response:
    args = request.args
    limit = _limit(args.get("limit"))
    department = args.get("department") or None
    status = args.get("status") or None
    try:
        after = queues.Cursor.parse(args["cursor"]) if args.get("cursor") else None
        with reading() as session:
            if department is not None:
                _check_department(session, department)
            page = queues.list_items(
                session,
                limit=limit,
                department_id=department,
                status=status,
                after=after,
                departments=visible_departments(),
            )
            items = [item_json(item) for item in page.items]
    except queues.BadQuery as error:
        raise BadRequest(str(error)) from None
    next_url = None
    if page.next is not None:
        filters = {k: v for k, v in {"department": department, "status": status}.items() if v}
        next_url = url_for(".list_items", _external=True, limit=limit, cursor=str(page.next), **filters)
    return jsonify(items=items, next=next_url)


@blueprint.get("/items/<int:item_id>")
def get_item(item_id: int) -> Response:
    with reading() as session:
        return jsonify(item_json(visible_item(session, item_id)))


def _check_department(session: Session, department_id: str) -> None:
    """A department this person may not see is as unknown as one that does not exist."""
    if not person().may_see(department_id) or queues.get_department(session, department_id) is None:
        raise NotFound(f"there is no department {department_id!r}")


def _limit(text: str | None) -> int:
    if text is None:
        return storage().settings.web.page_size
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


@blueprint.errorhandler(HTTPException)
def json_error(error: HTTPException) -> tuple[Response, int]:
    status = error.code or 500
    return jsonify(error={"status": status, "message": error.description}), status
