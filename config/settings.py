"""Typed, frozen settings of one office, as loaded from its TOML file.

These objects are built once at start (see config.loading) and passed to whatever
needs them; nothing imports a global configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    addresses: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    description: str = ""
    # Words that seed the learned suggestion before any message has been corrected.
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpeningHours:
    """Per weekday (0 = Monday), the spans of time the office is open."""

    spans: tuple[tuple[tuple[time, time], ...], ...]

    def is_open(self, at: datetime, zone: ZoneInfo) -> bool:
        local = at.astimezone(zone)
        now = local.time()
        return any(start <= now < end for start, end in self.spans[local.weekday()])


@dataclass(frozen=True)
class SmtpSettings:
    listen: ListenAddress
    max_message_size: int = 25 * 1024 * 1024
    hostname: str = "intake"


@dataclass(frozen=True)
class WebSettings:
    listen: ListenAddress
    page_size: int = 50


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    # How long a write waits for a lock before it gives up and the sender is asked to retry.
    lock_timeout_seconds: float = 10.0


PRIORITIES = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class ConditionSettings:
    """One condition of a rule as written: its kind, its argument, and where it sits.

    The kinds are known to the routing engine, which checks and compiles them; `key`
    (such as "rules[2].when.any[0]") lets it name the place of a mistake.
    """

    kind: str
    argument: object
    key: str


@dataclass(frozen=True)
class RuleSettings:
    """A named routing rule: when its condition holds, its action applies."""

    name: str
    description: str
    when: ConditionSettings
    key: str
    route: str | None = None
    priority: str | None = None
    tags: tuple[str, ...] = ()
    spam: bool = False
    machine: bool = False
    stop: bool = True


@dataclass(frozen=True)
class RuleTest:
    """A fixture: a message (a file, or fields written inline) and where it must go."""

    name: str
    expect: str
    key: str
    file: Path | None = None
    channel: str = "email"
    sender: str = ""
    to: tuple[str, ...] = ()
    subject: str = ""
    text: str = ""
    received_at: datetime | None = None


@dataclass(frozen=True)
class RoutingSettings:
    # A learned suggestion at or above this confidence routes; below it, it is only shown.
    suggest_threshold: float = 0.8


@dataclass(frozen=True)
class Settings:
    source: Path
    office_name: str
    domains: tuple[str, ...]
    timezone: ZoneInfo
    hours: OpeningHours
    departments: tuple[Department, ...]
    default_department: str
    smtp: SmtpSettings
    web: WebSettings
    database: DatabaseSettings

    rules: tuple[RuleSettings, ...] = ()
    rule_tests: tuple[RuleTest, ...] = ()
    schedules: tuple[tuple[str, OpeningHours], ...] = ()
    routing: RoutingSettings = RoutingSettings()

    def department(self, department_id: str) -> Department:
        for department in self.departments:
            if department.id == department_id:
                return department
        raise KeyError(department_id)

    def schedule(self, name: str) -> OpeningHours:
        for schedule_name, hours in self.schedules:
            if schedule_name == name:
                return hours
        raise KeyError(name)

    def owns_domain(self, domain: str) -> bool:
        return domain.lower() in self.domains

    def is_open(self, at: datetime) -> bool:
        return self.hours.is_open(at, self.timezone)
