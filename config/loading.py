"""Reading an office's TOML file into Settings, refusing anything doubtful.

Every problem is reported as a ConfigError naming the file, the key and what is
wrong, so that a broken file stops Intake at start with one clear line.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
import tomllib
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from config.rules import rule_tests, rules
from config.settings import (
    TWILIO_REDIRECT_HOSTS,
    WEEKDAYS,
    DatabaseSettings,
    Department,
    EmailSettings,
    ImapMailbox,
    ListenAddress,
    OpenClosedText,
    OpeningHours,
    RoutingSettings,
    Settings,
    SmtpSettings,
    SubmissionSettings,
    TwilioSettings,
    WebSettings,
)

DEFAULT_CONFIG = Path(__file__).with_name("default.toml")
DEFAULT_DATABASE_URL = "sqlite:///intake.db"

_DEPARTMENT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+[1-9][0-9]{5,14}$")
_SPAN = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
# A werkzeug password hash: "scrypt:..." or "pbkdf2:...", then "$salt$hash".
_PASSWORD_HASH = re.compile(r"^(scrypt|pbkdf2):[^$\s]*\$[^$\s]+\$[0-9a-f]+$")


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
        "office", "departments", "smtp", "web", "database", "email", "imap", "twilio",
        "rules", "rule_tests", "schedules", "routing",
    )  # fmt: skip
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
        smtp=_smtp(root.table("smtp"), env, domains, departments),
        web=_web(root.table("web"), env),
        database=_database(root.table("database"), env),
        email=_email(root.table("email")),
        imap=_imap(root, departments, env),
        twilio=_twilio(root.table("twilio"), env, {d.id for d in departments}),
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


def _smtp(
    table: _Table, env: Mapping[str, str], domains: tuple[str, ...], departments: tuple[Department, ...]
) -> SmtpSettings:
    table.only(
        "listen",
        "max_message_size",
        "hostname",
        "max_recipients",
        "proxy_protocol",
        "catch_all",
        "submission",
    )
    size = table.get("max_message_size", int, SmtpSettings.max_message_size)
    if size < 1024:
        raise table.fail("max_message_size", "must be at least 1024 bytes")
    max_recipients = table.get("max_recipients", int, SmtpSettings.max_recipients)
    if not 1 <= max_recipients <= 1000:
        raise table.fail("max_recipients", "must be from 1 to 1000")
    return SmtpSettings(
        listen=_listen(table, "listen", env.get("INTAKE_SMTP"), "127.0.0.1:2525"),
        max_message_size=size,
        hostname=table.text("hostname", SmtpSettings.hostname),
        max_recipients=max_recipients,
        proxy_protocol=table.get("proxy_protocol", bool, False),
        catch_all=_catch_all(table.table("catch_all"), domains, departments),
        submission=_submission(table) if "submission" in table.data else None,
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


def _catch_all(
    table: _Table, domains: tuple[str, ...], departments: tuple[Department, ...]
) -> tuple[tuple[str, str], ...]:
    """[smtp.catch_all]: "domain" = "department id", for mail to unknown local parts."""
    known = {d.id for d in departments}
    pairs = []
    for domain in table.data:
        department_id = table.text(domain)
        if domain.lower() not in domains:
            raise table.fail(domain, "is not one of office.domains")
        if department_id not in known:
            raise table.fail(
                domain, f"unknown department {department_id!r} (known: {', '.join(sorted(known))})"
            )
        pairs.append((domain.lower(), department_id))
    return tuple(pairs)


def _submission(smtp: _Table) -> SubmissionSettings:
    table = smtp.table("submission")
    table.only("listen", "tls_cert", "tls_key", "users_file")
    listen = _listen(table, "listen", None, "127.0.0.1:587")
    cert, key = _relative(table, "tls_cert"), _relative(table, "tls_key")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise table.fail("tls_cert", f"cannot be loaded with tls_key {key} ({error})") from None
    return SubmissionSettings(
        listen=listen, tls_cert=cert, tls_key=key, users=_users(table, _relative(table, "users_file"))
    )


def _relative(table: _Table, name: str) -> Path:
    """A path from the config, relative to the config file's folder."""
    return table.source.parent / table.text(name)


def _users(table: _Table, path: Path) -> tuple[tuple[str, str], ...]:
    """The users file: one "name:password-hash" a line; blank lines and # comments skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise table.fail("users_file", f"{path} cannot be read ({error})") from None
    users: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        name, _, password_hash = line.strip().partition(":")
        if not name or not _PASSWORD_HASH.match(password_hash):
            raise table.fail("users_file", f"{path} line {number} is not NAME:PASSWORD-HASH (see README)")
        if name in users:
            raise table.fail("users_file", f"{path} line {number} repeats user {name!r}")
        users[name] = password_hash
    if not users:
        raise table.fail("users_file", f"{path} names no user")
    return tuple(users.items())


# The parser's own recursion gives out far beyond 100 levels; real mail stays under 10.
MAX_EMAIL_DEPTH = 100
MAX_EMAIL_PARTS = 100_000


def _email(table: _Table) -> EmailSettings:
    table.only("max_parts", "max_depth")
    max_parts = table.get("max_parts", int, EmailSettings.max_parts)
    if not 1 <= max_parts <= MAX_EMAIL_PARTS:
        raise table.fail("max_parts", f"must be from 1 to {MAX_EMAIL_PARTS}")
    max_depth = table.get("max_depth", int, EmailSettings.max_depth)
    if not 1 <= max_depth <= MAX_EMAIL_DEPTH:
        raise table.fail("max_depth", f"must be from 1 to {MAX_EMAIL_DEPTH}")
    return EmailSettings(max_parts=max_parts, max_depth=max_depth)


_IMAP_KEYS = (
    "name", "host", "port", "security", "username", "password", "password_env", "oauth2_token_file",
    "folder", "department", "after", "move_to", "flag", "idle_renew_seconds", "poll_seconds",
    "timeout_seconds", "backoff_seconds", "backoff_max_seconds",
)  # fmt: skip
_SECURITY_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
# RFC 2177: a server may drop an IDLE client after 30 minutes; stay well inside.
_IDLE_RENEW_LIMIT = 29 * 60


def _imap(
    root: _Table, departments: tuple[Department, ...], env: Mapping[str, str]
) -> tuple[ImapMailbox, ...]:
    mailboxes: list[ImapMailbox] = []
    for table in root.tables("imap"):
        mailbox = _imap_mailbox(table, departments, env)
        if mailbox.name in {m.name for m in mailboxes}:
            raise table.fail("name", f"duplicate mailbox name {mailbox.name!r}")
        mailboxes.append(mailbox)
    return tuple(mailboxes)


def _imap_mailbox(table: _Table, departments: tuple[Department, ...], env: Mapping[str, str]) -> ImapMailbox:
    table.only(*_IMAP_KEYS)
    security = table.text("security", "ssl")
    if security not in _SECURITY_PORTS:
        raise table.fail("security", f"{security!r} must be one of ssl, starttls, none")
    port = table.get("port", int, _SECURITY_PORTS[security])
    if not 0 < port < 65536:
        raise table.fail("port", "must be from 1 to 65535")
    password, token_file = _imap_credentials(table, env)
    after = table.text("after", "flag")
    if after not in ("move", "flag"):
        raise table.fail("after", f"{after!r} must be move or flag")
    move_to = table.text("move_to", None)
    if (after == "move") != (move_to is not None):
        raise table.fail("move_to", 'is required with after = "move", and only then')
    return ImapMailbox(
        name=table.text("name"),
        host=table.text("host"),
        port=port,
        security=security,
        username=table.text("username"),
        password=password,
        oauth2_token_file=token_file,
        folder=table.text("folder", "INBOX"),
        department=_imap_department(table, departments),
        after=after,
        move_to=move_to,
        flag=table.text("flag", ImapMailbox.flag),
        idle_renew_seconds=_seconds(
            table, "idle_renew_seconds", ImapMailbox.idle_renew_seconds, _IDLE_RENEW_LIMIT
        ),
        poll_seconds=_seconds(table, "poll_seconds", ImapMailbox.poll_seconds),
        timeout_seconds=_seconds(table, "timeout_seconds", ImapMailbox.timeout_seconds),
        backoff_seconds=_seconds(table, "backoff_seconds", ImapMailbox.backoff_seconds),
        backoff_max_seconds=_seconds(table, "backoff_max_seconds", ImapMailbox.backoff_max_seconds),
    )


def _imap_credentials(table: _Table, env: Mapping[str, str]) -> tuple[str | None, Path | None]:
    given = [key for key in ("password", "password_env", "oauth2_token_file") if key in table.data]
    if len(given) != 1:
        raise table.fail("password", "give exactly one of password, password_env, oauth2_token_file")
    if "password_env" in table.data:
        variable = table.text("password_env")
        if not env.get(variable):
            raise table.fail("password_env", f"the environment variable {variable} is not set")
        return env[variable], None
    if "password" in table.data:
        return table.text("password"), None
    return None, Path(table.text("oauth2_token_file"))


def _imap_department(table: _Table, departments: tuple[Department, ...]) -> str | None:
    department_id = table.text("department", None)
    if department_id is None:
        return None
    found = [d for d in departments if d.id == department_id]
    if not found:
        known = ", ".join(d.id for d in departments)
        raise table.fail("department", f"unknown department {department_id!r} (known: {known})")
    if not found[0].addresses:
        raise table.fail("department", f"department {department_id!r} has no email address to route by")
    return department_id


def _seconds(table: _Table, name: str, default: float, limit: float | None = None) -> float:
    value: float = table.get(name, float, default)
    if value <= 0:
        raise table.fail(name, "must be greater than 0")
    if limit is not None and value > limit:
        raise table.fail(name, f"must be at most {limit:g}")
    return value


_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_BASE_URL = re.compile(r"^https?://[^/?#@\s]+$")


def _twilio(table: _Table, env: Mapping[str, str], department_ids: set[str]) -> TwilioSettings:
    """The [twilio] table; TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and INTAKE_PUBLIC_URL win."""
    table.only(
        "account_sid", "auth_token", "auth_token_env", "public_url", "api_base_url", "redirect_hosts",
        "proxy_hops", "record_max_seconds", "transcribe", "download_max_bytes",
        "download_timeout_seconds", "download_attempts", "greetings", "acknowledgements",
    )  # fmt: skip
    account_sid = env.get("TWILIO_ACCOUNT_SID") or table.get("account_sid", str, "")
    if account_sid and not _ACCOUNT_SID.match(account_sid):
        raise table.fail("account_sid", "is not a Twilio account SID (AC followed by 32 hex digits)")
    public_url = (env.get("INTAKE_PUBLIC_URL") or table.get("public_url", str, "")).rstrip("/")
    if public_url and not _BASE_URL.match(public_url):
        raise table.fail("public_url", f"{public_url!r} is not a base URL such as https://intake.example.com")
    api_base_url = table.text("api_base_url", TwilioSettings.api_base_url).rstrip("/")
    if not _BASE_URL.match(api_base_url):
        raise table.fail("api_base_url", f"{api_base_url!r} is not a base URL such as https://api.twilio.com")
    greetings = _texts(table.table("greetings"), lambda key: key == "default" or bool(_PHONE.match(key)))
    acknowledgements = _texts(table.table("acknowledgements"), lambda key: key in department_ids)
    return TwilioSettings(
        account_sid=account_sid,
        auth_token=_auth_token(table, env),
        public_url=public_url,
        api_base_url=api_base_url,
        redirect_hosts=tuple(h.lower() for h in table.strings("redirect_hosts")) or TWILIO_REDIRECT_HOSTS,
        proxy_hops=_bounded(table, "proxy_hops", 0, 0, 10),
        record_max_seconds=_bounded(table, "record_max_seconds", 120, 1, 3600),
        transcribe=table.get("transcribe", bool, True),
        download_max_bytes=_bounded(
            table, "download_max_bytes", TwilioSettings.download_max_bytes, 1024, 2**31
        ),
        download_timeout_seconds=_bounded(table, "download_timeout_seconds", 20.0, 0.1, 600.0),
        download_attempts=_bounded(table, "download_attempts", 6, 1, 100),
        greetings=greetings,
        acknowledgements=acknowledgements,
    )


def _auth_token(table: _Table, env: Mapping[str, str]) -> str:
    if "auth_token" in table.data and "auth_token_env" in table.data:
        raise table.fail("auth_token_env", "set either auth_token or auth_token_env, not both")
    if env.get("TWILIO_AUTH_TOKEN"):
        return env["TWILIO_AUTH_TOKEN"]
    if "auth_token_env" in table.data:
        name = table.text("auth_token_env")
        if not env.get(name):
            raise table.fail("auth_token_env", f"the environment variable {name} is not set")
        return env[name]
    return str(table.get("auth_token", str, ""))


def _bounded(table: _Table, name: str, default: Any, low: Any, high: Any) -> Any:
    value = table.get(name, type(default), default)
    if not low <= value <= high:
        raise table.fail(name, f"must be from {low} to {high}")
    return value


def _texts(table: _Table, known: Any) -> tuple[tuple[str, OpenClosedText], ...]:
    """A table of {open, closed} texts keyed by a number or a department id."""
    texts = []
    for key in table.data:
        if not known(key):
            raise table.fail(key, "unknown key (use a configured department, an E.164 number or default)")
        entry = table.table(key)
        entry.only("open", "closed")
        texts.append((key, OpenClosedText(entry.get("open", str, ""), entry.get("closed", str, ""))))
    return tuple(texts)


def _schedules(table: _Table) -> tuple[tuple[str, OpeningHours], ...]:
    return tuple((name, _hours(table.table(name))) for name in table.data)


def _routing(table: _Table) -> RoutingSettings:
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
