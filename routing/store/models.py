"""The stored shape of the queues: departments, items, raw blobs, attachments, audit.

Models import nothing from the web or the adapters: the SMTP, IMAP and web processes
all share them. Times are stored in UTC and always come back timezone-aware.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; attach a zone first")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# The largest id a row can have: ids are INTEGER columns, 32 bits on PostgreSQL. A
# larger number in a URL, a form or a command names no row, and the database (or
# SQLite's driver, past 64 bits) would refuse it.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


def _arrival(context: DefaultExecutionContext) -> datetime:
    """An item comes into its queue when it arrives."""
    arrived: datetime = context.get_current_parameters()["received_at"]  # type: ignore[no-untyped-call]
    return arrived


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class Department(Base):
    """A queue. Its rows mirror the office config; a department removed from the
    config stays here, inactive, so that its old items keep their place."""

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)  # the order the config lists them in


class DeliveryKey(Base):
    """Every natural key delivered, items' and follow-ups' alike, in one unique column.

    Two copies of one message delivered at once both wait on this row, so one cannot
    become an item while the other becomes a follow-up of another item.
    """

    __tablename__ = "delivery_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)


class InboxEntry(Base):
    """A message accepted and not yet made an item (routing.store.inbox): its raw bytes and
    envelope, committed before the sender was answered. A worker claims it for a lease
    (`attempts` counts the claims, so a late worker knows it lost its claim) and deletes it
    in the transaction that stores its item."""

    __tablename__ = "inbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    sender: Mapped[str | None] = mapped_column(Text)  # the envelope's, as the door took it
    recipients: Mapped[list[Any]]
    received_at: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None] = mapped_column(index=True)
    # Last, so that SQLite can write a big message into its row in place (migration 0026).
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class Blob(Base):
    """Bytes kept exactly as they arrived: a raw email, a webhook form, a file."""

    __tablename__ = "blobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)


class ArrivedMessage:
    """The columns of one message as it arrived, the same for an item's first message
    and for each of its follow-ups."""

    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    sender: Mapped[str] = mapped_column(String(320))
    sender_name: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(Text)
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[list[Any]]
    parse_defects: Mapped[list[Any]]
    machine_kind: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    raw_blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"), index=True)
    raw_content_type: Mapped[str] = mapped_column(String(100))


class Item(ArrivedMessage, Base):
    """One thing that reached the office and waits in a department's queue."""

    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_queue", "department_id", "status", "queued_at", "id"),
        # A queue's page of every status, newest first. Without it SQLite, which keeps no
        # statistics unless ANALYZE runs, sorts the whole queue for each page.
        Index("ix_items_department_order", "department_id", "queued_at", "id"),
        # Every queue's items at once (the API's list), newest first.
        Index("ix_items_queued", "queued_at", "id"),
        # What arrived in a stretch of time (the dashboard's figures, a rule's hits).
        Index("ix_items_received", "received_at", "id"),
        # A text looks for the open item of its sender's number (routing.conversation).
        Index("ix_items_sender", "sender", "received_at"),
        # Replies find their item by Message-ID. A hash index on PostgreSQL: a B-tree
        # entry has a size limit, and a Message-ID has none.
        Index("ix_items_message_id", "message_id", postgresql_using="hash"),
        # The front desk counts open items per queue, and overdue ones, without a scan.
        Index("ix_items_open", "status", "department_id", "due_at"),
        Index("ix_items_assignee", "assignee_id", "status"),
        # A contact's page and the same-request check read a person's items; the check,
        # at every new item, those on the other channels only.
        Index("ix_items_contact_channel", "contact_id", "channel", "received_at"),
        # The retention job finds resolved items by when they were resolved.
        Index("ix_items_resolved", "status", "resolved_at"),
        Index(
            "ix_items_decision",
            "received_at",
            sqlite_where=sql_text("decision_needed IS NOT NULL"),
            postgresql_where=sql_text("decision_needed IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # When the item last came into its queue: its arrival, or the moment a reply or a
    # person reopened it. Queues list newest first by it, so that a reopened item is seen.
    queued_at: Mapped[datetime] = mapped_column(default=_arrival)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"))  # indexed by ix_items_queue
    status: Mapped[str] = mapped_column(String(16), default="new")
    recipients: Mapped[list[Any]]
    routing_reason: Mapped[str] = mapped_column(Text)
    routing_hits: Mapped[list[Any]]
    other_departments: Mapped[list[Any]]
    priority: Mapped[str] = mapped_column(String(16), default="normal", server_default="normal")
    tags: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    spam: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The learned suggestion when no rule routed the item, shown for a one-click confirm.
    suggested_department_id: Mapped[str | None] = mapped_column(String(64))
    suggestion_confidence: Mapped[float | None] = mapped_column(Float)
    # Why a person must decide where this item belongs (a weak suggestion, nothing
    # routed it, machine mail no rule knew); cleared by the first thing a person does.
    decision_needed: Mapped[str | None] = mapped_column(Text)
    # What a correction of this item teaches the learned suggestion: the terms of its new
    # words and its sender, as routed (routing.lessons.Lesson); None on items older than it.
    routing_lesson: Mapped[dict[str, Any] | None]
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # indexed by ix_items_assignee
    due_at: Mapped[datetime | None]  # when the sender wants an answer or a callback
    claimed_at: Mapped[datetime | None]  # first picked up, for the time-to-pick-up figures
    resolved_at: Mapped[datetime | None]
    # Who sent it, whatever address or number they used (routing.contacts); None when
    # the sender is neither (an anonymous caller, a name taken by hand). These two columns
    # carry no database reference: SQLite adds and drops such a column in place, where a
    # reference would copy every item; routing.contacts keeps them pointing at real rows.
    contact_id: Mapped[int | None] = mapped_column()  # ix_items_contact_channel
    # Set while the item is merged into another as the same request; its status is then "merged".
    merged_into_id: Mapped[int | None] = mapped_column(index=True)

    department: Mapped[Department] = relationship()
    contact: Mapped[Contact | None] = relationship(primaryjoin="foreign(Item.contact_id) == Contact.id")
    # The items merged into this one as the same request, shown in its conversation.
    merged_items: Mapped[list[Item]] = relationship(
        primaryjoin="Item.id == foreign(Item.merged_into_id)", order_by="Item.received_at", viewonly=True
    )
    assignee: Mapped[User | None] = relationship()
    raw: Mapped[Blob] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="item", order_by="Attachment.id", cascade="all, delete-orphan"
    )
    events: Mapped[list[AuditEvent]] = relationship(
        back_populates="item", order_by="AuditEvent.id", cascade="all, delete-orphan"
    )
    # The follow-ups; the first message is the item's own columns above.
    messages: Mapped[list[Message]] = relationship(
        back_populates="item", order_by="Message.id", cascade="all, delete-orphan"
    )
    # What people answered, each shown in the conversation with the messages above.
    replies: Mapped[list[Reply]] = relationship(order_by="Reply.id", cascade="all, delete-orphan")


class Message(ArrivedMessage, Base):
    """A later message of an item's conversation: a reply by email, another text.

    The item keeps its first message in its own columns; each follow-up is one row
    here, keyed like an item so that a replayed reply is stored once.
    """

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_message_id", "message_id", postgresql_using="hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)

    item: Mapped[Item] = relationship(back_populates="messages")
    raw: Mapped[Blob] = relationship()


class Attachment(Base):
    """A file that came with an item; its bytes live in a Blob."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    # The follow-up it came with; None for the item's first message (and for files stored
    # before migration 0027). No database reference, as for Item.contact_id: SQLite adds
    # the column in place; routing.contacts.erasure erases a follow-up's files with it.
    message_id: Mapped[int | None] = mapped_column()
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    content_id: Mapped[str | None] = mapped_column(String(255))
    inline: Mapped[bool] = mapped_column(default=False)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"), index=True)

    item: Mapped[Item] = relationship(back_populates="attachments")
    blob: Mapped[Blob] = relationship()


# The actor of what Intake itself does to an item (received, routed, a job given up).
SYSTEM_ACTOR = "intake"


class AuditEvent(Base):
    """Something that happened to an item, by whom and when; never changed afterwards."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]

    item: Mapped[Item] = relationship(back_populates="events")


class MailboxState(Base):
    """Where reading one configured IMAP mailbox has got to, and how it last went.

    The position (folder, UIDVALIDITY, last UID) says which mail was already stored,
    so nothing depends on the \\Seen flag that people change from their phones.
    """

    __tablename__ = "mailbox_states"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    folder: Mapped[str] = mapped_column(Text)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(default=0)  # in a row, since the last success


class Lease(Base):
    """Which process may, for now, do what only one process may do at a time (read one
    IMAP mailbox): its holder, until the holder renews it or it expires."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]


class VoiceCall(Base):
    """The phone facts of a voicemail item: the call, its recording and its transcript."""

    __tablename__ = "voice_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), unique=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    recording_sid: Mapped[str | None] = mapped_column(String(64))
    caller: Mapped[str] = mapped_column(String(64))
    called: Mapped[str] = mapped_column(String(64))
    duration_seconds: Mapped[int | None]
    # "pending" until Twilio calls back, then "completed" or "failed"; "off" when not asked for.
    transcript_status: Mapped[str] = mapped_column(String(16))
    transcript: Mapped[str | None] = mapped_column(Text)
    transcription_sid: Mapped[str | None] = mapped_column(String(64))


class LearnedWord(Base):
    """How much a term (or a sender, "from:..." / "domain:...") weighed in the texts
    confirmed to belong to a department; each text's terms weigh one in all."""

    __tablename__ = "learned_words"

    department_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    word: Mapped[str] = mapped_column(String(320), primary_key=True, index=True)
    weight: Mapped[float] = mapped_column(Float)
    # How many confirmed texts had the term: one sighting may be a name or a greeting.
    documents: Mapped[int] = mapped_column(default=1, server_default="1")


class LearnedDepartment(Base):
    """Per department: how many texts the suggestion has learned from."""

    __tablename__ = "learned_departments"

    department_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    documents: Mapped[int]


class User(Base):
    """A person who signs in: an admin, a receptionist (every queue) or staff (their departments)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Part of every session's id: a new one at sign-out ends the sessions signed in before it.
    session_epoch: Mapped[str] = mapped_column(String(32), default=lambda: secrets.token_hex(16))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The pages' language this person chose; None follows the office's.
    language: Mapped[str | None] = mapped_column(String(8))

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Membership.department_id"
    )


class Membership(Base):
    """That a staff member works in a department and sees its queue."""

    __tablename__ = "memberships"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), primary_key=True, index=True)

    user: Mapped[User] = relationship(back_populates="memberships")


class ApiToken(Base):
    """A user's key to the JSON API. Only a hash is kept; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class AdminEvent(Base):
    """What an admin did to people and access (a user added, a token revoked), by whom and
    when; never changed afterwards. What happens to items is in `AuditEvent`."""

    __tablename__ = "admin_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]


class WebSecret(Base):
    """The key that signs login sessions, shared by every web process of the office."""

    __tablename__ = "web_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class Job(Base):
    """Work that waits after an item is stored (routing.store.jobs): a notification to send,
    a file to fetch. Done later by a background worker of its kind (intake/jobs/).

    `key` names the job among its item's jobs of that kind (a notification's way, a
    download's filename), so an item never queues the same work twice. A worker claims a
    row by setting it "running" until `lease_until`; a worker that dies mid-job leaves the
    row to be claimed again once that time has passed. Rows of one kind that share a
    `batch` (a department's digest) are claimed together and done as one.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("item_id", "kind", "key", name="uq_jobs_item_kind_key"),
        Index("ix_jobs_due", "status", "due_at"),
        Index("ix_jobs_lease", "status", "lease_until"),
        Index("ix_jobs_batch", "kind", "batch", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # "notification", "download" or "reply"
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    key: Mapped[str] = mapped_column(String(255))
    batch: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, running, done, failed
    attempts: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Reply(Base):
    """An email sent from an item: an answer a person wrote to its sender, the office's
    acknowledgement, or a forward of the item to another address (`kind`). Stored first,
    then sent by a "reply" job, whose state is the reply's (queued, sent, failed, with
    the last error).

    Its Message-ID, in the office's domain, is the same on every try, and is looked up
    like an incoming one, so that the customer's answer joins the item it answers.
    """

    __tablename__ = "replies"
    __table_args__ = (Index("ix_replies_message_id", "message_id", postgresql_using="hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    # "reply", "acknowledgement" (written by Intake, marked Auto-Submitted) or "forward".
    kind: Mapped[str] = mapped_column(String(16), default="reply", server_default="reply")
    author: Mapped[str] = mapped_column(String(200))  # the person who wrote it, who signs it
    sender: Mapped[str] = mapped_column(String(320))  # the office's address it goes out from
    sender_name: Mapped[str] = mapped_column(String(320))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(Text)
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[list[Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A text's Twilio Message SID, and where Twilio's status callbacks have moved it
    # (queued, sent, delivered, undelivered, failed) with Twilio's error code, if any.
    external_id: Mapped[str | None] = mapped_column(String(64))
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    delivery_error: Mapped[str | None] = mapped_column(Text)

    job: Mapped[Job | None] = relationship()

    @property
    def status(self) -> str:
        """ "queued" until its job is done ("sent") or given up ("failed"); once done, a
        text's status as Twilio last reported it."""
        state = self.job.status if self.job is not None else "pending"
        if state == "done" and self.delivery_status:
            return self.delivery_status
        return {"done": "sent", "failed": "failed"}.get(state, "queued")

    @property
    def last_error(self) -> str | None:
        return self.delivery_error or (self.job.last_error if self.job is not None else None)

    @property
    def sent_at(self) -> datetime | None:
        done = self.job is not None and self.job.status == "done"
        return self.job.finished_at if done and self.job is not None else None


class AcknowledgedSender(Base):
    """That a department acknowledged mail from an address on a day (the office's date).

    The key holds RFC 3834's "not more than once a day" across every process: two
    messages stored at once by two processes cannot both insert it. Rows older than
    yesterday are deleted as new ones are written.
    """

    __tablename__ = "acknowledged_senders"

    department_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True, index=True)  # YYYY-MM-DD
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)


class LoginAttempt(Base):
    """A failed sign-in, counted by web.throttle per name and per client address.

    Kept in the database so that every web process counts the same failures; rows older
    than the throttle's window are deleted as new ones are written.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_name", "name", "attempted_at"),
        Index("ix_login_attempts_address", "address", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))  # as typed, cut to the longest a user name can be
    address: Mapped[str] = mapped_column(String(64))  # the client's IP address as the app sees it
    attempted_at: Mapped[datetime] = mapped_column(index=True)


class Contact(Base):
    """A person who writes, texts or calls the office, whatever address or number they use."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    addresses: Mapped[list[ContactAddress]] = relationship(
        back_populates="contact", order_by="ContactAddress.id"
    )


class ContactAddress(Base):
    """An email address (lower case) or a phone number (E.164) of one contact."""

    __tablename__ = "contact_addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "email" or "phone"
    value: Mapped[str] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="addresses")


class ContactEvent(Base):
    """Something people did to a contact (an address linked, two contacts merged, one
    split), by whom and when; erased with the contact."""

    __tablename__ = "contact_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]


class ContactSuggestion(Base):
    """Evidence about a new item that a person confirms or dismisses: it is probably the
    same request as `other_item_id`, or a number in it belongs to `contact_id`."""

    __tablename__ = "contact_suggestions"
    __table_args__ = (Index("ix_contact_suggestions_open", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "same-request" or "known-number"
    other_item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    number: Mapped[str | None] = mapped_column(String(64))  # the number found in the text
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, accepted, dismissed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Erasure(Base):
    """The tombstone an erasure leaves: who erased how many items, why and when, and
    nothing of the person (no address, number, name or word)."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(64))  # "request", "retention: resolved", ...
    items: Mapped[int]
    contacts: Mapped[int]


class RetentionRun(Base):
    """One day's run of the retention job: claimed by the first process to insert the day,
    so that many processes purge once; `erased` is its report."""

    __tablename__ = "retention_runs"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    erased: Mapped[dict[str, Any] | None]
