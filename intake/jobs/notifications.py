"""The background worker that sends department notifications from the outbox.

It runs on a thread of `intake serve`; any number of processes may run one against the
same database, since each notification is claimed before it is sent, and marked sent
right after. A process that dies between the two sends that one again once its claim
runs out: the email keeps its Message-ID and the webhook its X-Intake-Delivery, so the
receiver can tell the copy.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from config.settings import Department, Settings
from intake.jobs.notification_send import (
    SendFailed,
    excerpt,
    message_id,
    new_email,
    post_webhook,
    send_email,
    title,
    webhook_body,
)
from intake.jobs.worker_thread import Background, backoff
from routing.store import outbox
from routing.store.outbox import Job, NewItem

log = logging.getLogger(__name__)


class NotificationWorker:
    """Claims one due notification (or one digest) at a time, sends it, records the outcome.

    `settings` is called for each job, so a reloaded config's notify tables apply at once.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Callable[[], Settings],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self._background = Background("notifications", self.run_once)

    def run_once(self) -> bool:
        """Send one due notification or digest; False when none was due."""
        settings = self.settings()
        config = settings.notifications
        job = outbox.claim(self.sessions, self.clock(), config.max_attempts)
        if job is None:
            return False
        try:
            self._send(job, settings)
        except SendFailed as error:
            retry_at = self._retry_at(job.attempts, settings) if error.retry else None
            log.warning(
                "%s notification %s for %s failed (attempt %s%s): %s",
                job.kind, job.id, job.department_id, job.attempts, "" if retry_at else ", given up", error,
            )  # fmt: skip
            outbox.fail(self.sessions, job, str(error), retry_at=retry_at)
        except Exception as error:  # a fault of ours must not leave the row claimed until its lease ends
            log.exception("%s notification %s broke", job.kind, job.id)
            problem = f"unexpected error: {error!r}"
            outbox.fail(self.sessions, job, problem, retry_at=self._retry_at(job.attempts, settings))
        else:
            outbox.mark_sent(self.sessions, job, self.clock())
            log.info("%s notification %s sent to %s (%s items)", job.kind, job.id, job.target, len(job.rows))
        return True

    def start(self) -> None:
        self._background.start()

    def stop(self) -> None:
        """Let the send in hand finish, then end the thread."""
        self._background.stop()

    def _send(self, job: Job, settings: Settings) -> None:
        items = outbox.new_items(self.sessions, job.item_ids)
        department = next((d for d in settings.departments if d.id == job.department_id), None)
        if not items or department is None:
            raise SendFailed("the item or its department is gone", retry=False)
        if job.kind == "webhook":
            self._post(job, settings, department, items[0])
        else:
            self._email(job, settings, department, items)

    def _post(self, job: Job, settings: Settings, department: Department, item: NewItem) -> None:
        notify = department.notify
        if notify.webhook_url != job.target:
            raise SendFailed("the department's webhook_url changed since the item arrived", retry=False)
        body = webhook_body(item, department.name, _link(settings, item))
        timeout = settings.notifications.timeout_seconds
        post_webhook(job.target, notify.webhook_secret, body, job.id, self.clock(), timeout)

    def _email(self, job: Job, settings: Settings, department: Department, items: list[NewItem]) -> None:
        config = settings.notifications
        if not config.smtp_host:
            raise SendFailed("no mail server is configured ([notifications] smtp_host)", retry=False)
        if job.kind == "digest":
            subject, text = _digest(settings, department, items)
        else:
            subject, text = _single(settings, department, items[0])
        message = new_email(config, job.target, subject, text, message_id(config, _token(job)))
        refused = send_email(config, message, self.clock())
        if refused:
            log.warning("notification %s: the mail server refused %s", job.id, ", ".join(refused))

    def _retry_at(self, attempts: int, settings: Settings) -> datetime | None:
        config = settings.notifications
        if attempts >= config.max_attempts:
            return None
        return self.clock() + backoff(attempts, timedelta(seconds=config.retry_seconds))


def _token(job: Job) -> str:
    """The Message-ID token: the row's id, or for a digest a digest of all its rows' ids."""
    if len(job.rows) == 1:
        return str(job.id)
    ids = ",".join(str(notification_id) for notification_id, _ in sorted(job.rows))
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
    sender = f"{item.sender_name} <{item.sender}>" if item.sender_name else item.sender
    received = item.received_at.astimezone(settings.timezone).strftime("%Y-%m-%d %H:%M %Z")
    lines = [f"From: {sender}", f"Channel: {item.channel}", f"Received: {received}"]
    if item.subject:
        lines.append(f"Subject: {item.subject}")
    lines += ["", excerpt(item.text) or "(no text)"]
    link = _link(settings, item)
    if link:
        lines += ["", f"Open it: {link}"]
    return "\n".join(lines)


def _link(settings: Settings, item: NewItem) -> str:
    return f"{settings.web.public_url}/items/{item.id}" if settings.web.public_url else ""
