"""The `intake` command: serve or run one part, check the config, upgrade, import; the
routing and Twilio commands live in intake.cli.rules and intake.cli.twilio."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from config.loading import ConfigError, load_settings
from config.settings import Settings
from config.table import parse_listen
from intake.cli import contacts, people, rules, twilio
from intake.cli.usage import UsageError
from intake.rules.rule_tests import build_router
from routing.store.database import StorageUnavailable, make_engine
from routing.store.schema import SchemaOutOfDate, upgrade

# What INTAKE_LOG_LEVEL may say. At "info" a busy office's workers write a line for each
# batch of mail they store; "warning" keeps only what an operator must look at.
LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _start_logging(os.environ.get("INTAKE_LOG_LEVEL", ""))
        return _carry_out(_settings(args), args)
    except (ConfigError, SchemaOutOfDate, UsageError) as error:
        print(f"intake: {error}", file=sys.stderr)
        return 2


def _start_logging(named: str) -> None:
    """Log to stderr at the level INTAKE_LOG_LEVEL names ("info" when unset or empty);
    the worker processes a command starts inherit the variable, and so the level."""
    level = LOG_LEVELS.get(named.strip().lower() or "info")
    if level is None:
        choices = ", ".join(LOG_LEVELS)
        raise UsageError(f"INTAKE_LOG_LEVEL is {named!r}; it may be one of {choices}")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiosmtpd logs every SMTP command at INFO, and Alembic which database it talks to on
    # every command (`db upgrade` says what it did): below "debug", their warnings are what
    # an operator needs.
    if level > logging.DEBUG:
        for chatty in ("mail.log", "alembic"):
            logging.getLogger(chatty).setLevel(max(level, logging.WARNING))


def _carry_out(settings: Settings, args: argparse.Namespace) -> int:
    """Run the command; a database it cannot use ends it with one line, not a traceback."""
    try:
        return int(args.run(settings, args) or 0)
    except (OperationalError, StorageUnavailable) as error:
        url = make_url(settings.database.url).render_as_string(hide_password=True)
        print(f"intake: the database {url}: {_first_line(error)}", file=sys.stderr)
        return 1


def _first_line(error: OperationalError | StorageUnavailable) -> str:
    """The driver's own words, without SQLAlchemy's statement and link, on one line."""
    cause = error.orig if isinstance(error, OperationalError) else error
    return next(iter(str(cause).strip().splitlines()), type(cause).__name__)


CONFIG_HELP = (
    "the office's TOML file (default: INTAKE_CONFIG or the sample office); it may come before "
    "or after the command, and given twice the last one counts"
)


class _Command(argparse.ArgumentParser):
    """A command's parser: it takes the global options after the command's name too, and
    lists them in its --help. Its default is to set nothing, so a --config given before
    the command stands unless one after it replaces it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--config", type=Path, metavar="PATH", default=argparse.SUPPRESS, help=CONFIG_HELP)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intake", description="The front office of a business, in software."
    )
    parser.add_argument("--config", type=Path, metavar="PATH", help=CONFIG_HELP)
    commands = parser.add_subparsers(required=True, metavar="COMMAND", parser_class=_Command)

    for name, help_text, run in (
        ("serve", "run SMTP, the web and the IMAP pollers in one process", _serve),
        ("smtp", "run the SMTP server only", _smtp),
        ("web", "run the web server only", _web),
    ):
        command = commands.add_parser(name, help=help_text)
        if run is not _web:
            command.add_argument("--smtp", metavar="HOST:PORT", help="listen for SMTP here")
        if run is not _smtp:
            command.add_argument("--web", metavar="HOST:PORT", help="serve the web here")
        command.add_argument(
            "--workers",
            type=_worker_count,
            metavar="N",
            help="worker processes making items of accepted mail and texts and doing the queued jobs "
            "(default: one per core on PostgreSQL, one on SQLite; 0: threads of this process)",
        )
        command.set_defaults(run=run)

    commands.add_parser("imap", help="run the IMAP pollers only").set_defaults(run=_imap)

    worker = commands.add_parser(
        "worker", help="make items of the messages waiting in the inbox and do the queued jobs"
    )
    # Given by `intake serve` to the workers it starts: they stop when it is gone.
    worker.add_argument("--parent", type=int, help=argparse.SUPPRESS)
    worker.set_defaults(run=_worker)

    backfill = commands.add_parser("import", help="bring old mail in from an mbox file or a maildir folder")
    backfill.add_argument("kind", choices=("mbox", "maildir"), help="the kind of mailbox at PATH")
    backfill.add_argument("path", type=Path, metavar="PATH")
    backfill.set_defaults(run=_import)

    check = commands.add_parser("check-config", help="check the config file and exit")
    check.set_defaults(run=_check_config)

    database = commands.add_parser("db", help="database maintenance")
    database_commands = database.add_subparsers(required=True, metavar="ACTION")
    database_commands.add_parser("upgrade", help="bring the schema up to date").set_defaults(run=_db_upgrade)

    rules.add_commands(commands)
    twilio.add_commands(commands)
    people.add_commands(commands)
    contacts.add_commands(commands)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    for option in ("smtp", "web"):
        value = getattr(args, option, None)
        if value:
            listen = parse_listen(value, lambda problem, o=option: UsageError(f"--{o}: {problem}"))
            section = dataclasses.replace(getattr(settings, option), listen=listen)
            settings = dataclasses.replace(settings, **{option: section})
    return settings


def _worker_count(text: str) -> int:
    if not text.isdecimal() or int(text) > 256:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 256")
    return int(text)


def _workers(settings: Settings, args: argparse.Namespace) -> int:
    from intake.cli.runtime import default_workers

    return default_workers(settings.database) if args.workers is None else int(args.workers)


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    _run(settings, args, smtp=True, web=True, imap=True, workers=_workers(settings, args))


def _smtp(settings: Settings, args: argparse.Namespace) -> None:
    _run(settings, args, smtp=True, web=False, workers=_workers(settings, args))


def _worker(settings: Settings, args: argparse.Namespace) -> None:
    from intake.cli.runtime import open_runtime, run_worker

    run_worker(open_runtime(settings), args.parent)


def _web(settings: Settings, args: argparse.Namespace) -> None:
    _run(settings, args, smtp=False, web=True, workers=_workers(settings, args))


def _imap(settings: Settings, args: argparse.Namespace) -> None:
    if not settings.imap:
        raise UsageError(f"{settings.source} names no IMAP mailbox ([[imap]])")
    _run(settings, args, smtp=False, web=False, imap=True)


def _run(
    settings: Settings,
    args: argparse.Namespace,
    *,
    smtp: bool,
    web: bool,
    imap: bool = False,
    workers: int = 0,
) -> None:
    from intake.cli.runtime import open_runtime, run_services

    print(f"Intake for {settings.office_name}, config {settings.source}", flush=True)
    runtime = open_runtime(settings)
    say = lambda line: print(line, flush=True)  # noqa: E731
    # A reload keeps the listen addresses the command line gave, as a restart would.
    given = [f"{option}.listen" for option in ("smtp", "web") if getattr(args, option, None)]
    run_services(runtime, smtp=smtp, web=web, imap=imap, say=say, workers=workers, given=given)


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from intake.cli.runtime import open_runtime
    from intake.email.mailbox_import import BackfillError, Progress, import_mailbox, open_mailbox
    from intake.email.parse_workers import ParseWorkers, WorkerLimits
    from intake.email.parser import EmailLimits

    try:
        box = open_mailbox(args.kind, args.path)
    except BackfillError as error:
        raise UsageError(str(error)) from None
    runtime = open_runtime(settings)
    try:
        progress = Progress(sys.stderr, len(box))
        limits = EmailLimits.from_settings(settings)
        with ParseWorkers(WorkerLimits.from_settings(settings.email)) as workers:
            report = import_mailbox(box, runtime.deliverer.deliver, progress, limits, workers.parse)
        progress.finish()
    finally:
        box.close()
        runtime.engine.dispose()
    print(f"{args.path}: {report.summary()}")
    for which, why in report.failed:
        print(f"  {which}: {why}", file=sys.stderr)
    return 1 if report.failed else 0


def _check_config(settings: Settings, args: argparse.Namespace) -> None:
    build_router(settings)
    names = ", ".join(d.id for d in settings.departments)
    print(f"{settings.source}: OK ({len(settings.departments)} departments: {names})")
    print(f"{len(settings.rules)} rules; {len(settings.rule_tests)} rule tests pass")


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> None:
    engine = make_engine(settings.database)
    upgrade(engine, settings.languages)
    engine.dispose()
    print("The database schema is up to date.")
