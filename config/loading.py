"""Reading an office's TOML file into Settings, refusing anything doubtful.

Every problem is reported as a ConfigError naming the file, the key and what is
wrong, so that a broken file stops Intake at start with one clear line.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from config.rules import rule_tests, rules
from config.settings import (
    WEEKDAYS,
    DatabaseSettings,
    Department,
    ListenAddress,
    OpeningHours,
    RoutingSettings,
    Settings,
    SmtpSettings,
    WebSettings,
)

DEFAULT_CONFIG = Path(__file__).with_name("default.toml")
DEFAULT_DATABASE_URL = "sqlite:///intake.db"

_DEPARTMENT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+[1-9][0-9]{5,14}$")
_SPAN = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class ConfigError(Exception):
    """A configuration file that cannot be used, with the key at fault."""

    def __init__(self, source: Path, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem


class _Table:
    """One TOML table being read: typed getters that name the full key on error."""

    def __init__(self, source: Path, prefix: str, data: Mapping[str, Any]) -> None:
        self.source, self.prefix, self.data = source, prefix, data

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.source, self.key(name), problem)

    def only(self, *allowed: str) -> None:
        for name in self.data:
            if name not in allowed:
                raise self.fail(name, f"unknown key (allowed here: {', '.join(allowed)})")

    def get(self, name: str, kind: type, default: Any = ...) -> Any:
        if name not in self.data:
            if default is ...:
                raise self.fail(name, "is required")
            return default
        value = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(name, f"must be {kind.__name__}, not {type(value).__name__}")
        return value

    def text(self, name: str, default: Any = ...) -> str:
        value = self.get(name, str, default)
        if isinstance(value, str) and not value.strip():
            raise self.fail(name, "must not be empty")
        return value  # type: ignore[no-any-return]

    def strings(self, name: str) -> tuple[str, ...]:
        values = self.get(name, list, [])
        if not all(isinstance(v, str) for v in values):
            raise self.fail(name, "must be a list of strings")
        return tuple(values)

    def table(self, name: str) -> _Table:
        return _Table(self.source, self.key(name), self.get(name, dict, {}))

    def tables(self, name: str) -> list[_Table]:
        values = self.get(name, list, [])
        if not all(isinstance(v, dict) for v in values):
            raise self.fail(name, "must be an array of tables ([[" + self.key(name) + "]])")
        return [_Table(self.source, f"{self.key(name)}[{i}]", v) for i, v in enumerate(values)]


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load the office from `path` (or INTAKE_CONFIG, or the shipped sample office).

    INTAKE_DATABASE_URL, INTAKE_SMTP and INTAKE_WEB override the file's values.
    """
    env = os.environ if environ is None else environ
    source = Path(path or env.get("INTAKE_CONFIG") or DEFAULT_CONFIG)
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(source, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(source, "", f"cannot be read ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(source, "", f"not valid TOML: {error}") from None
    return _settings(_Table(source, "", data), env)


def _settings(root: _Table, env: Mapping[str, str]) -> Settings:
    root.only(
        "office", "departments", "smtp", "web", "database", "rules", "rule_tests", "schedules", "routing"
    )
    office = root.table("office")
    office.only("name", "domains", "timezone", "default_department", "hours")
    domains = tuple(d.lower() for d in office.strings("domains"))
    if not domains:
        raise office.fail("domains", "name at least one domain the office receives mail for")
    departments = _departments(root, domains)
    default_department = office.text("default_department")
    if default_department not in {d.id for d in departments}:
        known = ", ".join(d.id for d in departments)
        raise office.fail("default_department", f"unknown department {default_department!r} (known: {known})")
    timezone = _timezone(office)
    return Settings(
        source=root.source,
        office_name=office.text("name"),
        domains=domains,
        timezone=timezone,
        hours=_hours(office.table("hours")),
        departments=departments,
        default_department=default_department,
        smtp=_smtp(root.table("smtp"), env),
        web=_web(root.table("web"), env),
        database=_database(root.table("database"), env),
        rules=rules(root, departments),
        rule_tests=rule_tests(root, departments),
        schedules=_schedules(root.table("schedules")),
        routing=_routing(root.table("routing")),
    )


def _timezone(office: _Table) -> ZoneInfo:
    name = office.text("timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise office.fail(
            "timezone", f"unknown time zone {name!r} (use an IANA name such as Europe/London)"
        ) from None


def _departments(root: _Table, domains: tuple[str, ...]) -> tuple[Department, ...]:
    tables = root.tables("departments")
    if not tables:
        raise root.fail("departments", "define at least one department ([[departments]])")
    departments: list[Department] = []
    owners: dict[str, str] = {}  # address or phone -> the department that has it
    for table in tables:
        department = _department(table, domains)
        if department.id in {d.id for d in departments}:
            raise table.fail("id", f"duplicate department id {department.id!r}")
        for key, contacts in (("addresses", department.addresses), ("phones", department.phones)):
            for contact in contacts:
                if contact in owners:
                    raise table.fail(key, f"{contact!r} already belongs to department {owners[contact]!r}")
                owners[contact] = department.id
        departments.append(department)
    return tuple(departments)


def _department(table: _Table, domains: tuple[str, ...]) -> Department:
    table.only("id", "name", "addresses", "phones", "description", "keywords")
    department_id = table.text("id")
    if not _DEPARTMENT_ID.match(department_id):
        raise table.fail("id", f"{department_id!r} must be lower-case letters, digits, '-' or '_'")
    addresses = tuple(a.lower() for a in table.strings("addresses"))
    for address in addresses:
        if not _ADDRESS.match(address):
            raise table.fail("addresses", f"{address!r} is not an email address")
        if address.rpartition("@")[2] not in domains:
            raise table.fail("addresses", f"{address!r} is not at one of office.domains")
    phones = table.strings("phones")
    for phone in phones:
        if not _PHONE.match(phone):
            raise table.fail("phones", f"{phone!r} is not an E.164 number such as +15555550100")
    return Department(
        id=department_id,
        name=table.text("name"),
        addresses=addresses,
        phones=phones,
        description=table.get("description", str, ""),
        keywords=table.strings("keywords"),
    )


def _hours(table: _Table) -> OpeningHours:
    table.only(*WEEKDAYS)
    spans = []
    for day in WEEKDAYS:
        day_spans = []
        for text in table.strings(day):
            match = _SPAN.match(text)
            if not match:
                raise table.fail(day, f'{text!r} is not a span such as "09:00-17:30"')
            try:
                start = time(int(match[1]), int(match[2]))
                end = time(int(match[3]), int(match[4]))
            except ValueError:
                raise table.fail(day, f"{text!r} is not a real time of day") from None
            if end <= start:
                raise table.fail(day, f"{text!r} ends before it starts")
            day_spans.append((start, end))
        spans.append(tuple(day_spans))
    return OpeningHours(spans=tuple(spans))


def _listen(table: _Table, name: str, override: str | None, default: str) -> ListenAddress:
    text = override if override is not None else table.get(name, str, default)
    return parse_listen(text, lambda problem: table.fail(name, problem))


def parse_listen(text: str, error: Any = ValueError) -> ListenAddress:
    """Parse "HOST:PORT" (an IPv6 host in brackets), raising error(problem) when bad."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise error(f"{text!r} is not HOST:PORT with a port from 1 to 65535")
    return ListenAddress(host, int(port))


def _smtp(table: _Table, env: Mapping[str, str]) -> SmtpSettings:
    table.only("listen", "max_message_size", "hostname")
    size = table.get("max_message_size", int, SmtpSettings.max_message_size)
    if size < 1024:
        raise table.fail("max_message_size", "must be at least 1024 bytes")
    return SmtpSettings(
        listen=_listen(table, "listen", env.get("INTAKE_SMTP"), "127.0.0.1:2525"),
        max_message_size=size,
        hostname=table.text("hostname", SmtpSettings.hostname),
    )


def _web(table: _Table, env: Mapping[str, str]) -> WebSettings:
    table.only("listen", "page_size")
    page_size = table.get("page_size", int, WebSettings.page_size)
    if not 1 <= page_size <= 500:
        raise table.fail("page_size", "must be from 1 to 500")
    listen = _listen(table, "listen", env.get("INTAKE_WEB"), "127.0.0.1:8080")
    check_web_listen(listen, lambda problem: table.fail("listen", problem))
    return WebSettings(listen=listen, page_size=page_size)


def check_web_listen(listen: ListenAddress, error: Any) -> None:
    """Refuse to show the queues beyond this machine while the web has no login."""
    try:
        loopback = ipaddress.ip_address(listen.host).is_loopback
    except ValueError:
        loopback = listen.host == "localhost"
    if not loopback:
        raise error(
            f"{listen.host} is not a loopback address: the web has no login yet, so it listens on 127.0.0.1 or ::1 only"
        )


def _database(table: _Table, env: Mapping[str, str]) -> DatabaseSettings:
    table.only("url", "lock_timeout_seconds")
    url = env.get("INTAKE_DATABASE_URL") or table.text("url", DEFAULT_DATABASE_URL)
    if not url.startswith(("sqlite:", "postgresql")):
        raise table.fail("url", f"{url!r} is neither a sqlite: nor a postgresql URL")
    timeout = table.get("lock_timeout_seconds", float, DatabaseSettings.lock_timeout_seconds)
    if timeout <= 0:
        raise table.fail("lock_timeout_seconds", "must be greater than 0")
    return DatabaseSettings(url=url, lock_timeout_seconds=timeout)


def _schedules(table: _Table) -> tuple[tuple[str, OpeningHours], ...]:
    return tuple((name, _hours(table.table(name))) for name in table.data)


def _routing(table: _Table) -> RoutingSettings:
    table.only("suggest_threshold")
    threshold = table.get("suggest_threshold", float, RoutingSettings.suggest_threshold)
    if not 0.0 < threshold <= 1.0:
        raise table.fail("suggest_threshold", "must be greater than 0 and at most 1")
    return RoutingSettings(suggest_threshold=threshold)
