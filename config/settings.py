"""Typed, frozen settings of one office, as loaded from its TOML file.

These objects are built once at start (see config.loading) and passed to whatever
needs them; nothing imports a global configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from config.answers import Acknowledgement, Template
from config.domains import domain_key, owns

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class DepartmentNotify:
    """Who hears of a department's new items: its mailing list and/or its chat webhook.

    `digest_minutes` 0 sends one email per item; N sends one email every N minutes
    holding every item since the last. The webhook secret is kept out of repr().
    """

    email: tuple[str, ...] = ()
    digest_minutes: int = 0
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    addresses: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    description: str = ""
    # Words that seed the learned suggestion before any message has been corrected.
    keywords: tuple[str, ...] = ()
    # Addresses and domains that write about this department's business (a supplier's
    # domain for billing): evidence for the learned suggestion, not a rule.
    senders: tuple[str, ...] = ()
    # Words by which a writer says who they are ("owner", "proprietar"): who writes decides
    # before what they mention, so these weigh as the sender does, not as a keyword.
    writers: tuple[str, ...] = ()
    notify: DepartmentNotify = DepartmentNotify()
    # The address replies go out from; "" for the first of `addresses`.
    reply_from: str = ""
    acknowledgement: Acknowledgement = field(default_factory=Acknowledgement)
    # The outside address items are forwarded to (a partner, an outsourced service).
    forward_to: str = ""
    templates: tuple[Template, ...] = ()

    @property
    def reply_address(self) -> str:
        """The address this department answers from, "" when it has none."""
        return self.reply_from or (self.addresses[0] if self.addresses else "")


# A span's end written "24:00": the day's last minute is open too, up to midnight, which
# "23:59" would leave closed (a schedule round the clock would shut a minute each night).
END_OF_DAY = time(0)


@dataclass(frozen=True)
class OpeningHours:
    """Per weekday (0 = Monday), the spans of time the office is open, in local wall-clock
    time: an hour the clocks show twice is open or closed both times alike."""

    spans: tuple[tuple[tuple[time, time], ...], ...]

    def is_open(self, at: datetime, zone: ZoneInfo) -> bool:
        local = at.astimezone(zone)
        now = local.time()
        return any(
            start <= now and (now < end or end == END_OF_DAY) for start, end in self.spans[local.weekday()]
        )


@dataclass(frozen=True)
class SubmissionSettings:
    """The listener for the office's own senders: STARTTLS first, then AUTH, always."""

    listen: ListenAddress
    tls_cert: Path
    tls_key: Path
    # (user name, password hash in werkzeug's format), read from the users file.
    users: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SmtpSettings:
    listen: ListenAddress
    max_message_size: int = 25 * 1024 * 1024
    hostname: str = "intake"
    max_recipients: int = 100
    # Connections open at once, in total and from one client (an IPv6 client is its /64).
    max_connections: int = 100
    max_connections_per_address: int = 20
    # The longest pause allowed between two pieces of a message's DATA.
    data_timeout_seconds: float = 300.0
    # Bytes of a message being received that one connection keeps in memory;
    # past them the message goes on to a temporary file.
    max_memory_per_connection: int = 1024 * 1024
    # Every connection starts with a PROXY protocol header from the load balancer.
    proxy_protocol: bool = False
    # (domain, department id): mail to an unknown address at the domain goes there; the
    # domain as config.domains compares it (domain_key).
    catch_all: tuple[tuple[str, str], ...] = ()
    submission: SubmissionSettings | None = None

    def catch_all_department(self, domain: str) -> str | None:
        return dict(self.catch_all).get(domain_key(domain))


@dataclass(frozen=True)
class WebSettings:
    listen: ListenAddress
    page_size: int = 50
    # Session cookies go over HTTPS only; false is for plain http on this machine alone.
    secure_cookies: bool = True
    # The address people open the queue view at, for links in notifications; "" for none.
    public_url: str = ""
    # Open connections the server keeps at once; past it, new ones wait in the listen backlog.
    connection_limit: int = 1000
    # A connection that sends and receives nothing this long is closed.
    idle_timeout_seconds: int = 30
    # The largest request body read at all (a scan on the take-a-message page and its form);
    # a larger Content-Length is answered 413 before any of the body is read.
    max_request_bytes: int = 21 * 1024 * 1024
    # The threads that run requests; idle connections hold none.
    threads: int = 8


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    # How long a write waits for a lock before it gives up and the sender is asked to retry.
    lock_timeout_seconds: float = 10.0
    # How long an inbox worker holds the messages it claimed; a dead worker's are taken over after it.
    inbox_lease_seconds: float = 60.0


PRIORITIES = ("low", "normal", "high", "urgent")


class BuiltInStep(StrEnum):
    """The routing engine's own steps, named in a routing trace beside the config's rules.

    They live here, below the engine, so that the loader can refuse a rule that takes one
    of these names: a person reading a trace must never take a rule for a step.
    """

    # The conversation matchers, tried before anything else.
    IN_REPLY_TO = "in-reply-to"
    REFERENCES = "references"
    SUBJECT_TOKEN = "subject token"
    SAME_NUMBER = "same number"
    # The engine's steps around the rules.
    PLACEMENT = "chosen by hand"
    RECIPIENT = "recipient"
    CATCH_ALL = "catch-all"
    SUGGESTION = "learned suggestion"
    SENDER = "sender"


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
    # A text joins an open item from the same number to the same office number this young.
    conversation_window_hours: float = 72.0
    # A reply to a resolved item reopens it; when False it makes a new item instead.
    reopen_on_reply: bool = True


@dataclass(frozen=True)
class ContactSettings:
    # A message from a contact with an open item this young on another channel is
    # suggested as probably the same request.
    same_request_hours: float = 48.0


@dataclass(frozen=True)
class RetentionSettings:
    """How long items are kept once done with; the daily retention job erases older ones."""

    resolved_days: int = 365
    spam_days: int = 30


@dataclass(frozen=True)
class EmailSettings:
    """How much of one email is taken apart; past a limit it is stored raw and marked."""

    max_parts: int = 1000
    max_depth: int = 30
    # Budgets checked on the raw bytes before parsing: the parser's cost grows with the
    # square of these. The largest real mail seen has a 213 KB Subject of 3302 encoded words.
    max_header_bytes: int = 512 * 1024
    max_header_size: int = 256 * 1024
    max_headers: int = 1000
    max_encoded_words: int = 5000
    max_parameters: int = 100
    max_addresses: int = 1000
    # Parsing runs in child processes, each killed past these limits.
    parse_workers: int = 2
    parse_seconds: int = 20
    parse_memory_mb: int = 1024


@dataclass(frozen=True)
class MailServer:
    """A mail server Intake sends through: where, how encrypted, and the login if any.

    The password is kept out of repr() so it never lands in a log or a page.
    """

    host: str
    port: int
    security: str = "starttls"  # "starttls", "ssl" or "none"
    username: str = ""
    password: str = field(default="", repr=False)
    timeout_seconds: float = 20.0


@dataclass(frozen=True)
class OutboundSettings:
    """The office's relay (smarthost) that replies to customers go out through.

    With no `smtp_host` no relay is configured, and nothing can be answered by email.
    The password is kept out of repr() so it never lands in a log or a page.
    """

    smtp_host: str = ""
    smtp_port: int = 25
    security: str = "starttls"  # "starttls", "ssl" or "none"
    username: str = ""
    password: str = field(default="", repr=False)
    timeout_seconds: float = 20.0
    max_attempts: int = 8
    # The first retry waits this long; each later one twice as long, at most an hour.
    retry_seconds: float = 30.0

    @property
    def server(self) -> MailServer | None:
        if not self.smtp_host:
            return None
        return MailServer(
            self.smtp_host, self.smtp_port, self.security, self.username, self.password, self.timeout_seconds
        )


@dataclass(frozen=True)
class NotificationSettings:
    """The mail server notifications are sent through, and how the worker retries.

    The password is kept out of repr() so it never lands in a log or a page.
    """

    smtp_host: str = ""
    smtp_port: int = 587
    security: str = "starttls"  # "starttls", "ssl" or "none"
    from_address: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    timeout_seconds: float = 20.0
    max_attempts: int = 8
    # The first retry waits this long; each later one twice as long, at most an hour.
    retry_seconds: float = 30.0

    @property
    def server(self) -> MailServer:
        return MailServer(
            self.smtp_host, self.smtp_port, self.security, self.username, self.password, self.timeout_seconds
        )


@dataclass(frozen=True)
class ImapMailbox:
    """One IMAP mailbox the office reads mail from, and what to do after storing it.

    Exactly one of `password` and `oauth2_token_file` is set; the token file is read
    again at every login, so a separate tool can keep it fresh.
    """

    name: str
    host: str
    port: int
    security: str  # "ssl", "starttls" or "none"
    username: str
    password: str | None = None
    oauth2_token_file: Path | None = None
    folder: str = "INBOX"
    # Mail from this mailbox goes to this department; None routes it by its recipients.
    department: str | None = None
    after: str = "flag"  # "move" to move_to, or "flag" with `flag`
    move_to: str | None = None
    flag: str = "\\Seen"
    # IDLE is re-issued this often, well inside the 29 minutes servers allow (RFC 2177).
    idle_renew_seconds: float = 600.0
    # Without IDLE, the folder is checked this often.
    poll_seconds: float = 60.0
    # A read that waits longer than this means a dead connection.
    timeout_seconds: float = 60.0
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    # One node at a time reads the mailbox, under a lease this long: after a node dies
    # without a word, another takes over within a second of its expiry.
    lease_seconds: float = 30.0


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
    email: EmailSettings = EmailSettings()
    imap: tuple[ImapMailbox, ...] = ()
    twilio: TwilioSettings = field(default_factory=lambda: TwilioSettings())
    notifications: NotificationSettings = NotificationSettings()
    outbound: OutboundSettings = OutboundSettings()

    rules: tuple[RuleSettings, ...] = ()
    rule_tests: tuple[RuleTest, ...] = ()
    schedules: tuple[tuple[str, OpeningHours], ...] = ()
    routing: RoutingSettings = RoutingSettings()
    contacts: ContactSettings = ContactSettings()
    retention: RetentionSettings = RetentionSettings()
    # The country whose numbers callers may write without their country code (CLDR region).
    region: str = "GB"
    # ISO 639-1 codes of the languages people write to the office in; the first is
    # assumed when a text is too short to tell.
    languages: tuple[str, ...] = ("en",)
    # The language of the pages for a person who has not chosen one (one of PAGE_LANGUAGES).
    language: str = "en"

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
        """Whether `domain` is one of office.domains, in any case or IDNA form."""
        return owns(self.domains, domain)

    def is_open(self, at: datetime) -> bool:
        return self.hours.is_open(at, self.timezone)


@dataclass(frozen=True)
class OpenClosedText:
    """A text said or sent while the office is open, and one for when it is closed."""

    open: str = ""
    closed: str = ""

    def when(self, is_open: bool) -> str:
        return self.open if is_open else self.closed


# Twilio serves recordings and MMS media through a redirect to these content hosts.
TWILIO_REDIRECT_HOSTS = ("media.twiliocdn.com", "mms.twiliocdn.com", "s3-external-1.amazonaws.com")


@dataclass(frozen=True)
class TwilioSettings:
    """The office's Twilio account: webhooks are checked and recordings fetched with it.

    The auth token is kept out of repr() so it never lands in a log or a page.
    """

    account_sid: str = ""
    auth_token: str = field(default="", repr=False)
    public_url: str = ""
    api_base_url: str = "https://api.twilio.com"
    redirect_hosts: tuple[str, ...] = TWILIO_REDIRECT_HOSTS
    proxy_hops: int = 0
    record_max_seconds: int = 120
    transcribe: bool = True
    download_max_bytes: int = 20 * 1024 * 1024
    download_timeout_seconds: float = 20.0
    download_attempts: int = 6
    # Keyed by called number, "default" for any other; acknowledgements by department id.
    greetings: tuple[tuple[str, OpenClosedText], ...] = ()
    acknowledgements: tuple[tuple[str, OpenClosedText], ...] = ()
    # The office's numbers that can send texts: a voicemail left on one is answered by text.
    texting_numbers: tuple[str, ...] = ()

    @property
    def configured(self) -> bool:
        return bool(self.account_sid and self.auth_token)

    def greeting(self, number: str, is_open: bool) -> str:
        texts = dict(self.greetings)
        chosen = texts.get(number) or texts.get("default") or OpenClosedText()
        return chosen.when(is_open)

    def acknowledgement(self, department_id: str, is_open: bool) -> str:
        return dict(self.acknowledgements).get(department_id, OpenClosedText()).when(is_open)
