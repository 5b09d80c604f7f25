"""The `intake` command: serve or run one part, check the config, upgrade, import; the
routing and Twilio commands live in intake.cli.rules and intake.cli.twilio."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

from config.loading import ConfigError, load_settings
from config.settings import Settings
from config.table import parse_listen
from intake.cli import people, rules, twilio
from intake.cli.usage import UsageError
from intake.rules.rule_tests import build_router
from routing.store.database import make_engine
from routing.store.schema import SchemaOutOfDate, upgrade


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiosmtpd logs every SMTP command at INFO; its warnings are what an operator needs.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    # Alembic says at INFO which database it talks to, on every command; `db upgrade` says what it did.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = _settings(args)
        return int(args.run(settings, args) or 0)
    except (ConfigError, SchemaOutOfDate, UsageError) as error:
        print(f"intake: {error}", file=sys.stderr)
        return 2


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
        command.set_defaults(run=run)

    commands.add_parser("imap", help="run the IMAP pollers only").set_defaults(run=_imap)

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


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    _run(settings, smtp=True, web=True, imap=True)


def _smtp(settings: Settings, args: argparse.Namespace) -> None:
    _run(settings, smtp=True, web=False)


def _web(settings: Settings, args: argparse.Namespace) -> None:
    _run(settings, smtp=False, web=True)


def _imap(settings: Settings, args: argparse.Namespace) -> None:
    if not settings.imap:
        raise UsageError(f"{settings.source} names no IMAP mailbox ([[imap]])")
    _run(settings, smtp=False, web=False, imap=True)


def _run(settings: Settings, *, smtp: bool, web: bool, imap: bool = False) -> None:
    from intake.cli.runtime import open_runtime, run_services

    print(f"Intake for {settings.office_name}, config {settings.source}", flush=True)
    runtime = open_runtime(settings)
    run_services(runtime, smtp=smtp, web=web, imap=imap, say=lambda line: print(line, flush=True))


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
