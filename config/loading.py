"""Reading an office's TOML file into Settings, refusing anything doubtful.

Every problem is reported as a ConfigError naming the file, the key and what is
wrong, so that a broken file stops Intake at start with one clear line.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from config.answers_section import read_acknowledgement, read_forward_to, read_templates
from config.contacts_section import read_contacts, read_region, read_retention
from config.domains import owns
from config.imap_section import read_imap
from config.languages import PAGE_LANGUAGES, readable_languages
from config.mail_sections import read_email, read_smtp
from config.notify_section import read_department_notify, read_notifications
from config.outbound_section import read_outbound
from config.rules import rule_tests, rules
from config.settings import (
    END_OF_DAY,
    WEEKDAYS,
    DatabaseSettings,
    Department,
    OpeningHours,
    RoutingSettings,
    Settings,
    WebSettings,
)
from config.table import (
    ADDRESS,
    CONTROL,
    LINE_BREAK,
    PHONE,
    ConfigError,
    Table,
    bounded,
    read_listen,
    seconds,
)
from config.twilio_section import read_twilio

# ConfigError is raised from the section readers; callers catch it from here.
__all__ = ["DEFAULT_CONFIG", "ConfigError", "load_settings"]

DEFAULT_CONFIG = Path(__file__).with_name("default.toml")
DEFAULT_DATABASE_URL = "sqlite:///intake.db"
_DEPARTMENT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*\Z")
_PUBLIC_URL = re.compile(r"^https?://[^/?#@\s]+(/[^?#\s]*)?\Z")
_WEB_KEYS = (
    *("listen", "page_size", "secure_cookies", "public_url"),
    *("connection_limit", "idle_timeout_seconds", "max_request_bytes", "threads"),
)
_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]{2,}\Z")
_SPAN = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})\Z")


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load the office from `path` (or INTAKE_CONFIG, or the shipped sample office).

    INTAKE_DATABASE_URL, INTAKE_SMTP, INTAKE_WEB and INTAKE_OUTBOUND_SMTP override the file's values.
    """
    env = os.environ if environ is None else environ
    source = Path(path or env.get("INTAKE_CONFIG") or DEFAULT_CONFIG)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "", "no such file") from None
    except (OSError, ValueError) as error:  # not UTF-8, or a NUL in the path
        raise ConfigError(source, "", f"cannot be read ({error})") from None
    return settings_from_text(text, source, env)


def settings_from_text(text: str, source: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """The office a TOML text describes, read as if it were the file `source`: its errors
    name that file and its rule fixtures are found beside it. For a candidate config that
    is not in place yet, such as one uploaded to the replay page."""
    env = os.environ if environ is None else environ
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(source, "", f"not valid TOML: {error}") from None
    except RecursionError:  # tomllib reads nested arrays and tables by recursion
        raise ConfigError(source, "", "not valid TOML: arrays or tables nested too deeply") from None
    return _settings(Table(source, "", data), env)


def _settings(root: Table, env: Mapping[str, str]) -> Settings:
    root.only(
        "office", "departments", "smtp", "web", "database", "email", "imap", "twilio",
        "rules", "rule_tests", "schedules", "routing", "notifications", "outbound",
        "contacts", "retention",
    )  # fmt: skip
    office = root.table("office")
    office.only(
        "name", "domains", "timezone", "default_department", "hours", "languages", "language", "region"
    )
    domains = tuple(d.lower() for d in office.strings("domains"))
    if not domains:
        raise office.fail("domains", "name at least one domain the office receives mail for")
    languages = _languages(office)
    departments = _departments(root, domains, languages, env)
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
        smtp=read_smtp(root.table("smtp"), env, domains, departments),
        web=_web(root.table("web"), env),
        database=_database(root.table("database"), env),
        email=read_email(root.table("email")),
        imap=read_imap(root, departments, env),
        twilio=read_twilio(root.table("twilio"), env, {d.id for d in departments}),
        notifications=read_notifications(root.table("notifications"), env, departments),
        outbound=read_outbound(root.table("outbound"), env),
        rules=rules(root, departments),
        rule_tests=rule_tests(root, departments),
        schedules=_schedules(root.table("schedules")),
        routing=_routing(root.table("routing")),
        languages=languages,
        language=_page_language(office),
        contacts=read_contacts(root.table("contacts")),
        retention=read_retention(root.table("retention")),
        region=read_region(office),
    )


def _languages(office: Table) -> tuple[str, ...]:
    if "languages" not in office.data:
        return Settings.languages
    languages = tuple(code.strip().lower() for code in office.strings("languages"))
    if not languages:
        raise office.fail("languages", 'name at least one language, such as ["en"]')
    supported = readable_languages()
    for code in languages:
        if code not in supported:
            raise office.fail(
                "languages",
                f"{code!r} is not a language Intake can read (known: {', '.join(sorted(supported))})",
            )
    if len(set(languages)) != len(languages):
        raise office.fail("languages", "names a language twice")
    return languages


def _page_language(office: Table) -> str:
    if "language" not in office.data:
        return Settings.language
    code = office.text("language").strip().lower()
    if code not in PAGE_LANGUAGES:
        raise office.fail(
            "language", f"the pages are not translated into {code!r} (shipped: {', '.join(PAGE_LANGUAGES)})"
        )
    return code


def _timezone(office: Table) -> ZoneInfo:
    name = office.text("timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise office.fail(
            "timezone", f"unknown time zone {name!r} (use an IANA name such as Europe/London)"
        ) from None


def _departments(
    root: Table, domains: tuple[str, ...], languages: tuple[str, ...], env: Mapping[str, str]
) -> tuple[Department, ...]:
    tables = root.tables("departments")
    if not tables:
        raise root.fail("departments", "define at least one department ([[departments]])")
    departments: list[Department] = []
    owners: dict[str, str] = {}  # address or phone -> the department that has it
    for table in tables:
        department = _department(table, domains, languages, env)
        if department.id in {d.id for d in departments}:
            raise table.fail("id", f"duplicate department id {department.id!r}")
        for key, contacts in (("addresses", department.addresses), ("phones", department.phones)):
            for contact in contacts:
                if contact in owners:
                    raise table.fail(key, f"{contact!r} already belongs to department {owners[contact]!r}")
                owners[contact] = department.id
        departments.append(department)
    return tuple(departments)


def _department(
    table: Table, domains: tuple[str, ...], languages: tuple[str, ...], env: Mapping[str, str]
) -> Department:
    table.only(
        "id", "name", "addresses", "phones", "description", "keywords", "senders", "writers", "notify",
        "reply_from",
        "acknowledgement", "forward_to", "templates",
    )  # fmt: skip
    department_id = table.text("id")
    if not _DEPARTMENT_ID.match(department_id):
        raise table.fail("id", f"{department_id!r} must be lower-case letters, digits, '-' or '_'")
    addresses = tuple(_own_address(a) for a in table.strings("addresses"))
    for address in addresses:
        if not ADDRESS.match(address):
            raise table.fail("addresses", f"{address!r} is not an email address")
        if not owns(domains, address.rpartition("@")[2]):
            raise table.fail("addresses", f"{address!r} is not at one of office.domains")
    reply_from = _own_address(table.get("reply_from", str, ""))
    if reply_from and reply_from not in addresses:
        # Answers to a reply come back to its From: only the department's own addresses take them.
        raise table.fail("reply_from", f"{reply_from!r} is not one of the department's addresses")
    phones = table.strings("phones")
    for phone in phones:
        if not PHONE.match(phone):
            raise table.fail("phones", f"{phone!r} is not an E.164 number such as +15555550100")
    return Department(
        id=department_id,
        name=table.text("name"),
        addresses=addresses,
        phones=phones,
        description=table.get("description", str, ""),
        keywords=table.strings("keywords"),
        senders=_senders(table),
        writers=_writers(table),
        notify=read_department_notify(table.table("notify"), env),
        reply_from=reply_from,
        acknowledgement=read_acknowledgement(table.table("acknowledgement"), languages),
        forward_to=read_forward_to(table, domains),
        templates=read_templates(table.tables("templates")),
    )


def _own_address(address: str) -> str:
    """A department's address as mail is sent from and to it: in lower case, without the
    final dot a fully qualified domain may have (no reply goes out From such an address)."""
    return address.lower().removesuffix(".")


def _senders(table: Table) -> tuple[str, ...]:
    """Addresses and domains (a leading "@" allowed), lower-cased."""
    senders = []
    for entry in table.strings("senders"):
        sender = entry.strip().lower().removeprefix("@")
        if not (ADDRESS.match(sender) or _DOMAIN.match(sender)):
            raise table.fail("senders", f"{entry!r} is neither an email address nor a domain")
        senders.append(sender)
    return tuple(senders)


def _writers(table: Table) -> tuple[str, ...]:
    """Words or phrases, each with a letter in it."""
    writers = table.strings("writers")
    for entry in writers:
        if not any(character.isalpha() for character in entry):
            raise table.fail("writers", f"{entry!r} has no word in it")
    return writers


def _hours(table: Table) -> OpeningHours:
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
                end = (
                    END_OF_DAY
                    if match[3] == "24" and match[4] == "00"
                    else time(int(match[3]), int(match[4]))
                )
            except ValueError:
                raise table.fail(day, f"{text!r} is not a real time of day") from None
            if end <= start and end != END_OF_DAY:
                raise table.fail(day, f"{text!r} ends before it starts")
            day_spans.append((start, end))
        spans.append(tuple(day_spans))
    return OpeningHours(spans=tuple(spans))


def _web(table: Table, env: Mapping[str, str]) -> WebSettings:
    table.only(*_WEB_KEYS)
    page_size = bounded(table, "page_size", WebSettings.page_size, 1, 500)
    listen = read_listen(table, "listen", env.get("INTAKE_WEB"), "127.0.0.1:8080")
    secure_cookies = table.get("secure_cookies", bool, WebSettings.secure_cookies)
    public_url = (env.get("INTAKE_PUBLIC_URL") or table.get("public_url", str, "")).rstrip("/")
    if public_url and not _PUBLIC_URL.match(public_url):
        raise table.fail("public_url", f"{public_url!r} is not a base URL such as https://intake.example.com")
    return WebSettings(
        listen=listen,
        page_size=page_size,
        secure_cookies=secure_cookies,
        public_url=public_url,
        connection_limit=bounded(table, "connection_limit", WebSettings.connection_limit, 10, 100_000),
        idle_timeout_seconds=bounded(
            table, "idle_timeout_seconds", WebSettings.idle_timeout_seconds, 1, 3600
        ),
        max_request_bytes=bounded(
            table, "max_request_bytes", WebSettings.max_request_bytes, 64 * 1024, 1024 * 1024 * 1024
        ),
        threads=bounded(table, "threads", WebSettings.threads, 1, 256),
    )


def _database(table: Table, env: Mapping[str, str]) -> DatabaseSettings:
    table.only("url", "lock_timeout_seconds", "inbox_lease_seconds")
    url = env.get("INTAKE_DATABASE_URL") or table.text("url", DEFAULT_DATABASE_URL)
    given = " (from INTAKE_DATABASE_URL)" if env.get("INTAKE_DATABASE_URL") else ""
    if LINE_BREAK.search(url) or CONTROL.search(url):  # SQLite would make a file of that name
        raise table.fail("url", f"holds a line break or a control character{given}")
    if not url.startswith(("sqlite:", "postgresql")):  # not repeated: it may hold a password
        raise table.fail("url", f"is neither a sqlite: nor a postgresql URL{given}")
    problem = _url_problem(url)
    if problem:
        raise table.fail("url", f"is not a database URL{given}: {problem}")
    timeout = seconds(table, "lock_timeout_seconds", DatabaseSettings.lock_timeout_seconds, 3600)
    lease = table.get("inbox_lease_seconds", float, DatabaseSettings.inbox_lease_seconds)
    if not 1 <= lease <= 3600:
        raise table.fail("inbox_lease_seconds", "must be from 1 to 3600")
    return DatabaseSettings(url=url, lock_timeout_seconds=timeout, inbox_lease_seconds=lease)


def _url_problem(url: str) -> str:
    """Why SQLAlchemy cannot use `url` (never repeating it: it may hold a password), or ""."""
    try:
        make_url(url).get_dialect()
    except ArgumentError as error:  # unparsable, or a driver SQLAlchemy does not know
        return str(error)
    except ValueError:
        return "its port is not a number"
    return ""


def _schedules(table: Table) -> tuple[tuple[str, OpeningHours], ...]:
    return tuple((name, _hours(table.table(name))) for name in table.data)


def _routing(table: Table) -> RoutingSettings:
    table.only("suggest_threshold", "conversation_window_hours", "reopen_on_reply")
    threshold = table.get("suggest_threshold", float, RoutingSettings.suggest_threshold)
    if not 0.0 < threshold <= 1.0:
        raise table.fail("suggest_threshold", "must be greater than 0 and at most 1")
    window = table.get("conversation_window_hours", float, RoutingSettings.conversation_window_hours)
    if not 0.0 < window <= 24 * 366:
        raise table.fail("conversation_window_hours", "must be greater than 0 and at most a year (8784)")
    return RoutingSettings(
        suggest_threshold=threshold,
        conversation_window_hours=window,
        reopen_on_reply=table.get("reopen_on_reply", bool, RoutingSettings.reopen_on_reply),
    )
