"""The `intake` command: serve, run one part, check the config, upgrade, route."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from config.loading import ConfigError, check_web_listen, load_settings
from config.settings import RuleTest, Settings
from config.table import parse_listen
from intake.email_parser import EmailLimits, parse_email
from intake.replay import BadSpan, parse_since, print_replay, replay
from intake.rule_tests import build_router, fixture_message, run_rule_tests
from routing.database import make_engine, make_session_factory, transaction
from routing.engine import Router, RoutingDecision
from routing.message import InboundMessage
from routing.schema import SchemaOutOfDate, current_revision, head_revision, upgrade

if TYPE_CHECKING:
    from intake.twilio_simulate import Target


class UsageError(Exception):
    """A command line that cannot be carried out; the message says why."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiosmtpd logs every SMTP command at INFO; its warnings are what an operator needs.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    try:
        settings = _settings(args)
        return int(args.run(settings, args) or 0)
    except (ConfigError, SchemaOutOfDate, UsageError) as error:
        print(f"intake: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intake", description="The front office of a business, in software."
    )
    parser.add_argument(
        "--config", type=Path, help="the office's TOML file (default: INTAKE_CONFIG or the sample office)"
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

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

    route = commands.add_parser("route", help="show where a message would go, without storing it")
    route.add_argument("file", type=Path, metavar="FILE.eml", nargs="?", help="an email as a file")
    route.add_argument("--sms", metavar="TEXT", help="route a text message with this body instead")
    route.add_argument("--from", dest="sender", metavar="NUMBER", default="", help="the text's sender")
    route.add_argument("--to", metavar="NUMBER", default="", help="the office number the text was sent to")
    route.add_argument(
        "--explain", action="store_true", help="check and list every rule, not only those the index picks"
    )
    route.set_defaults(run=_route)
    _add_twilio_commands(commands)
    _add_rules_commands(commands)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    for option in ("smtp", "web"):
        value = getattr(args, option, None)
        if value:
            listen = parse_listen(value, lambda problem, o=option: UsageError(f"--{o}: {problem}"))
            if option == "web":
                check_web_listen(listen, lambda problem: UsageError(f"--web: {problem}"))
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
    from intake.runtime import open_runtime, run_services

    print(f"Intake for {settings.office_name}, config {settings.source}", flush=True)
    runtime = open_runtime(settings)
    run_services(runtime, smtp=smtp, web=web, imap=imap, say=lambda line: print(line, flush=True))


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from intake.backfill import BackfillError, Progress, import_mailbox, open_mailbox
    from intake.runtime import open_runtime

    try:
        box = open_mailbox(args.kind, args.path)
    except BackfillError as error:
        raise UsageError(str(error)) from None
    runtime = open_runtime(settings)
    try:
        progress = Progress(sys.stderr, len(box))
        report = import_mailbox(box, runtime.deliverer.deliver, progress)
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
    upgrade(engine)
    engine.dispose()
    print("The database schema is up to date.")


def _route(settings: Settings, args: argparse.Namespace) -> None:
    message = _message_to_route(settings, args)
    router = Router(settings)
    engine = _current_database(settings)
    if engine is None:
        decision = router.route(message, explain=args.explain)
    else:
        with transaction(make_session_factory(engine), write=False) as session:
            decision = router.route(message, session, explain=args.explain)
        engine.dispose()
    _print_decision(decision, learned=engine is not None)


def _current_database(settings: Settings) -> Engine | None:
    """The database, if there is one at the current schema; None, creating nothing, if not."""
    url = make_url(settings.database.url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return None  # connecting would create an empty file
    engine = make_engine(settings.database)
    try:
        if current_revision(engine) == head_revision():
            return engine
    except SQLAlchemyError:
        pass
    engine.dispose()
    return None


def _print_decision(decision: RoutingDecision, *, learned: bool) -> None:
    print(f"department: {decision.department_id}")
    print(f"reason:     {decision.reason}")
    if decision.other_departments:
        print(f"also for:   {', '.join(decision.other_departments)}")
    print(f"priority:   {decision.priority}")
    print(f"tags:       {', '.join(decision.tags) or '-'}")
    flags = [name for name, on in (("spam", decision.spam), ("machine mail", decision.machine)) if on]
    print(f"marked:     {', '.join(flags) or '-'}")
    if decision.suggestion is not None:
        suggestion = decision.suggestion
        source = "the config's seeds and what was learned" if learned else "the config's seeds; no database"
        print(f"suggestion: {suggestion.department_id} ({suggestion.confidence:.2f}, from {source})")
    print("rules:")
    for outcome in decision.outcomes:
        print(f"  {'hit ' if outcome.matched else 'miss'}  {outcome.rule}: {outcome.reason}")


def _message_to_route(settings: Settings, args: argparse.Namespace) -> InboundMessage:
    if (args.file is None) == (args.sms is None):
        raise UsageError("route: give either FILE.eml or --sms TEXT")
    if args.sms is not None:
        if not args.sender or not args.to:
            raise UsageError("route --sms: give --from NUMBER and --to NUMBER too")
        test = RuleTest(
            name="command line",
            expect="",
            key="",
            channel="sms",
            sender=args.sender,
            to=(args.to,),
            text=args.sms,
        )
        return dataclasses.replace(fixture_message(test), received_at=datetime.now(UTC))
    try:
        raw = args.file.read_bytes()
    except OSError as error:
        raise UsageError(f"{args.file}: {error.strerror}") from None
    return parse_email(raw, limits=EmailLimits.from_settings(settings))


def _add_rules_commands(commands: Any) -> None:
    rules = commands.add_parser("rules", help="test the config's rules, or replay them over stored items")
    actions = rules.add_subparsers(required=True, metavar="ACTION")
    actions.add_parser("test", help="route the config's [[rule_tests]] and name each failure").set_defaults(
        run=_rules_test
    )
    replay = actions.add_parser("replay", help="show where stored items would go now; changes nothing")
    replay.add_argument(
        "--since", default="30d", help="items received since: 30d, 12h, 2w or a date (default 30d)"
    )
    replay.add_argument(
        "--config", dest="new_config", type=Path, metavar="NEW.toml", help="replay under this config instead"
    )
    replay.set_defaults(run=_rules_replay)


def _rules_test(settings: Settings, args: argparse.Namespace) -> int:
    results = run_rule_tests(settings, Router(settings))
    for result in results:
        if result.passed:
            print(f"pass  {result.test.name}: {result.test.expect}")
        else:
            print(
                f"FAIL  {result.test.name} ({result.test.key}): expected {result.test.expect}, "
                f"got {result.decision.department_id} ({result.decision.reason})"
            )
    failed = sum(not result.passed for result in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _rules_replay(settings: Settings, args: argparse.Namespace) -> None:
    try:
        since = parse_since(args.since, datetime.now(UTC))
    except BadSpan as error:
        raise UsageError(str(error)) from None
    candidate = load_settings(args.new_config) if args.new_config else settings
    engine = _current_database(settings)
    if engine is None:
        raise UsageError("there is no database at the current schema to replay (see `intake db upgrade`)")
    try:
        report = replay(make_session_factory(engine), Router(candidate), since)
    finally:
        engine.dispose()
    print_replay(report, candidate, since)


def _add_twilio_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    twilio = commands.add_parser("twilio", help="try the phone side without a Twilio account")
    actions = twilio.add_subparsers(required=True, metavar="ACTION")
    simulate = actions.add_parser("simulate", help="send signed Twilio webhooks to a running Intake")
    kinds = simulate.add_subparsers(required=True, metavar="KIND")
    sms = kinds.add_parser("sms", help="a text message")
    sms.add_argument("text")
    sms.set_defaults(run=_simulate_sms)
    voicemail = kinds.add_parser("voicemail", help="a call that leaves a recording and its transcript")
    voicemail.add_argument("--wav", type=Path, required=True, metavar="FILE", help="the recording to leave")
    voicemail.add_argument(
        "--transcript", default="This is a test voicemail left with intake twilio simulate.", help="its words"
    )
    voicemail.add_argument("--wait", type=float, default=30.0, help="seconds to wait for Intake to fetch it")
    voicemail.set_defaults(run=_simulate_voicemail)
    for kind in (sms, voicemail):
        kind.add_argument("--from", dest="sender", default="+15555550199", help="the caller's number")
        kind.add_argument("--to", required=True, help="the office's number that is called")
        kind.add_argument("--url", help="where to send (default: twilio.public_url, else the web address)")


def _twilio_target(settings: Settings, args: argparse.Namespace) -> Target:
    from intake.twilio_simulate import Target

    if not settings.twilio.configured:
        raise UsageError("twilio.account_sid and an auth token must be configured to sign requests")
    send_base = (args.url or settings.twilio.public_url or f"http://{settings.web.listen}").rstrip("/")
    return Target(send_base, settings.twilio.public_url or send_base, settings.twilio)


def _simulate_sms(settings: Settings, args: argparse.Namespace) -> int:
    from intake.twilio_simulate import SimulationError, simulate_sms

    try:
        answer = simulate_sms(_twilio_target(settings, args), args.sender, args.to, args.text)
    except SimulationError as error:
        raise UsageError(str(error)) from None
    print(f"Intake accepted the text message; it answered: {answer}")
    return 0


def _simulate_voicemail(settings: Settings, args: argparse.Namespace) -> int:
    from intake.twilio_simulate import SimulationError, simulate_voicemail

    try:
        wav = args.wav.read_bytes()
    except OSError as error:
        raise UsageError(f"{args.wav}: {error.strerror}") from None
    target = _twilio_target(settings, args)
    try:
        fetched = simulate_voicemail(target, args.sender, args.to, wav, args.transcript, args.wait, print)
    except SimulationError as error:
        raise UsageError(str(error)) from None
    if not fetched:
        print(f"Intake did not fetch the recording within {args.wait:g} s", file=sys.stderr)
        return 1
    print("Intake fetched the recording; the voicemail is in its queue.")
    return 0
