"""The [[imap]] mailboxes of an office's TOML file: defaults, and every kind of bad value."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w

from config.loading import load_settings
from config.settings import ImapMailbox
from intake.email.imap import mailbox_recipients
from tests.conftest import assert_refused

IMAP_OFFICE = Path(__file__).parents[1].joinpath("office-imap.toml")
ENV = {"BILLING_IMAP_PASSWORD": "s3cret"}


def test_mailboxes_load_with_their_defaults() -> None:
    settings = load_settings(IMAP_OFFICE, ENV)
    billing, shared = settings.imap
    assert billing == ImapMailbox(
        name="billing-inbox",
        host="imap.example.net",
        port=993,
        security="ssl",
        username="billing@office.test",
        password="s3cret",
        department="billing",
        after="move",
        move_to="Imported",
    )
    assert (shared.port, shared.security, shared.folder) == (143, "starttls", "Office/Incoming")
    assert (shared.password, shared.oauth2_token_file) == (None, Path("/run/intake/shared.token"))
    assert (shared.after, shared.flag, shared.department) == ("flag", "\\Seen", None)
    assert (shared.idle_renew_seconds, shared.timeout_seconds) == (300.0, 30.0)
    assert (billing.lease_seconds, shared.lease_seconds) == (30.0, 45.0)
    # Mail from a mapped mailbox is addressed to its department; the other is routed by its headers.
    assert mailbox_recipients(settings, billing) == ("billing@office.test",)
    assert mailbox_recipients(settings, shared) == ()


def test_an_office_without_mailboxes_has_none() -> None:
    assert load_settings(Path(__file__).parents[1].joinpath("office.toml"), {}).imap == ()


BAD_CASES = [
    ("0", "colour", "'blue'", "imap[0].colour", "unknown key"),
    ("0", "security", "'tls'", "imap[0].security", "must be one of ssl, starttls, none"),
    ("0", "port", "0", "imap[0].port", "from 1 to 65535"),
    ("0", "password", "'x'", "imap[0].password", "exactly one of password, password_env"),
    ("0", "password_env", None, "imap[0].password", "exactly one of password, password_env"),
    ("0", "password_env", "'UNSET_VARIABLE'", "imap[0].password_env", "UNSET_VARIABLE is not set"),
    ("0", "password_env", "'hunter2'", "imap[0].password_env", "not an environment variable name"),
    ("0", "move_to", None, "imap[0].move_to", 'required with after = "move"'),
    ("1", "move_to", "'Archive'", "imap[1].move_to", 'required with after = "move"'),
    ("0", "after", "'delete'", "imap[0].after", "must be move or flag"),
    # Moved into the folder it is read from, a message comes back under a new UID, forever.
    ("0", "move_to", "'INBOX'", "imap[0].move_to", "must not be the folder read (INBOX)"),
    ("0", "move_to", "'inbox'", "imap[0].move_to", "must not be the folder read (INBOX)"),
    # Flags the server would refuse (or split in two) only after the first message is stored.
    ("1", "flag", "'\\Junk'", "imap[1].flag", "not a flag IMAP can set"),
    ("1", "flag", "'Intake done'", "imap[1].flag", "not a flag IMAP can set"),
    ("1", "flag", "'(Done'", "imap[1].flag", "not a flag IMAP can set"),
    ("0", "department", "'sales'", "imap[0].department", "unknown department 'sales'"),
    ("0", "department", "'phones'", "imap[0].department", "no email address to route by"),
    ("1", "idle_renew_seconds", "1800", "imap[1].idle_renew_seconds", "at most 1740"),
    ("1", "timeout_seconds", "0", "imap[1].timeout_seconds", "greater than 0"),
    ("1", "lease_seconds", "0.5", "imap[1].lease_seconds", "must be from 1.0 to 3600.0"),
    ("1", "lease_seconds", "3601", "imap[1].lease_seconds", "must be from 1.0 to 3600.0"),
    ("1", "lease_seconds", "'30'", "imap[1].lease_seconds", "must be float, not str"),
    ("1", "name", "'billing-inbox'", "imap[1].name", "duplicate mailbox name 'billing-inbox'"),
    ("1", "name", "'" + "m" * 101 + "'", "imap[1].name", "at most 100 characters, not 101"),
    ("1", "host", "''", "imap[1].host", "must not be empty"),
    ("1", "username", None, "imap[1].username", "is required"),
]


@pytest.mark.parametrize(
    ("index", "name", "value", "key", "problem"), BAD_CASES, ids=[c[3] for c in BAD_CASES]
)
def test_a_bad_mailbox_is_refused_naming_file_and_key(
    tmp_path: Path, index: str, name: str, value: str | None, key: str, problem: str
) -> None:
    data = tomllib.loads(IMAP_OFFICE.read_text())
    mailbox = data["imap"][int(index)]
    if value is None:
        del mailbox[name]
    else:
        mailbox[name] = tomllib.loads(f"v = {value}")["v"]
    path = tmp_path / "office.toml"
    path.write_text(tomli_w.dumps(data))
    assert_refused(path, key, problem, ENV)
