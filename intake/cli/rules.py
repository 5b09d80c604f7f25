"""The commands for the people who own the rules: route, rules test, rules replay, rules evaluate."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from config.loading import load_settings
from config.settings import RuleTest, Settings
from intake.cli.usage import UsageError
from intake.email.parser import EmailLimits, parse_email
from intake.rules.evaluate import BadShare, evaluate, parse_share
from intake.rules.evaluate_report import as_json, print_report
from intake.rules.labelled_set import SPLITS, BadLabels, read_labels
from intake.rules.replay import BadSpan, parse_since, print_replay, replay
from intake.rules.rule_tests import fixture_message, run_rule_tests
from routing.engine import Router, RoutingDecision
from routing.message import InboundMessage
from routing.store.database import make_engine, make_session_factory, transaction
from routing.store.schema import current_revision, head_revision


def add_commands(commands: Any) -> None:
    """`intake route` and `intake rules test|replay|evaluate`."""
    route = commands.add_parser("route", help="show where a message would go, without storing it")
    route.add_argument(
        "files", type=Path, metavar="FILE.eml", nargs="*", help="emails as files, or folders of .eml files"
    )
    route.add_argument("--sms", metavar="TEXT", help="route a text message with this body instead")
    route.add_argument("--from", dest="sender", metavar="NUMBER", default="", help="the text's sender")
    route.add_argument("--to", metavar="NUMBER", default="", help="the office number the text was sent to")
    route.add_argument(
        "--explain", action="store_true", help="check and list every rule, not only those the index picks"
    )
    route.set_defaults(run=_route)
    rules = commands.add_parser("rules", help="test the config's rules, or replay them over stored items")
    actions = rules.add_subparsers(required=True, metavar="ACTION")
    actions.add_parser("test", help="route the config's [[rule_tests]] and name each failure").set_defaults(
        run=_rules_test
    )
    # Here --config after the command names the candidate config; the office's own,
    # whose database is read, goes before it: intake --config OFFICE.toml rules replay --config NEW.toml
    replay = actions.add_parser(
        "replay", help="show where stored items would go now; changes nothing", conflict_handler="resolve"
    )
    replay.add_argument(
        "--since", default="30d", help="items received since: 30d, 12h, 2w or a date (default 30d)"
    )
    replay.add_argument(
        "--config",
        dest="new_config",
        type=Path,
        metavar="NEW.toml",
        help="replay under this config instead (the office's own --config goes before `rules`)",
    )
    replay.set_defaults(run=_rules_replay)
    _add_evaluate(actions)


def _add_evaluate(actions: Any) -> None:
    evaluate = actions.add_parser(
        "evaluate", help="route a labelled set of messages and count right, wrong and left at the front desk"
    )
    evaluate.add_argument("labels", type=Path, metavar="LABELS.tsv", help="the labelled set")
    evaluate.add_argument(
        "--teach", default="0", help="first teach this share (10%%) or count (18) of the set as corrections"
    )
    evaluate.add_argument(
        "--split", choices=(*SPLITS, "all"), default="all", help="the rows to use (default all)"
    )
    evaluate.add_argument("--seed", type=int, default=1, help="chooses the taught messages (default 1)")
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.set_defaults(run=_rules_evaluate)


def _route(settings: Settings, args: argparse.Namespace) -> int:
    """Route each message and print its decision; one that cannot be read, or is empty, is
    named and skipped, and makes the exit status 1."""
    if bool(args.files) == (args.sms is not None):
        raise UsageError("route: give either FILE.eml (one or more, or folders of them) or --sms TEXT")
    router = Router(settings)
    try:
        engine = _current_database(settings)
    except OperationalError:
        print(
            "intake: the database cannot be reached: the config's seeds stand in for what was learned",
            file=sys.stderr,
        )
        engine = None
    try:
        if args.sms is not None:
            _print_decision(
                _decide(router, engine, _text_message(args), args.explain), learned=engine is not None
            )
            return 0
        return _route_files(settings, router, engine, _eml_files(args.files), args.explain)
    finally:
        if engine is not None:
            engine.dispose()


def _route_files(
    settings: Settings, router: Router, engine: Engine | None, files: list[Path], explain: bool
) -> int:
    failed = 0
    for number, path in enumerate(files):
        try:
            raw = path.read_bytes()
        except OSError as error:
            print(f"intake: {path}: {error.strerror}", file=sys.stderr)
            failed += 1
            continue
        if not raw.strip():
            print(f"intake: {path}: empty, not an email", file=sys.stderr)
            failed += 1
            continue
        if len(files) > 1:
            print(f"{chr(10) if number else ''}== {path}")
        message = parse_email(raw, limits=EmailLimits.from_settings(settings))
        _print_decision(_decide(router, engine, message, explain), learned=engine is not None)
    return 1 if failed else 0


def _eml_files(paths: list[Path]) -> list[Path]:
    """The files named, a folder standing for the .eml files in it, in name order."""
    files: list[Path] = []
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".eml" and p.is_file())
        if not found:
            raise UsageError(f"{path}: a folder with no .eml files in it")
        files.extend(found)
    return files


def _decide(router: Router, engine: Engine | None, message: InboundMessage, explain: bool) -> RoutingDecision:
    if engine is None:
        return router.route(message, explain=explain)
    with transaction(make_session_factory(engine), write=False) as session:
        return router.route(message, session, explain=explain)


def _current_database(settings: Settings) -> Engine | None:
    """The database, if there is one at the current schema; None, creating nothing, if not.
    OperationalError when its server cannot be reached: that is not a missing database."""
    url = make_url(settings.database.url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return None  # connecting would create an empty file
    engine = make_engine(settings.database)
    try:
        if current_revision(engine) == head_revision():
            return engine
    except OperationalError:
        engine.dispose()
        raise
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


def _text_message(args: argparse.Namespace) -> InboundMessage:
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
        since = parse_since(args.since, datetime.now(UTC), settings.timezone)
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


def _rules_evaluate(settings: Settings, args: argparse.Namespace) -> None:
    # The temporary database's migrations and each taught delivery would log a line each.
    for name in ("alembic", "routing.delivery"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        rows = read_labels(args.labels, settings)
    except BadLabels as error:
        raise UsageError(str(error)) from None
    rows = [row for row in rows if args.split in ("all", row.split)]
    if not rows:
        raise UsageError(f"{args.labels}: no messages in the {args.split} split")
    try:
        teach = parse_share(args.teach, len(rows))
    except BadShare as error:
        raise UsageError(str(error)) from None
    figures = as_json(
        evaluate(settings, rows, teach, args.seed),
        str(args.labels),
        str(settings.source),
        args.split,
        args.seed,
    )
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
    else:
        print_report(figures, [d.id for d in settings.departments])
