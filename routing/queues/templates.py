"""A department's canned answers (templates) with an item's fields filled in."""

from __future__ import annotations

from config.settings import Settings
from routing.store.models import Item


def filled_templates(settings: Settings, item: Item) -> list[tuple[str, str]]:
    """(name, text) of each template of the item's department, filled in for the item."""
    try:
        department = settings.department(item.department_id)
    except KeyError:  # a department removed from the config keeps its items, not its templates
        return []
    fields = {
        "name": item.sender_name or item.sender,
        "id": str(item.id),
        "subject": item.subject,
        "department": department.name,
    }
    return [(template.name, template.filled(fields)) for template in department.templates]
