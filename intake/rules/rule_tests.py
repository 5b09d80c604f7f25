"""The config's rule fixtures: each message (a file, or fields written inline) must be
routed to its expected department, or the config is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from config.loading import ConfigError
from config.settings import RuleTest, Settings
from intake.email.parser import parse_email
from routing.engine import Router, RoutingDecision
from routing.message import InboundMessage, content_hash

# Inline fixtures without a time are routed as if they came on a Tuesday morning in July.
FIXTURE_TIME = datetime(2026, 7, 7, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class RuleTestResult:
    test: RuleTest
    decision: RoutingDecision

    @property
    def passed(self) -> bool:
        return self.decision.department_id == self.test.expect


def fixture_message(test: RuleTest) -> InboundMessage:
    """The message a fixture describes, as the channel's adapter would have made it."""
    received_at = test.received_at or FIXTURE_TIME
    if test.file is not None:
        return parse_email(test.file.read_bytes(), received_at=received_at)
    raw = f"{test.sender}\n{test.to}\n{test.subject}\n{test.text}".encode()
    return InboundMessage(
        channel=test.channel,
        sender=test.sender,
        recipients=tuple(r.lower() for r in test.to),
        subject=test.subject,
        text=test.text,
        idempotency_key=f"rule-test:{content_hash(raw)}",
        received_at=received_at,
        raw=raw,
        raw_content_type="text/plain",
    )


def run_rule_tests(settings: Settings, router: Router) -> list[RuleTestResult]:
    """Route every fixture (rules and the config's seeds only: no database)."""
    return [RuleTestResult(test, router.route(_read_fixture(settings, test))) for test in settings.rule_tests]


def _read_fixture(settings: Settings, test: RuleTest) -> InboundMessage:
    """The fixture's message; a ConfigError naming its file when that cannot be read.

    The loader saw a file there, but it may have changed since, or be one this process
    may not read; an OSError would end a reload's signal handler, and the process.
    """
    try:
        return fixture_message(test)
    except OSError as error:
        raise ConfigError(
            settings.source,
            f"{test.key}.file",
            f"rule test {test.name!r}: cannot read {str(test.file)!r} ({error.strerror or error})",
        ) from None


def check_rule_tests(settings: Settings, router: Router) -> None:
    """Refuse the config with a ConfigError naming the first fixture that fails."""
    failed = [result for result in run_rule_tests(settings, router) if not result.passed]
    if failed:
        first = failed[0]
        raise ConfigError(
            settings.source,
            first.test.key,
            f"rule test {first.test.name!r} expects {first.test.expect} but the message goes to "
            f"{first.decision.department_id} ({first.decision.reason})"
            + (f"; {len(failed) - 1} more failing: run `intake rules test`" if len(failed) > 1 else ""),
        )


def build_router(settings: Settings) -> Router:
    """Compile the config's rules and prove its fixtures pass; ConfigError if not."""
    router = Router(settings)
    check_rule_tests(settings, router)
    return router
