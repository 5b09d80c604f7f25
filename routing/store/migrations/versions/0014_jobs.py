"""One job queue: notifications and downloads become rows of `jobs`, of two kinds.

The pending and failed notifications move with their ids, so a notification retried
after the upgrade keeps its Message-ID and X-Intake-Delivery; sent ones are history
that no one reads and are left behind. Every download moves, done ones included: a
done recording's row is how the queue finds the recording's attachment. The downgrade
moves every row back into the two tables as they were.

Revision ID: 0014_jobs
Revises: 0013_session_epoch
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0014_jobs"
down_revision: str | None = "0013_session_epoch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)

jobs = sa.table(
    "jobs",
    sa.column("id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("item_id", sa.Integer()),
    sa.column("key", sa.String()),
    sa.column("batch", sa.String()),
    sa.column("payload", sa.JSON()),
    sa.column("status", sa.String()),
    sa.column("attempts", sa.Integer()),
    sa.column("due_at", _TIME),
    sa.column("lease_until", _TIME),
    sa.column("last_error", sa.Text()),
    sa.column("created_at", _TIME),
    sa.column("finished_at", _TIME),
)
notifications = sa.table(
    "notifications",
    sa.column("id", sa.Integer()),
    sa.column("item_id", sa.Integer()),
    sa.column("department_id", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("target", sa.Text()),
    sa.column("status", sa.String()),
    sa.column("attempts", sa.Integer()),
    sa.column("next_attempt_at", _TIME),
    sa.column("last_error", sa.Text()),
    sa.column("created_at", _TIME),
    sa.column("sent_at", _TIME),
)
downloads = sa.table(
    "pending_downloads",
    sa.column("id", sa.Integer()),
    sa.column("item_id", sa.Integer()),
    sa.column("url", sa.String()),
    sa.column("filename", sa.String()),
    sa.column("purpose", sa.String()),
    sa.column("status", sa.String()),
    sa.column("attempts", sa.Integer()),
    sa.column("next_attempt_at", _TIME),
    sa.column("last_error", sa.Text()),
    sa.column("attachment_id", sa.Integer()),
    sa.column("created_at", _TIME),
)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("batch", sa.String(length=128), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", _TIME, nullable=False),
        sa.Column("lease_until", _TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "kind", "key", name="uq_jobs_item_kind_key"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_batch", ["kind", "batch", "status"], unique=False)
        batch_op.create_index("ix_jobs_due", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_jobs_lease", ["status", "lease_until"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_item_id"), ["item_id"], unique=False)
    waiting = notifications.c.status.in_(("pending", "failed"))
    _insert(jobs, [_notification_job(r) for r in _rows(sa.select(notifications).where(waiting))])
    _restart_ids("jobs")
    _insert(jobs, [_download_job(r) for r in _rows(sa.select(downloads))])
    _drop_downloads()
    _drop_notifications()


def downgrade() -> None:
    _create_notifications()
    _create_downloads()
    kind = jobs.c.kind
    _insert(
        notifications, [_notification_row(r) for r in _rows(sa.select(jobs).where(kind == "notification"))]
    )
    _restart_ids("notifications")
    _insert(downloads, [_download_row(r) for r in _rows(sa.select(jobs).where(kind == "download"))])
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_item_id"))
        batch_op.drop_index("ix_jobs_lease")
        batch_op.drop_index("ix_jobs_due")
        batch_op.drop_index("ix_jobs_batch")
    op.drop_table("jobs")


def _rows(query: sa.Select[Any]) -> list[sa.RowMapping]:
    return list(op.get_bind().execute(query.order_by(sa.text("id"))).mappings())


def _insert(table: sa.TableClause, rows: list[dict[str, Any]]) -> None:
    if rows:
        op.get_bind().execute(table.insert(), rows)


def _restart_ids(table: str) -> None:
    # Rows inserted with their ids leave PostgreSQL's sequence behind; SQLite takes max + 1.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
        )


def _notification_job(row: sa.RowMapping) -> dict[str, Any]:
    via = row["kind"]
    return {
        "id": row["id"],
        "kind": "notification",
        "item_id": row["item_id"],
        "key": via,
        "batch": f"digest {row['department_id']}" if via == "digest" else None,
        "payload": {"via": via, "department_id": row["department_id"], "target": row["target"]},
        "status": row["status"],
        "attempts": row["attempts"],
        "due_at": row["next_attempt_at"],
        "lease_until": None,
        "last_error": row["last_error"],
        "created_at": row["created_at"],
        "finished_at": None,
    }


def _download_job(row: sa.RowMapping) -> dict[str, Any]:
    payload = {"url": row["url"], "filename": row["filename"], "purpose": row["purpose"]}
    if row["attachment_id"] is not None:
        payload["attachment_id"] = row["attachment_id"]
    return {
        "kind": "download",
        "item_id": row["item_id"],
        "key": row["filename"],
        "batch": None,
        "payload": payload,
        "status": row["status"],
        "attempts": row["attempts"],
        "due_at": row["next_attempt_at"],
        "lease_until": None,
        "last_error": row["last_error"],
        "created_at": row["created_at"],
        "finished_at": None,
    }


def _waiting_since(row: sa.RowMapping) -> tuple[str, Any]:
    # The old tables had no "running": a claimed row was pending until its lease's end.
    if row["status"] == "running":
        return "pending", row["lease_until"]
    return row["status"], row["due_at"]


def _notification_row(row: sa.RowMapping) -> dict[str, Any]:
    status, due = _waiting_since(row)
    payload = row["payload"]
    return {
        "id": row["id"],
        "item_id": row["item_id"],
        "department_id": payload["department_id"],
        "kind": payload["via"],
        "target": payload["target"],
        "status": "sent" if status == "done" else status,
        "attempts": row["attempts"],
        "next_attempt_at": due,
        "last_error": row["last_error"],
        "created_at": row["created_at"],
        "sent_at": row["finished_at"] if status == "done" else None,
    }


def _download_row(row: sa.RowMapping) -> dict[str, Any]:
    status, due = _waiting_since(row)
    payload = row["payload"]
    return {
        "item_id": row["item_id"],
        "url": payload["url"],
        "filename": payload["filename"],
        "purpose": payload["purpose"],
        "status": status,
        "attempts": row["attempts"],
        "next_attempt_at": due,
        "last_error": row["last_error"],
        "attachment_id": payload.get("attachment_id"),
        "created_at": row["created_at"],
    }


def _create_notifications() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("sent_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "kind", name="uq_notifications_item_kind"),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_item_id"), ["item_id"], unique=False)


def _create_downloads() -> None:
    op.create_table(
        "pending_downloads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("attachment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["attachment_id"], ["attachments.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "url", name="uq_pending_downloads_item_url"),
    )
    with op.batch_alter_table("pending_downloads", schema=None) as batch_op:
        batch_op.create_index("ix_pending_downloads_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_pending_downloads_item_id"), ["item_id"], unique=False)


def _drop_notifications() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_item_id"))
        batch_op.drop_index("ix_notifications_due")
    op.drop_table("notifications")


def _drop_downloads() -> None:
    with op.batch_alter_table("pending_downloads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_downloads_item_id"))
        batch_op.drop_index("ix_pending_downloads_due")
    op.drop_table("pending_downloads")
