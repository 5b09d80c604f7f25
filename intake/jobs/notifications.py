"""The worker that sends "notification" jobs: department emails, digests and webhooks.

It runs on a thread of `intake serve`; any number of processes may run one against the
same database, since each notification is claimed before it is sent, and marked sent
right after. A process that dies between the two sends that one again once its claim
runs out: the email keeps its Message-ID and the webhook its X-Intake-Delivery, so the
receiver can tell the copy.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Department, Settings
from intake.jobs.mail_server import SendFailed, send_email
from intake.jobs.notification_send import (
    NewItem,
    excerpt,
    message_id,
    new_email,
    post_webhook,
    title,
    webhook_body,
)
from intake.jobs.worker import ConfiguredJobWorker, Retries
from routing.shown_text import one_line
from routing.store import jobs
from routing.store.database import transaction
from routing.store.jobs import Claim
from routing.store.models import Item

log = logging.getLogger(__name__)

# The sender's name and the subject in a notification: enough to know them, no more.
_NAME_CHARS = 100
_SUBJECT_CHARS = 300


class NotificationWorker(ConfiguredJobWorker):
    """Claims one due notification (or one digest) at a time and sends it.

    `settings` is called for each job, so a reloaded config's notify tables apply at once.
    """

    name = "notifications"
    kinds = (jobs.NOTIFICATION,)

    def retries(self) -> Retries:
        config = self.settings().notifications
        return Retries(config.max_attempts, timedelta(seconds=config.retry_seconds))

    def do(self, claim: Claim) -> None:
        settings = self.settings()
        department = next((d for d in settings.departments if d.id == claim.payload["department_id"]), None)
        if department is None:
            raise SendFailed("the department is gone from the config", retry=False)
        # An item moved (or erased) since it arrived is no news for this department: the
        # receptionist who moved it knows, and its link would show this department a 404.
        arrived = new_items(self.sessions, claim.item_ids)
        items = [item for item in arrived if item.department_id == department.id]
        if not items:
            log.info("notification %s: its items have left %s, nothing to send", claim.id, department.id)
            return
        if claim.payload["via"] == "webhook":
            self._post(claim, settings, department, items[0])
        else:
            self._email(claim, settings, department, items)
        log.info("notification %s sent to %s (%s items)", claim.id, claim.payload["target"], len(items))

    def _post(self, claim: Claim, settings: Settings, department: Department, item: NewItem) -> None:
        notify = department.notify
        target = claim.payload["target"]
        if notify.webhook_url != target:
            raise SendFailed("the department's webhook_url changed since the item arrived", retry=False)
        body = webhook_body(item, department.name, _link(settings, item))
        timeout = settings.notifications.timeout_seconds
        post_webhook(target, notify.webhook_secret, body, claim.id, self.clock(), timeout)

    def _email(self, claim: Claim, settings: Settings, department: Department, items: list[NewItem]) -> None:
        config = settings.notifications
        if not config.smtp_host:
            raise SendFailed("no mail server is configured ([notifications] smtp_host)", retry=False)
        if claim.payload["via"] == "digest":
            subject, text = _digest(settings, department, items)
        else:
            subject, text = _single(settings, department, items[0])
        message = new_email(config, claim.payload["target"], subject, text, message_id(config, _token(claim)))
        refused = send_email(config.server, message, self.clock())
        if refused:
            log.warning("notification %s: the mail server refused %s", claim.id, ", ".join(refused))


def new_items(sessions: sessionmaker[Session], item_ids: tuple[int, ...]) -> list[NewItem]:
    """The items a notification tells of, in the order they arrived."""
    with transaction(sessions, write=False) as session:
        items = session.scalars(select(Item).where(Item.id.in_(item_ids)).order_by(Item.id))
        return [
            NewItem(
                i.id, i.department_id, i.channel, i.sender, i.sender_name, i.subject, i.text, i.received_at
            )
            for i in items
        ]


def _token(claim: Claim) -> str:
    """The Message-ID token: the job's id, or for a digest a digest of all its jobs' ids."""
    if len(claim.rows) == 1:
        return str(claim.id)
    ids = ",".join(str(job_id) for job_id, _ in sorted(claim.rows))
    return f"digest-{hashlib.sha256(ids.encode()).hexdigest()[:16]}"


def _single(settings: Settings, department: Department, item: NewItem) -> tuple[str, str]:
    subject = f"[Intake] New item in {department.name}: {title(item)}"
    return subject, f"New item in {department.name}\n\n{_describe(settings, item)}"


def _digest(settings: Settings, department: Department, items: list[NewItem]) -> tuple[str, str]:
    count = f"{len(items)} new item{'s' if len(items) != 1 else ''}"
    parts = [f"{count} in {department.name}"]
    parts += [
        f"--- {index} of {len(items)} ---\n{_describe(settings, item)}" for index, item in enumerate(items, 1)
    ]
    return f"[Intake] {count} in {department.name}", "\n\n".join(parts)


def _describe(settings: Settings, item: NewItem) -> str:
    # What the sender wrote is shown as a page shows it (routing.shown_text.unhidden), one line
    # each: a bidi override in a name would otherwise reverse the rest of its line.
    address = one_line(item.sender, strict=True)
    sender = f"{one_line(item.sender_name, _NAME_CHARS)} <{address}>" if item.sender_name else address
    received = item.received_at.astimezone(settings.timezone).strftime("%Y-%m-%d %H:%M %Z")
    lines = [f"From: {sender}", f"Channel: {item.channel}", f"Received: {received}"]
    if item.subject:
        lines.append(f"Subject: {one_line(item.subject, _SUBJECT_CHARS)}")
    lines += ["", excerpt(item.text) or "(no text)"]
    link = _link(settings, item)
    if link:
        lines += ["", f"Open it: {link}"]
    return "\n".join(lines)


def _link(settings: Settings, item: NewItem) -> str:
    return f"{settings.web.public_url}/items/{item.id}" if settings.web.public_url else ""
