"""Every key of the office file, given every kind of bad value: refused in one line naming it.

The cases are generated from the project's own valid offices (the shipped sample, the test
offices and the routing set's), not listed by hand: each key they hold is given a value of
every other TOML type and edge values of its own, removed, and joined by an unknown key;
each is loaded, and must load or be refused with a ConfigError naming that key or what it
belongs to. A value nobody can use (a NUL, a nan, a negative number) must be refused.
"""

from __future__ import annotations

import copy
import math
import re
import shutil
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from config.loading import DEFAULT_CONFIG, ConfigError, load_settings
from intake.cli.main import main
from tests.conftest import OFFICE, TESTS

DOCS = TESTS.parent / "docs" / "configuration.md"
ROUTING_OFFICE = TESTS / "data" / "routing_set" / "office.toml"

# What the sample office leaves commented out, so that every table and key is swept.
EVERY_OTHER_KEY = """
[office]
languages = ["en", "ro"]

[smtp]
hostname = "intake.office.example"
max_connections = 200
max_connections_per_address = 10
data_timeout_seconds = 600.0
max_memory_per_connection = 65536
catch_all = { "office.example" = "front-desk" }

[web]
page_size = 20
public_url = "https://intake.office.example"
connection_limit = 500
idle_timeout_seconds = 60
max_request_bytes = 1048576
threads = 4

[database]
lock_timeout_seconds = 5.0
inbox_lease_seconds = 120.0

[[imap]]
name = "billing-inbox"
host = "imap.office.example"
port = 993
security = "ssl"
username = "billing@office.example"
password_env = "BILLING_IMAP_PASSWORD"
folder = "INBOX"
department = "billing"
after = "move"
move_to = "Imported"
idle_renew_seconds = 300.0
poll_seconds = 30.0
timeout_seconds = 30.0
backoff_seconds = 2.0
backoff_max_seconds = 120.0
lease_seconds = 45.0

[[imap]]
name = "shared"
host = "mail.office.example"
security = "starttls"
username = "shared"
password = "imap-password"
flag = "\\\\Flagged"

[[imap]]
name = "tokens"
host = "mail.office.example"
username = "tokens"
oauth2_token_file = "shared.token"

[twilio]
public_url = "https://intake.office.example"
proxy_hops = 1
record_max_seconds = 60
transcribe = false
download_max_bytes = 1048576
download_timeout_seconds = 10.5
download_attempts = 3
redirect_hosts = ["media.twiliocdn.com"]
texting_numbers = ["+441632960001"]
greetings.default = { open = "Please leave a message.", closed = "We are closed." }
greetings."+441632960001" = { open = "Sales, please leave a message." }
acknowledgements.sales = { closed = "Sales will reply when we open." }

[notifications]
smtp_host = "mail.office.example"
smtp_port = 587
security = "starttls"
from_address = "intake@office.example"
username = "intake"
password_env = "INTAKE_SMTP_PASSWORD"
timeout_seconds = 30.0
max_attempts = 5
retry_seconds = 60.0

[outbound]
smtp = "relay.office.example:587"
security = "starttls"
username = "intake"
password_env = "INTAKE_OUTBOUND_PASSWORD"
timeout_seconds = 30.0
max_attempts = 5
retry_seconds = 60.0

[routing]
suggest_threshold = 0.9
conversation_window_hours = 48.0
reopen_on_reply = false

[contacts]
same_request_hours = 24.0

[schedules.weekend]
sat = ["08:00-20:00"]
sun = ["10:00-16:00"]
"""

# The choices the full office could not make at once (a password, not its variable).
OTHER_CHOICES = """
[office.hours]
sun = ["10:00-12:00"]

[[rules]]
name = "lottery"
description = "Lottery wins are spam."
when = { subject = ["lottery"] }
spam = true

[schedules.night]
mon = ["00:00-06:00"]

[notifications]
smtp_host = "mail.office.test"
username = "intake"
password = "smtp-password"

[twilio]
auth_token_env = "OFFICE_TWILIO_TOKEN"
acknowledgements.sales = { open = "Thanks, sales has it." }
"""

# The sample's sales and billing departments, with every key a department takes.
SALES = {
    "reply_from": "quotes@office.example",
    "senders": ["@supplier.example", "buyer@client.example"],
    "writers": ["buyer"],
    "forward_to": "orders@partner.example",
    "notify": {
        "email": ["sales-team@office.example"],
        "digest_minutes": 30,
        "webhook_url": "https://chat.example/hooks/sales",
        "webhook_secret_env": "SALES_WEBHOOK_SECRET",
    },
    "acknowledgement": {
        "enabled": True,
        "hours": 48,
        "texts": {"en": "We have #{id}; {department} answers in {hours} hours.", "ro": "Avem #{id}."},
    },
    "templates": [{"name": "Price list", "text": "Dear {name},\n\nour prices are attached.\n{department}"}],
}
BILLING = {"notify": {"webhook_url": "https://chat.example/hooks/billing", "webhook_secret": "secret-value"}}
FULL_ENV = {
    "BILLING_IMAP_PASSWORD": "imap-password",
    "SALES_WEBHOOK_SECRET": "webhook-secret",
    "INTAKE_SMTP_PASSWORD": "smtp-password",
    "INTAKE_OUTBOUND_PASSWORD": "relay-password",
}


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _full_office() -> dict[str, Any]:
    """The sample office with every key the loader reads given a value."""
    office = _merged(tomllib.loads(DEFAULT_CONFIG.read_text("utf-8")), tomllib.loads(EVERY_OTHER_KEY))
    departments = {d["id"]: d for d in office["departments"]}
    departments["sales"].update(copy.deepcopy(SALES))
    departments["billing"].update(copy.deepcopy(BILLING))
    return office


def _file(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text("utf-8"))


# name: (the office, the environment it needs)
OFFICES: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "full": (_full_office(), FULL_ENV),
    "other": (_merged(_file(OFFICE), tomllib.loads(OTHER_CHOICES)), {"OFFICE_TWILIO_TOKEN": "twilio-token"}),
    "sample": (_file(DEFAULT_CONFIG), {}),
    "test": (_file(OFFICE), {}),
    "imap": (_file(TESTS / "office-imap.toml"), {"BILLING_IMAP_PASSWORD": "imap-password"}),
    "routing": (_file(ROUTING_OFFICE), {}),
}

KeyPath = tuple[str | int, ...]
REMOVED = object()
LONG = "x" * 100_000
WRONG_TYPES: dict[str, Any] = {
    "string": "text",
    "integer": 7,
    "float": 1.5,
    "nan": math.nan,
    "inf": math.inf,
    "boolean": True,
    "datetime": datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    "array": [1, 2],
    "table": {"x": 1},
}
# Edge values of a type: (label, value, whether every key of that type must refuse it).
NUMBER_EDGES = (
    ("zero", 0, False),
    ("negative", -1, True),
    ("int64-max", 2**63 - 1, True),
    ("int64-min", -(2**63), True),
    ("nan", math.nan, True),
    ("inf", math.inf, True),
    ("minus-inf", -math.inf, True),
    ("huge", 1e308, True),
    ("tiny", 5e-324, False),
)
STRING_EDGES = (
    ("empty", "", False),
    ("blank", " \t ", False),
    ("nul", "a\x00b", True),
    ("control", "a\x01b", True),
    ("delete", "a\x7fb", True),
    ("long", LONG, False),
)
# Keys with no upper limit, on purpose: a message size of 2**63 bytes means "no limit".
UNBOUNDED = {"smtp.max_message_size"}
# Texts of several lines, a pattern, and a fixture's fields (as odd as mail may be); every
# other string is one line.
MULTI_LINE = re.compile(
    r"(^|\.)(description|text|subject|open|closed|regex)$|\.acknowledgement\.texts\.|^rule_tests\.from$"
)
# Lists whose entries name one thing each: a repeated entry is a mistake.
DISTINCT = {
    "departments", "rules", "imap", "office.languages", "departments.addresses",
    "departments.phones", "departments.notify.email", "departments.templates",
}  # fmt: skip
SECRET = re.compile(r"password|secret|token")


@dataclass(frozen=True)
class Case:
    office: str
    path: KeyPath
    label: str
    value: Any
    refused: bool  # else loading it may also succeed

    @property
    def key(self) -> str:
        return _key(self.path)

    def __str__(self) -> str:
        return f"{self.office}:{self.key}:{self.label}"


def _key(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def _generic(path: KeyPath) -> str:
    """`departments.notify.email` for departments[1].notify.email."""
    return ".".join(part for part in path if isinstance(part, str))


def _walk(data: dict[str, Any], path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    """Every key path: tables, arrays of tables, inline tables and their keys."""
    for name, value in data.items():
        yield (*path, name), value
        if isinstance(value, dict):
            yield from _walk(value, (*path, name))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for index, entry in enumerate(value):
                yield from _walk(entry, (*path, name, index))


def _kind(value: Any) -> str:
    kinds = ((bool, "boolean"), (int, "integer"), (float, "float"), (str, "string"))
    kinds += ((datetime, "datetime"), (list, "array"), (dict, "table"))
    return next(name for cls, name in kinds if isinstance(value, cls))


def _free(path: KeyPath) -> bool:
    """Under a rule's `when`: condition arguments the routing engine checks, not the loader."""
    generic = _generic(path)
    return generic.startswith("rules.when.") and not generic.endswith(".regex")


def _substitutes(path: KeyPath, value: Any) -> Iterator[tuple[str, Any, bool]]:
    free, kind, generic = _free(path), _kind(value), _generic(path)
    for label, wrong in WRONG_TYPES.items():
        same = _kind(wrong) == kind or (kind == "float" and label == "integer")
        if not same:
            yield f"wrong-{label}", wrong, not free
    if kind in ("integer", "float"):
        for label, edge, bad in NUMBER_EDGES:
            unbounded = generic in UNBOUNDED and edge > 0
            yield label, edge, bad and not free and not unbounded
    if kind == "string":
        for label, edge, bad in STRING_EDGES:
            yield label, edge, bad and not free
        one_line = not free and not MULTI_LINE.search(generic)
        yield "two-lines", "a\nb", one_line
        yield "line-break-at-end", value + "\n", one_line
    if kind == "array":
        yield "empty", [], False
        yield "mixed", [*value[:1], 7, "text"], not free
        if value:
            yield "repeated", [*value, value[0]], generic in DISTINCT
        if value and all(isinstance(v, str) for v in value):
            for label, edge, bad in STRING_EDGES:
                yield f"entry-{label}", [edge, *value[1:]], bad and not free
            yield "entry-two-lines", ["a\nb", *value[1:]], not free
            yield "entry-line-break-at-end", [value[0] + "\n", *value[1:]], not free
    if kind == "table":
        yield "empty", {}, False
        yield "unknown-key", {**value, "no_such_key": 1}, not _free((*path, "no_such_key"))
    yield "removed", REMOVED, False


def _cases() -> list[Case]:
    """Each key swept where it is first found, not again for each entry or office."""
    cases: list[Case] = []
    swept: set[str] = set()
    for name, (data, _) in OFFICES.items():
        for path, value in _walk(data):
            if _generic(path) not in swept:
                swept.add(_generic(path))
                cases += [Case(name, path, *substitute) for substitute in _substitutes(path, value)]
        cases.append(Case(name, ("no_such_key",), "unknown-key", 1, True))
    return cases


CASES = _cases()


def _changed(case: Case) -> dict[str, Any]:
    data = copy.deepcopy(OFFICES[case.office][0])
    owner: Any = data
    for part in case.path[:-1]:
        owner = owner[part]
    if case.value is REMOVED:
        del owner[case.path[-1]]
    else:
        owner[case.path[-1]] = case.value
    return data


def _names_of_owners(case: Case) -> set[str]:
    """The entries the key belongs to (rules[1], rules[1].when.any[0]), and their ids or names."""
    names: set[str] = set()
    entry: Any = OFFICES[case.office][0]
    for depth, part in enumerate(case.path[:-1]):
        entry = entry[part]
        if isinstance(part, int):
            names.add(_key(case.path[: depth + 1]))
            names |= {entry[k] for k in ("id", "name") if isinstance(entry.get(k), str)}
    if isinstance(case.value, str) and case.path[-1] in ("id", "name"):
        names.add(case.value)
    return {name for name in names if len(name.strip()) > 2}  # "" is in every message


def assert_names_the_key(error: ConfigError, case: Case) -> None:
    message = str(error)
    assert error.problem, message
    assert "\n" not in message, message
    # Or the key's own name, by a neighbour in its table: "password_env: is only used with username".
    neighbour = error.key.startswith(_key(case.path[:-1])) and str(case.path[-1]) in error.problem
    named = case.key in message or neighbour or any(name in message for name in _names_of_owners(case))
    assert named, f"{case}: {message[:300]}"
    if SECRET.search(case.key) and isinstance(case.value, str) and len(case.value) > 3:
        assert case.value not in message


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the cases are written, beside the sample's rule fixtures."""
    folder = tmp_path_factory.mktemp("offices")
    shutil.copytree(DEFAULT_CONFIG.parent / "samples", folder / "samples")
    return folder


def test_the_offices_swept_are_valid(folder: Path) -> None:
    for name, (data, env) in OFFICES.items():
        path = folder / f"{name}.toml"
        path.write_text(tomli_w.dumps(data), "utf-8")
        load_settings(path, env)


def test_the_sweep_reaches_every_documented_key() -> None:
    """Each `table.key` docs/configuration.md lists is in one of the offices swept."""
    section = DOCS.read_text("utf-8").partition("## Every key")[2]
    documented = set(re.findall(r"`([a-z_]+(?:\.[A-Za-z_+]+)+)`", section))
    swept = {
        tuple(p for p in path if isinstance(p, str))
        for data, _ in OFFICES.values()
        for path, _ in _walk(data)
    }
    tables = {names[0] for names in swept}  # not `notify.email` in a sentence

    def reached(key: str) -> bool:
        parts = key.split(".")  # NUMBER, DOMAIN: any name
        return any(
            len(parts) == len(names) and all(p.isupper() or p == n for p, n in zip(parts, names, strict=True))
            for names in swept
        )

    # The submission listener needs a certificate: tests/config/test_smtp.py sweeps it.
    missing = sorted(
        key
        for key in documented
        if key.partition(".")[0] in tables and not reached(key) and not key.startswith("smtp.submission.")
    )
    assert missing == []
    assert len(CASES) > 1000


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_bad_value_is_refused_naming_its_key(case: Case, folder: Path) -> None:
    path = folder / f"{CASES.index(case)}.toml"
    path.write_text(tomli_w.dumps(_changed(case)), "utf-8")
    try:
        load_settings(path, OFFICES[case.office][1])
    except ConfigError as error:
        assert str(error).startswith(f"{path}: ")
        assert_names_the_key(error, case)
    else:
        assert not case.refused, f"{case} was accepted"


def _documented_required() -> list[str]:
    rows = DOCS.read_text("utf-8").splitlines()
    required = [row for row in rows if row.startswith("| `") and "| (required) |" in row]
    return [key for row in required for key in re.findall(r"`([a-z_.]+)`", row.split("|")[1])]


@pytest.mark.parametrize("key", [k for k in _documented_required() if not k.startswith("smtp.submission.")])
def test_removing_a_required_key_is_refused_naming_it(key: str, folder: Path) -> None:
    found = [c for c in CASES if c.label == "removed" and _generic(c.path) == key]
    assert found, f"{key} is not in the offices swept"
    case = found[0]
    path = folder / f"removed-{key}.toml"
    path.write_text(tomli_w.dumps(_changed(case)), "utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(path, OFFICES[case.office][1])
    assert case.key in str(raised.value)


def test_two_departments_with_one_id_and_a_rule_for_no_department_are_refused(folder: Path) -> None:
    data, env = OFFICES["full"]
    twice = copy.deepcopy(data)
    twice["departments"].append({**twice["departments"][0], "addresses": [], "phones": []})
    nowhere = copy.deepcopy(data)
    nowhere["rules"][1]["route"] = "nobody"
    for name, changed, key, problem in (
        ("twice", twice, "departments[4].id", "duplicate department id 'front-desk'"),
        ("nowhere", nowhere, "rules[1].route", "unknown department 'nobody'"),
    ):
        path = folder / f"{name}.toml"
        path.write_text(tomli_w.dumps(changed), "utf-8")
        with pytest.raises(ConfigError) as raised:
            load_settings(path, env)
        assert (raised.value.key, problem in raised.value.problem) == (key, True)


# (variable, value, the key named)
BAD_ENVIRONMENT = [
    ("INTAKE_DATABASE_URL", "mysql://intake@db/intake", "database.url"),
    ("INTAKE_DATABASE_URL", "postgresql://intake:hunter22@db:port/intake", "database.url"),
    ("INTAKE_DATABASE_URL", "postgresql+nosuchdriver://db/intake", "database.url"),
    ("INTAKE_DATABASE_URL", "sqlite:///intake.db\n", "database.url"),
    ("INTAKE_SMTP", "0.0.0.0", "smtp.listen"),
    ("INTAKE_SMTP", "0.0.0.0:0", "smtp.listen"),
    ("INTAKE_SMTP", "0.0.0.0:65536", "smtp.listen"),
    ("INTAKE_SMTP", "0.0.0.0:\u00b25", "smtp.listen"),  # a superscript two
    ("INTAKE_SMTP", "0.0.0.0:\uff12\uff15", "smtp.listen"),  # full-width digits
    ("INTAKE_WEB", "local host:8080", "web.listen"),
    ("INTAKE_WEB", "localhost\n:8080", "web.listen"),
    ("INTAKE_WEB", "[::1]", "web.listen"),
    ("INTAKE_OUTBOUND_SMTP", "relay:-25", "outbound.smtp"),
    ("INTAKE_OUTBOUND_SMTP", "relay:99999999999999999999", "outbound.smtp"),
    ("INTAKE_PUBLIC_URL", "ftp://intake.office.example", "web.public_url"),
    ("INTAKE_PUBLIC_URL", "https://intake.office.example\n", "web.public_url"),
    ("TWILIO_ACCOUNT_SID", "AC" + "0" * 32 + "\n", "twilio.account_sid"),
    ("TWILIO_ACCOUNT_SID", "SK" + "0" * 32, "twilio.account_sid"),
    ("TWILIO_AUTH_TOKEN", "hunter22" + "0" * 24 + "\n", "twilio.auth_token"),  # a secret's file, newline kept
]


@pytest.mark.parametrize(("variable", "value", "key"), BAD_ENVIRONMENT)
def test_a_bad_environment_override_is_refused_naming_the_key(variable: str, value: str, key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(OFFICE, {variable: value})
    assert raised.value.key == key
    assert "hunter22" not in str(raised.value)


@pytest.mark.parametrize("config", ["\x00", "missing.toml", "a-folder"])
def test_intake_config_naming_no_readable_file_is_refused(config: str, tmp_path: Path) -> None:
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(ConfigError, match=r"no such file|cannot be read"):
        load_settings(None, {"INTAKE_CONFIG": str(tmp_path / config)})


def _check_config(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check-config", "--config", str(path)])
    return code, capsys.readouterr().err


BAD_FILES = [
    ("not-utf-8", b'[office]\nname = "Caf\xe9"\n', "cannot be read"),
    ("syntax", b'[office]\nname = "unclosed\n', "not valid TOML"),
    ("nan-timeout", OFFICE.read_bytes() + b"lock_timeout_seconds = nan\n", "database.lock_timeout_seconds"),
]


@pytest.mark.parametrize(("name", "content", "problem"), BAD_FILES)
def test_check_config_prints_one_line_and_exits_2(
    name: str, content: bytes, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"{name}.toml"
    path.write_bytes(content.replace(b"lock_timeout_seconds = 1\n", b""))
    code, err = _check_config(path, capsys)
    assert code == 2
    assert err.startswith(f"intake: {path}: ") and problem in err and err.count("\n") == 1


@pytest.mark.parametrize("name", ["missing.toml", "a-folder"])
def test_check_config_of_a_folder_or_a_missing_file_exits_2(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-folder").mkdir()
    code, err = _check_config(tmp_path / name, capsys)
    assert code == 2
    assert err.startswith(f"intake: {tmp_path / name}: ") and err.count("\n") == 1
