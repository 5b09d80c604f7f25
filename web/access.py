"""Who may see what: staff see their departments' items only, everyone else every queue.

What a person may not see answers 404, exactly as what does not exist, so that
nobody learns of another department's items by trying numbers.
"""

from __future__ import annotations

from flask import g
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from routing.people.accounts import Person
from routing.queues import reading
from routing.store.models import Item


def person() -> Person:
    """The person behind this request, set by the guard in web.auth."""
    found: Person = g.person
    return found


def visible_departments() -> frozenset[str] | None:
    """The departments this person may see, or None for every queue."""
    viewer = person()
    return None if viewer.sees_every_queue else viewer.departments


def check_department(department_id: str) -> None:
    if not person().may_see(department_id):
        raise NotFound()


def visible_item(session: Session, item_id: int) -> Item:
    item = reading.get_item(session, item_id)
    if item is None or not person().may_see(item.department_id):
        raise NotFound(f"there is no item {item_id}")
    return item


def local_path(target: str, default: str) -> str:
    """`target` if it is a path on this site, else `default`: no redirect leads elsewhere."""
    # Browsers drop tabs and newlines anywhere in a URL and read "\\" as "/", so that
    # "/<tab>/evil.example" leaves the site: a target with any of them is refused.
    if not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return default
    return target
