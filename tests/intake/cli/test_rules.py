"""The tools for the people who own the rules: route, rules test, rules replay, check-config."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from config.loading import load_settings
from intake.cli.runtime import open_runtime
from intake.email.parser import parse_email
from routing.learning import MIN_SIGHTINGS, learn
from routing.store.database import transaction
from routing.store.models import Item
from tests.conftest import OFFICE
from tests.support.command import ROOT, intake
from tests.support.mail import email_bytes
from tests.support.routers import lesson, sms

SAMPLES = ROOT / "config" / "samples"
INVOICES = (
    '[[rules]]\nname = "invoices"\nwhen = { subject = ["invoice"] }\nroute = "billing"\ntags = ["invoice"]\n'
)
FACILITIES = '[[departments]]\nid = "facilities"\nname = "Facilities"\n'
FAILING_FIXTURE = '[[rule_tests]]\nname = "a quote"\nfrom = "a@b.example"\nto = ["hello@office.test"]\nsubject = "quote"\nexpect = "sales"\n'


def _office(tmp_path: Path, name: str, extra: str) -> Path:
    path = tmp_path / name
    path.write_text(OFFICE.read_text() + "\n" + extra)
    return path


def test_route_an_email_of_the_sample_office() -> None:
    result = intake("route", str(SAMPLES / "invoice-to-sales.eml"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        "department: billing",
        "reason:     rule 'invoices' routes to billing (3 other rules could not apply)",
        "priority:   normal",
        "tags:       invoice",
        "marked:     -",
    ]
    assert "  hit   invoices: subject has 'invoice': routed to billing, tag invoice" in lines


def test_route_explain_lists_every_rule() -> None:
    result = intake("route", str(SAMPLES / "quote.eml"), "--explain")
    assert result.returncode == 0, result.stderr
    assert "department: sales" in result.stdout
    listed = [line.split()[1].rstrip(":") for line in result.stdout.splitlines() if line.startswith("  ")]
    assert listed == ["bounces", "invoices", "urgent-after-hours", "support-texts", "lists", "recipient"]


def test_route_a_text_message() -> None:
    result = intake(
        "route", "--sms", "The heating is not working", "--from", "+447700900123", "--to", "+441632960000"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("department: support\n")
    assert "  hit   support-texts: came by sms and body has 'not working': routed to support" in result.stdout


def test_route_reads_what_was_learned_from_the_database(tmp_path: Path, database_url: str) -> None:
    config = _office(tmp_path, "office.toml", FACILITIES)
    runtime = open_runtime(load_settings(config, {"INTAKE_DATABASE_URL": database_url}))
    with transaction(runtime.sessions) as session:
        for _ in range(MIN_SIGHTINGS):
            learn(session, lesson(runtime.settings, "parking permit for the car park barrier"), "facilities")
    runtime.engine.dispose()
    command = (
        "--config",
        str(config),
        "route",
        "--sms",
        "A parking permit?",
        "--from",
        "+15555550123",
        "--to",
        "+15555550100",
    )

    learned = intake(*command, database_url=database_url)
    assert learned.returncode == 0, learned.stderr
    assert learned.stdout.startswith("department: facilities\n")
    assert "from the config's seeds and what was learned)" in learned.stdout
    without = intake(*command, database_url=f"sqlite:///{tmp_path / 'none.db'}")
    assert without.stdout.startswith("department: front-desk\n") and not (tmp_path / "none.db").exists()


def test_route_refuses_a_muddled_command_line(tmp_path: Path) -> None:
    assert "give either FILE.eml (one or more, or folders of them) or --sms TEXT" in intake("route").stderr
    assert "give --from NUMBER and --to NUMBER" in intake("route", "--sms", "hi").stderr
    missing = intake("route", str(tmp_path / "none.eml"))
    assert missing.returncode == 1
    assert missing.stderr == f"intake: {tmp_path / 'none.eml'}: No such file or directory\n"


def test_rules_test_passes_on_the_sample_office() -> None:
    result = intake("rules", "test")
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "5 passed, 0 failed"


def test_a_failing_fixture_is_named_and_refuses_the_config(tmp_path: Path) -> None:
    config = _office(tmp_path, "office.toml", FAILING_FIXTURE)
    tested = intake("--config", str(config), "rules", "test")
    assert tested.returncode == 1
    assert "FAIL  a quote (rule_tests[0]): expected sales, got front-desk" in tested.stdout
    checked = intake("--config", str(config), "check-config")
    assert checked.returncode == 2
    assert (
        f"intake: {config}: rule_tests[0]: rule test 'a quote' expects sales but the message goes to front-desk"
        in checked.stderr
    )
    served = intake("--config", str(config), "serve", "--smtp", "127.0.0.1:1", "--web", "127.0.0.1:1")
    assert served.returncode == 2 and "rule test 'a quote' expects sales" in served.stderr


def test_replay_shows_what_would_move_and_changes_nothing(tmp_path: Path, database_url: str) -> None:
    current = _office(tmp_path, "current.toml", "")
    runtime = open_runtime(load_settings(current, {"INTAKE_DATABASE_URL": database_url}))
    for number, subject in enumerate(["Invoice 7 is wrong", "Prices please"]):
        raw = email_bytes(subject=subject, message_id=f"<replay{number}@client.example>")
        runtime.deliverer.deliver(parse_email(raw))
    runtime.deliverer.deliver(sms("is invoice 8 paid?", received_at=datetime.now(UTC)))
    candidate = _office(tmp_path, "new.toml", INVOICES)

    result = intake(
        "--config",
        str(current),
        "rules",
        "replay",
        "--since",
        "2d",
        "--config",
        str(candidate),
        database_url=database_url,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["item", "received", "from", "subject", "now", "would", "go", "to", "because"]
    assert re.search(
        r"  ann@client\.example +Invoice 7 is wrong +sales +billing +rule 'invoices' routes", lines[1]
    )
    assert "3 items since" in lines[2] and lines[2].endswith(
        f"replayed under {candidate}: 1 would move, 2 stay."
    )
    assert lines[3:] == ["  sales -> billing: 1"]
    with transaction(runtime.sessions, write=False) as session:
        assert sorted(session.scalars(select(Item.department_id))) == ["sales", "sales", "sales"]
    runtime.engine.dispose()


def test_replay_refuses_a_bad_span_and_a_missing_database(tmp_path: Path) -> None:
    result = intake("rules", "replay", "--since", "last week")
    assert result.returncode == 2 and "--since 'last week' is neither a span" in result.stderr
    missing = intake("rules", "replay", database_url=f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.returncode == 2 and "there is no database at the current schema" in missing.stderr
    assert not (tmp_path / "none.db").exists()
