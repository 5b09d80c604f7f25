"""The [[imap]] tables: the mailboxes Intake reads, how, and what it does after storing."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from config.settings import (
    Department,
    ImapMailbox,
)
from config.table import Table, bounded, seconds

_IMAP_KEYS = (
    "name", "host", "port", "security", "username", "password", "password_env", "oauth2_token_file",
    "folder", "department", "after", "move_to", "flag", "idle_renew_seconds", "poll_seconds",
    "timeout_seconds", "backoff_seconds", "backoff_max_seconds", "lease_seconds",
)  # fmt: skip

_SECURITY_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
# RFC 2177: a server may drop an IDLE client after 30 minutes; stay well inside.
_IDLE_RENEW_LIMIT = 29 * 60
# Renewed every third of it: shorter loads the database for nothing, longer delays a takeover.
_LEASE_RANGE = (1.0, 3600.0)
# The flags STORE can set (RFC 3501): a system flag, or a keyword, which is printable
# ASCII without a space or any of ( ) { % * " \ ].
_SYSTEM_FLAGS = ("\\seen", "\\answered", "\\flagged", "\\deleted", "\\draft")
_NOT_IN_KEYWORDS = frozenset('(){%*"\\]')
# A mailbox's name keys its reading position and its lease (as "imap:NAME"), both columns
# of 200 characters; a name is a label people read, so a hundred is plenty.
_NAME_LIMIT = 100
# The other waits: an hour at most (a longer one is a typo, and past some size a wait
# no longer fits a socket's timeout at all).
_WAIT_LIMIT = 3600.0


def read_imap(
    root: Table, departments: tuple[Department, ...], env: Mapping[str, str]
) -> tuple[ImapMailbox, ...]:
    mailboxes: list[ImapMailbox] = []
    for table in root.tables("imap"):
        mailbox = _imap_mailbox(table, departments, env)
        if mailbox.name in {m.name for m in mailboxes}:
            raise table.fail("name", f"duplicate mailbox name {mailbox.name!r}")
        mailboxes.append(mailbox)
    return tuple(mailboxes)


def _imap_mailbox(table: Table, departments: tuple[Department, ...], env: Mapping[str, str]) -> ImapMailbox:
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
    folder = table.text("folder", "INBOX")
    if move_to is not None and _same_folder(move_to, folder):
        # The message would come back under a new UID, to be read and moved again forever.
        raise table.fail("move_to", f"must not be the folder read ({folder})")
    name = table.text("name")
    if len(name) > _NAME_LIMIT:
        raise table.fail("name", f"must be at most {_NAME_LIMIT} characters, not {len(name)}")
    return ImapMailbox(
        name=name,
        host=table.text("host"),
        port=port,
        security=security,
        username=table.text("username"),
        password=password,
        oauth2_token_file=token_file,
        folder=folder,
        department=_imap_department(table, departments),
        after=after,
        move_to=move_to,
        flag=_flag(table),
        idle_renew_seconds=seconds(
            table, "idle_renew_seconds", ImapMailbox.idle_renew_seconds, _IDLE_RENEW_LIMIT
        ),
        poll_seconds=seconds(table, "poll_seconds", ImapMailbox.poll_seconds, _WAIT_LIMIT),
        timeout_seconds=seconds(table, "timeout_seconds", ImapMailbox.timeout_seconds, _WAIT_LIMIT),
        backoff_seconds=seconds(table, "backoff_seconds", ImapMailbox.backoff_seconds, _WAIT_LIMIT),
        backoff_max_seconds=seconds(
            table, "backoff_max_seconds", ImapMailbox.backoff_max_seconds, _WAIT_LIMIT
        ),
        lease_seconds=bounded(table, "lease_seconds", ImapMailbox.lease_seconds, *_LEASE_RANGE),
    )


def _same_folder(one: str, other: str) -> bool:
    """Whether two mailbox names name one folder: INBOX in any case, the others exactly."""
    return one == other or one.upper() == other.upper() == "INBOX"


def _flag(table: Table) -> str:
    """The flag set after storing, checked here: the server would refuse a bad one only
    after the first message is stored, and the poller would stay on that message."""
    flag = table.text("flag", ImapMailbox.flag)
    keyword = all("!" <= char <= "~" and char not in _NOT_IN_KEYWORDS for char in flag)
    if flag.lower() not in _SYSTEM_FLAGS and not keyword:
        kinds = '\\Seen, \\Answered, \\Flagged, \\Deleted, \\Draft, or a keyword without spaces or ( ) { % * " \\ ]'
        raise table.fail("flag", f"{flag} is not a flag IMAP can set ({kinds})")
    return flag


def _imap_credentials(table: Table, env: Mapping[str, str]) -> tuple[str | None, Path | None]:
    given = [key for key in ("password", "password_env", "oauth2_token_file") if key in table.data]
    if len(given) != 1:
        raise table.fail("password", "give exactly one of password, password_env, oauth2_token_file")
    if "password_env" in table.data:
        return table.from_env("password_env", env, "BILLING_IMAP_PASSWORD"), None
    if "password" in table.data:
        return table.text("password"), None
    return None, Path(table.text("oauth2_token_file"))


def _imap_department(table: Table, departments: tuple[Department, ...]) -> str | None:
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
