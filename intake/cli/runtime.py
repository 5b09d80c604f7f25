"""Wiring the parts together: database, router, deliverer, inbox, SMTP and web servers, IMAP pollers.

This is the one place that knows every layer; the `intake` command calls in here. It
builds one settings holder, one router holder, one Deliverer and one inbox writer per
process and hands the same ones to every listener and to the web app, so a reload
reaches every channel.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from typing import Protocol

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from config.holder import RESTART_ONLY, SettingsHolder, reloadable, waiting_for_restart
from config.loading import ConfigError, load_settings
from config.settings import DatabaseSettings, Settings
from intake.cli.reload_signal import note_reloads
from intake.cli.web_server import WebServer
from intake.cli.worker_processes import WorkerProcesses
from intake.email.acknowledgements import acknowledge_new
from intake.email.imap import MailboxPoller, pollers
from intake.email.imap_lease import MailboxLease
from intake.email.parse_workers import ParseWorkers, WorkerLimits
from intake.email.parser import EmailLimits
from intake.email.smtp import SMTPServer
from intake.email.storing import EmailReader, Parse, ParseAll
from intake.jobs.downloads import DownloadWorker
from intake.jobs.inbox import InboxWorker, Reader
from intake.jobs.notifications import NotificationWorker
from intake.jobs.replies import ReplyWorker
from intake.jobs.retention import RetentionWorker
from intake.phone.fetch import TwilioFetcher
from intake.phone.sms_reader import TextReader
from intake.rules.rule_tests import build_router
from routing.delivery import Deliverer, Delivery
from routing.engine import RouterHolder
from routing.message import InboundMessage
from routing.people.accounts import ensure_first_admin
from routing.queues.replies import TEXT_CHANNELS
from routing.store.database import StorageUnavailable, make_engine, make_session_factory
from routing.store.inbox import InboxWriter
from routing.store.leases import process_holder
from routing.store.mailboxes import MailboxStore
from routing.store.models import utcnow
from routing.store.schema import prepare, sync_departments
from web.app import create_app

log = logging.getLogger(__name__)

# How often the main thread looks whether SIGINT or SIGTERM came (StopSignals): the
# longest a stop waits to begin.
STOP_POLL_SECONDS = 0.1
# What a worker process never uses (the doors, the web, the IMAP pollers): it does not
# warn that a change there waits for a restart.
SERVED_ONLY = frozenset(
    {"imap", *(f"{table}.{key}" for table in ("smtp", "web") for key in RESTART_ONLY[table])}
)


class Service(Protocol):
    """What a process starts and stops at the end: a listener, a poller, a worker."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Runtime:
    """One process's shared objects, built once and handed to every channel."""

    holder: SettingsHolder
    engine: Engine
    sessions: sessionmaker[Session]
    deliverer: Deliverer
    routers: RouterHolder
    # The doors' way into the inbox (SMTP, Twilio's texts); started by start_inbox.
    inbox: InboxWriter

    @property
    def settings(self) -> Settings:
        """The settings in use now: a reload replaces them."""
        return self.holder.current

    def deliver_email(self, message: InboundMessage) -> Delivery:
        """Deliver mail from the SMTP and IMAP doors: acknowledged where the department asks.

        An import of old mail goes through the deliverer alone: it is never acknowledged.
        """
        return self.deliverer.deliver(
            message, also=lambda session, delivery: self._acknowledge(session, delivery, message)
        )

    def _acknowledge(self, session: Session, delivery: Delivery, message: InboundMessage) -> None:
        acknowledge_new(session, delivery, message, self.settings)

    def web_app(self) -> Flask:
        """The web app, on this process's settings holder, Deliverer and inbox."""
        return create_app(self.holder, self.engine, self.sessions, self.deliverer, self.inbox.accept)

    def inbox_worker(self, parse_all: ParseAll, clock: Callable[[], datetime] = utcnow) -> InboxWorker:
        """A worker making items of the inbox's rows (mail and texts) through this
        process's Deliverer; `parse_all` parses mail; `clock` tells the texts' reader
        the time, by which a text too old to acknowledge is told."""
        lease = timedelta(seconds=self.settings.database.inbox_lease_seconds)
        current = lambda: self.holder.current  # noqa: E731  # a reload applies to the next message
        texts = TextReader(current, clock)
        readers: dict[str, Reader] = {
            "email": EmailReader(parse_all, EmailLimits.from_settings(self.settings), current),
            **{channel: texts for channel in TEXT_CHANNELS},
        }
        return InboxWorker(self.sessions, self.deliverer, readers, lease)


def open_runtime(settings: Settings) -> Runtime:
    """Compile the rules, connect to the database, prepare it and build the deliverer."""
    routers = RouterHolder(build_router(settings))
    engine = make_engine(settings.database)
    prepare(engine)
    sessions = make_session_factory(engine)
    sync_departments(sessions, settings)
    deliverer = Deliverer(sessions, routers)
    return Runtime(SettingsHolder(settings), engine, sessions, deliverer, routers, InboxWriter(sessions))


def reload_config(runtime: Runtime, ignored: Collection[str] = ()) -> bool:
    """Re-read the config file and swap in its settings and routing, for every channel
    of the process at once; keep the old ones if the file is broken.

    What changes and what needs a restart is config.holder's to say; each changed key
    that waits for a restart is named in a warning, but those in `ignored` (the command
    line's listen addresses, or what a worker does not serve).
    """
    try:
        loaded = load_settings(runtime.settings.source)
        settings = reloadable(runtime.settings, loaded)
        router = build_router(settings)
    except ConfigError as error:
        log.error("config reload refused, the old routing stays: %s", error)
        return False
    try:
        sync_departments(runtime.sessions, settings)
    # This runs in a signal handler: whatever it raises stops the process's main thread.
    except (SQLAlchemyError, StorageUnavailable) as error:
        log.error("config reload refused, the departments could not be stored: %s", error)
        return False
    waiting = waiting_for_restart(runtime.settings, loaded, ignored)
    runtime.routers.swap(router)
    runtime.holder.swap(settings)
    log.info("config reloaded: %d rules from %s", len(settings.rules), settings.source)
    if waiting:
        log.warning("config reloaded, but these changes wait for a restart: %s", ", ".join(waiting))
    return True


def reload_worker(runtime: Runtime, parent: int | None) -> bool:
    """A worker's reload: the serving process `parent` signals it once its own succeeded,
    so a refusal here leaves the two routing under different configs; say so."""
    if reload_config(runtime, SERVED_ONLY):
        return True
    if parent is not None:
        log.error(
            "worker %s keeps routing under its old config, and the serving process %s under the "
            "new one; fix what the line above says and send SIGHUP to the serving process again",
            os.getpid(),
            parent,
        )
    return False


class StopSignals:
    """SIGINT and SIGTERM, noted by their handler for the main thread to wait for.

    A flag the main thread looks at every STOP_POLL_SECONDS, not a threading.Event it
    waits on: Python runs a handler on the main thread only once that thread runs again.
    A signal that came just before the thread blocked in Event.wait(), or that the
    kernel gave another thread, left it blocked for good, and the process never
    stopped; one handled inside Event.wait() deadlocked, set() waiting for the lock
    its own thread held there.
    """

    def __init__(self) -> None:
        self.received = False
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._receive)

    def _receive(self, signum: int, frame: FrameType | None) -> None:
        self.received = True

    def wait(self, timeout: float | None = None) -> bool:
        """Return once a stop signal came (True) or `timeout` seconds passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.received:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(STOP_POLL_SECONDS)
        return True


def default_workers(database: DatabaseSettings) -> int:
    """On PostgreSQL, as many worker processes as the machine has cores. On SQLite one
    (with its parsing child, two processes): SQLite takes one writer at a time, and a
    worker holds the write lock for most of its time, so a second queues behind the first
    and the door behind both; two were slower end to end than one in every pair measured
    (docs/benchmarks.md)."""
    if make_url(database.url).get_backend_name() == "sqlite":
        return 1
    return os.cpu_count() or 1


def run_services(
    runtime: Runtime,
    *,
    smtp: bool,
    web: bool,
    say: Callable[[str], None],
    imap: bool = False,
    workers: int = 0,
    given: Collection[str] = (),
) -> None:
    """Start the chosen services, then run until SIGINT or SIGTERM and stop cleanly.

    With SMTP or the web (its Twilio texts), the inbox starts too, and `workers` worker
    processes making the items and doing the queued jobs (replies, notifications,
    downloads, retention), so that this process only listens and serves; 0 does that work
    on threads of this process instead. `given` names the keys the command line set
    (such as "web.listen"), which a reload leaves as they are without a warning.
    """
    worker_processes = (smtp or web) and workers > 0
    stop = StopSignals()
    reloads = note_reloads()
    started: list[Service] = []

    def reload() -> None:
        if not reload_config(runtime, given):
            return  # nor do the workers take it: they would route under another config
        for service in started:
            if isinstance(service, WorkerProcesses):
                service.reload()  # they route: they read the config again too
            elif isinstance(service, SMTPServer):
                service.reload(runtime.settings)  # the addresses and domains it takes mail for

    # Every email door parses in these children; they stop after the doors.
    parsers = ParseWorkers(WorkerLimits.from_settings(runtime.settings.email))
    try:
        if imap:
            started.extend(start_pollers(runtime, parsers.parse))
            for mailbox in runtime.settings.imap:
                say(f"IMAP reading {mailbox.name} ({mailbox.username}@{mailbox.host}, {mailbox.folder})")
        if smtp or web:
            writer, processing = start_inbox(runtime, workers, parsers.parse_all)
            started.extend([processing, writer])
            say(
                f"Inbox workers: {workers} processes" if worker_processes else "Inbox worker: in this process"
            )
        if smtp:
            smtp_server = SMTPServer(runtime.settings, writer.submit)
            smtp_server.start()
            started.append(smtp_server)
            say(f"SMTP listening on {runtime.settings.smtp.listen}")
            if runtime.settings.smtp.submission:
                say(f"SMTP submission (STARTTLS, then AUTH) on {runtime.settings.smtp.submission.listen}")
        if web:
            announce_first_admin(runtime, say)
            web_server = WebServer(runtime.web_app(), runtime.settings.web)
            web_server.start()
            started.append(web_server)
            say(f"Web listening on http://{runtime.settings.web.listen}/")
        if web and not worker_processes:
            started.extend(start_jobs(runtime))
        if web or worker_processes:
            announce_jobs(runtime, say, "the worker processes" if worker_processes else "this process")
        # Only now, when every worker process is there to be told: one asked for while
        # they started would have left those that read the file before under its old text.
        reloads.ready(reload)
        say("Intake is running; press Ctrl-C to stop.")
        stop.wait()
        say("Stopping: finishing the messages in flight.")
    finally:
        for service in reversed(started):
            service.stop()
        parsers.close()
        runtime.engine.dispose()


def start_inbox(
    runtime: Runtime, workers: int, parse_all: ParseAll
) -> tuple[InboxWriter, InboxWorker | WorkerProcesses]:
    """The inbox's writer for the doors (the runtime's, started), and what makes its
    items: `workers` processes, or with 0 a thread of this process that each commit wakes."""
    writer = runtime.inbox
    processing: InboxWorker | WorkerProcesses
    if workers:
        processing = WorkerProcesses(runtime.settings.source, workers)
    else:
        processing = runtime.inbox_worker(parse_all)
        writer.on_commit(processing.wake)
    processing.start()
    writer.start()
    return writer, processing


def run_worker(runtime: Runtime, parent: int | None) -> None:
    """Make items of the inbox's rows and do the queued jobs until SIGINT or SIGTERM, or
    until `parent` is gone."""
    stop = StopSignals()
    reloads = note_reloads()
    # One message at a time here: one parsing child is enough.
    limits = dataclasses.replace(WorkerLimits.from_settings(runtime.settings.email), workers=1)
    with ParseWorkers(limits) as parsers:
        worker = runtime.inbox_worker(parsers.parse_all)
        worker.start()
        started: list[Service] = [worker, *start_jobs(runtime)]
        reloads.ready(lambda: reload_worker(runtime, parent))
        log.info("worker %s is making items of accepted messages and doing the queued jobs", os.getpid())
        while not stop.wait(1.0):
            if parent is not None and os.getppid() != parent:
                log.warning("the serving process %s is gone; this worker stops", parent)
                break
        for service in reversed(started):
            service.stop()
    runtime.engine.dispose()


def start_jobs(runtime: Runtime) -> list[Service]:
    """Start the job queue's workers on threads of this process: replies, notifications,
    the daily retention purge, and with a Twilio account the downloads. Each reads the
    settings as they are at each job, so that a reload (a relay, a notify table) applies."""
    settings = lambda: runtime.holder.current  # noqa: E731
    workers: list[Service] = [
        ReplyWorker(runtime.sessions, settings),
        NotificationWorker(runtime.sessions, settings),
        RetentionWorker(runtime.sessions, settings),
    ]
    if runtime.settings.twilio.configured:
        workers.append(download_worker(runtime))
    for worker in workers:
        worker.start()
    return workers


def announce_jobs(runtime: Runtime, say: Callable[[str], None], where: str) -> None:
    """Say where the queued jobs are done, and what they send and fetch with this config."""
    say(f"Jobs (replies, notifications, downloads, retention): in {where}")
    settings = runtime.settings
    if settings.twilio.configured:
        say(f"Fetching recordings and media from {settings.twilio.api_base_url}")
    if any(d.notify.email or d.notify.webhook_url for d in settings.departments):
        say("Sending department notifications")
    if settings.outbound.server is not None:
        say(f"Sending replies through {settings.outbound.server.host}:{settings.outbound.server.port}")


def start_pollers(runtime: Runtime, parse: Parse) -> list[MailboxPoller]:
    """Start one poller thread per configured IMAP mailbox, each reading under its lease."""
    holder = process_holder()
    started = pollers(
        runtime.settings,
        runtime.deliver_email,
        lambda name: MailboxStore(runtime.sessions, name),
        lambda mailbox: MailboxLease(runtime.sessions, mailbox.name, holder, mailbox.lease_seconds),
        parse,
    )
    for poller in started:
        poller.start()
    return started


def download_worker(runtime: Runtime) -> DownloadWorker:
    """The worker that fetches recordings and MMS media for the office's Twilio account."""
    twilio = runtime.settings.twilio
    return DownloadWorker(runtime.sessions, TwilioFetcher(twilio), max_attempts=twilio.download_attempts)


def announce_first_admin(runtime: Runtime, say: Callable[[str], None]) -> None:
    """On a database without users, make an admin and show its password this once."""
    created = ensure_first_admin(runtime.sessions)
    if created is not None:
        name, password = created
        say(f"First admin created: name {name}, password {password}")
        say(f"(shown this once; change it with `intake users reset-password {name}`)")
