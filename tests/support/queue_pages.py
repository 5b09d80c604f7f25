"""Reading the queue pages in tests: their rows and cells, as a person sees them.

A small parser over the HTML (the standard library's), so that tests assert on what
rows a page shows and what their cells say, not on the template's whitespace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.store.database import transaction
from routing.store.models import Item, User
from tests.support.mail import email_bytes

START = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


@dataclass
class Row:
    """One table row: its attributes and the text of each cell, by the cell's class."""

    attrs: dict[str, str]
    cells: dict[str, str] = field(default_factory=dict)


class _Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Row] = []
        self.cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "tr":
            self.rows.append(Row(found))
        elif tag == "td" and self.rows:
            classes = found.get("class", "").split() or [str(len(self.rows[-1].cells))]
            # A count cell is known by its count-... class, any other by its first.
            self.cell = next((c for c in classes if c.startswith("count-")), classes[0])
            self.rows[-1].cells[self.cell] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None and self.rows:
            cells = self.rows[-1].cells
            cells[self.cell] = " ".join(f"{cells[self.cell]} {data}".split())


def rows(html: str, kind: str = "item-row") -> list[Row]:
    """The page's rows whose class includes `kind`, in page order."""
    parser = _Rows()
    parser.feed(html)
    return [row for row in parser.rows if kind in row.attrs.get("class", "").split()]


def item_ids(html: str, kind: str = "item-row") -> list[int]:
    return [int(row.attrs["data-item-id"]) for row in rows(html, kind)]


def counts(html: str) -> dict[str, tuple[int, int, int]]:
    """The front desk's (new, claimed, overdue) per department id."""
    return {
        row.attrs["data-department"]: tuple(
            int(row.cells[f"count-{name}"]) for name in ("new", "claimed", "overdue")
        )  # type: ignore[misc]
        for row in rows(html, "queue-row")
    }


def add_item(
    runtime: Runtime,
    number: int,
    *,
    to: str = "sales@office.test",
    subject: str = "",
    sender: str = "Ann Example <ann@client.example>",
    body: str = "Hello,\r\nwhat does the large one cost?\r\n",
    **columns: object,
) -> int:
    """Deliver an email `number` minutes after START, then set `columns` on its item as
    triage would have (status, priority, tags, due_at, channel, assignee by name...)."""
    raw = email_bytes(
        to=to,
        subject=subject or f"Message {number}",
        sender=sender,
        body=body,
        message_id=f"<m{number}@client.example>",
    )
    item_id = runtime.deliverer.deliver(
        parse_email(raw, received_at=START + timedelta(minutes=number))
    ).item_id
    if columns:
        with transaction(runtime.sessions) as session:
            item = session.get_one(Item, item_id)
            assignee = columns.pop("assignee", None)
            if assignee is not None:
                item.assignee_id = session.query(User.id).filter(User.name == assignee).scalar()
            if "received_at" in columns:  # an arrival moved is when the item came into its queue
                columns.setdefault("queued_at", columns["received_at"])
            for name, value in columns.items():
                setattr(item, name, value)
    return item_id
