"""Filling a fresh database with a realistic office's worth of items, fast, for bench/queue_pages.py.

Two years of mail, texts, voicemails and WhatsApp messages, skewed towards the front
desk and support, about 95% resolved, the open ones mostly recent. Each item needs its
raw bytes (a Blob); a bench shares one blob per channel instead of storing a million.
Rows go in with plain batched INSERTs (SQLite, synchronous=OFF while filling) or COPY
(PostgreSQL), not through deliver(): the bench reads queues, it does not measure storing.
Each item's search terms are made by routing.store.search_index, as deliver() makes them,
and go in with the same batch; on PostgreSQL the GIN index is built once at the end.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Engine, insert
from sqlalchemy.orm import Session, sessionmaker

from routing.normalize import Normalizer
from routing.people import accounts
from routing.store import search_index
from routing.store.database import transaction
from routing.store.models import Blob, Contact, ContactAddress, Item

BATCH = 20_000
YEARS = 2
_VOCABULARY = (
    "please could you look at the attached invoice and let me know about delivery price order "
    "booking appointment refund payment broken repair warranty quote discount catalogue visit "
    "tomorrow morning afternoon week monday friday thanks regards kind customer account number "
    "reference parcel missing damaged replacement urgent soon call back when possible still waiting"
)
WORDS = _VOCABULARY.split()
CHANNELS = (("email", 60), ("sms", 20), ("voicemail", 10), ("whatsapp", 10))
PRIORITIES = (("normal", 80), ("high", 12), ("low", 5), ("urgent", 3))
TAGS = ("vip", "complaint", "follow-up", "new-customer", "callback", "invoice-query")
# The front desk and support take most of an office's traffic.
BIG_QUEUES = {"front-desk": 35, "support": 30}
STAFF = 8


def weighted(pairs: Sequence[tuple[str, int]]) -> tuple[list[str], list[int]]:
    return [name for name, _ in pairs], [weight for _, weight in pairs]


class ItemMaker:
    """Rows for the items table, oldest first, so that ids grow with received_at as in life."""

    def __init__(
        self, departments: Sequence[str], blobs: dict[str, int], staff: Sequence[int], contacts: int = 0
    ) -> None:
        self.rng = random.Random(1)
        # Its own generator, so that the other columns are the same with contacts or without.
        self.contact_rng = random.Random(2)
        self.contacts = contacts
        self.departments = weighted([(d, BIG_QUEUES.get(d, 15)) for d in departments])
        self.channels = weighted(CHANNELS)
        self.priorities = weighted(PRIORITIES)
        self.blobs = blobs
        self.staff = list(staff)
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.start = self.now - timedelta(days=365 * YEARS)

    def times(self, count: int) -> list[datetime]:
        span = (self.now - self.start).total_seconds()
        offsets = sorted(self.rng.random() * span for _ in range(count))
        return [self.start + timedelta(seconds=offset) for offset in offsets]

    def rows(self, count: int) -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        for number, received_at in enumerate(self.times(count), start=1):
            batch.append(self.row(number, received_at))
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def row(self, number: int, received_at: datetime) -> dict[str, Any]:
        rng = self.rng
        channel = rng.choices(*self.channels)[0]
        department = rng.choices(*self.departments)[0]
        status = self.status(received_at)
        sender = self.sender(channel, rng.randrange(20_000))
        assignee = rng.choice(self.staff) if status == "claimed" or rng.random() < 0.5 else None
        claimed_at = received_at + timedelta(minutes=rng.randrange(5, 600)) if status != "new" else None
        return {
            "id": number,
            "idempotency_key": f"bench:{number}",
            "channel": channel,
            "sender": sender,
            "sender_name": f"Customer {sender[-4:]}" if channel == "email" else None,
            "subject": " ".join(rng.choices(WORDS, k=rng.randrange(3, 9))) if channel == "email" else "",
            "text": " ".join(rng.choices(WORDS, k=rng.randrange(30, 70))),
            "html": None,
            "message_id": f"<{number}@mail.bench.example>" if channel == "email" else None,
            "in_reply_to": None,
            "references": [],
            "parse_defects": [],
            "machine_kind": "auto-reply" if channel == "email" and rng.random() < 0.02 else None,
            "received_at": received_at,
            "queued_at": received_at,
            "created_at": received_at,
            "raw_blob_id": self.blobs[channel],
            "raw_content_type": "message/rfc822"
            if channel == "email"
            else "application/x-www-form-urlencoded",
            "department_id": department,
            "status": status,
            "recipients": [f"{department}@office.example"],
            "routing_reason": f"addressed to {department}@office.example",
            "routing_hits": [],
            "other_departments": [],
            "priority": rng.choices(*self.priorities)[0],
            "tags": rng.sample(TAGS, rng.choice((0, 0, 0, 1, 2))),
            "spam": rng.random() < 0.01,
            "suggested_department_id": None,
            "suggestion_confidence": None,
            "decision_needed": "no rule routed it" if status == "new" and rng.random() < 0.05 else None,
            "assignee_id": assignee,
            "due_at": received_at + timedelta(days=rng.randrange(1, 6)) if rng.random() < 0.1 else None,
            "claimed_at": claimed_at,
            "resolved_at": claimed_at + timedelta(hours=rng.randrange(1, 72))
            if status == "resolved" and claimed_at
            else None,
            "contact_id": self.contact_rng.randrange(1, self.contacts + 1) if self.contacts else None,
            "merged_into_id": None,
        }

    def status(self, received_at: datetime) -> str:
        """Recent items are mostly open; a few old ones were never closed."""
        recent = self.now - received_at < timedelta(days=14)
        if self.rng.random() < (0.85 if recent else 0.03):
            return "new" if self.rng.random() < 0.7 else "claimed"
        return "resolved"

    @staticmethod
    def sender(channel: str, number: int) -> str:
        if channel == "email":
            return f"customer{number}@client{number % 900}.example"
        phone = f"+44770{number:07d}"
        return f"whatsapp:{phone}" if channel == "whatsapp" else phone


def add_blobs(sessions: sessionmaker[Session]) -> dict[str, int]:
    """One raw blob per channel, shared by every item of that channel."""
    with transaction(sessions) as session:
        blobs = {}
        for channel, _ in CHANNELS:
            content = f"shared raw {channel} bytes for the queue bench".encode()
            blob = Blob(sha256="0" * 64, size=len(content), content=content)
            session.add(blob)
            session.flush()
            blobs[channel] = blob.id
        return blobs


def add_staff(sessions: sessionmaker[Session], departments: Sequence[str]) -> list[int]:
    with transaction(sessions) as session:
        return [
            accounts.add_user(
                session, f"staff{n}", "staff", "a bench password", [departments[n % len(departments)]]
            ).id
            for n in range(STAFF)
        ]


def add_contacts(engine: Engine, count: int) -> None:
    """`count` contacts with one number each, ids 1 to `count` (a fresh database's)."""
    with engine.begin() as connection:
        for start in range(1, count + 1, BATCH):
            numbers = range(start, min(start + BATCH, count + 1))
            connection.execute(
                insert(Contact.__table__),
                [{"name": f"Customer {n}", "created_at": datetime.now(UTC)} for n in numbers],
            )
            connection.execute(
                insert(ContactAddress.__table__),
                [
                    {
                        "contact_id": n,
                        "kind": "phone",
                        "value": f"+44771{n:07d}",
                        "created_at": datetime.now(UTC),
                    }
                    for n in numbers
                ],
            )


def fill(
    engine: Engine,
    sessions: sessionmaker[Session],
    departments: Sequence[str],
    count: int,
    normalizer: Normalizer,
    contacts: int = 0,
) -> None:
    """Insert `count` items and their search terms (each item of one of `contacts` people,
    when given); the schema and the departments must be there already."""
    add_contacts(engine, contacts)
    maker = ItemMaker(departments, add_blobs(sessions), add_staff(sessions, departments), contacts)
    batches = (_with_terms(batch, normalizer) for batch in maker.rows(count))
    if engine.dialect.name == "postgresql":
        _copy_postgresql(engine, batches)
    else:
        _insert_sqlite(engine, batches)


Batch = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def _with_terms(items: list[dict[str, Any]], normalizer: Normalizer) -> Batch:
    terms = [
        {
            "item_id": item["id"],
            "terms": search_index.terms(
                normalizer, item["sender"], item["sender_name"], item["subject"], item["text"]
            ),
        }
        for item in items
    ]
    return items, terms


def _insert_sqlite(engine: Engine, batches: Iterator[Batch]) -> None:
    with engine.connect() as connection:
        # Outside a transaction, where SQLite allows it: a crash mid-fill loses only the bench.
        pragma = connection.connection.driver_connection.execute  # type: ignore[union-attr]
        pragma("PRAGMA synchronous=OFF")
        pragma("PRAGMA cache_size=-262144")  # 256 MB: the indexes' pages stay in memory while they grow
        for items, terms in batches:
            with connection.begin():
                connection.execute(insert(Item.__table__), items)
                search_index.write(connection, terms)
        pragma("PRAGMA synchronous=NORMAL")


def _copy_postgresql(engine: Engine, batches: Iterator[Batch]) -> None:
    columns = [c.name for c in Item.__table__.columns]
    json_columns = {c.name for c in Item.__table__.columns if isinstance(c.type, JSON)}
    quoted = ", ".join(f'"{c}"' for c in columns)  # "references" is a reserved word
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        # Built once over every row at the end: far cheaper than growing it row by row.
        cursor.execute(f"DROP INDEX {search_index.TERMS_INDEX}")
        cursor.execute("CREATE TEMPORARY TABLE terms_load (item_id INTEGER, terms TEXT)")
        for items, terms in batches:
            with cursor.copy(f"COPY items ({quoted}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in items:
                    copy.write_row([_copied(row.get(c), c in json_columns) for c in columns])
            with cursor.copy("COPY terms_load (item_id, terms) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in terms:
                    copy.write_row([row["item_id"], row["terms"]])
            cursor.execute(
                f"INSERT INTO {search_index.TABLE} (item_id, terms)"
                " SELECT item_id, to_tsvector('simple', terms) FROM terms_load"
            )
            cursor.execute("TRUNCATE terms_load")
            raw.commit()
        cursor.execute("SELECT setval(pg_get_serial_sequence('items', 'id'), (SELECT max(id) FROM items))")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(search_index.TERMS_INDEX_DDL)
        raw.commit()
    finally:
        raw.close()


def _copied(value: Any, json_column: bool) -> Any:
    """A column's value for COPY: JSON as text; a column the filler leaves out is NULL."""
    return json.dumps(value) if json_column and value is not None else value
