"""The `hours` condition: the office's opening hours and named schedules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.loading import ConfigError
from routing.engine import Router
from tests.support.routers import CLOSED_TIME, OPEN_TIME, decide, email, office_with, rfc5322, rule_under_test

MAIL = rfc5322("From: ann@client.example", "To: hello@office.test", "Subject: Hi", "Message-ID: <h1@c>")
# The test office closes for lunch on Mondays: 12:00-13:00 in New York.
MONDAY_LUNCH = datetime(2026, 11, 2, 17, 30, tzinfo=UTC)
ON_CALL = '[schedules.on-call]\nsat = ["08:00-20:00"]\nsun = ["08:00-20:00"]\n'


def _routed(tmp_path: Path, when: str, received_at: datetime, extra: str = "") -> bool:
    router = Router(office_with(tmp_path, extra + rule_under_test(when)))
    return decide(router, email(MAIL, received_at=received_at)).department_id == "billing"


def test_open_and_closed_follow_the_office_hours_in_its_zone(tmp_path: Path) -> None:
    assert _routed(tmp_path, 'hours = "open"', OPEN_TIME)
    assert not _routed(tmp_path, 'hours = "open"', CLOSED_TIME)
    assert _routed(tmp_path, 'hours = "closed"', CLOSED_TIME)
    assert _routed(tmp_path, 'hours = "closed"', MONDAY_LUNCH)


def test_a_named_schedule(tmp_path: Path) -> None:
    assert _routed(tmp_path, 'hours = "on-call"', CLOSED_TIME, ON_CALL)
    assert not _routed(tmp_path, 'hours = "on-call"', OPEN_TIME, ON_CALL)


def test_the_reason_gives_the_local_time(tmp_path: Path) -> None:
    router = Router(office_with(tmp_path, rule_under_test('hours = "closed"')))
    hit = decide(router, email(MAIL, received_at=CLOSED_TIME)).outcomes[0]
    assert hit.reason.startswith("arrived Sat 10:00, office closed")


def test_an_unknown_schedule_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rule 'under-test': hours: unknown schedule 'nights'"):
        Router(office_with(tmp_path, rule_under_test('hours = "nights"')))
