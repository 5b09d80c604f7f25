"""The [twilio] table: the account, the public URL, greetings and downloads."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from config.settings import (
    TWILIO_REDIRECT_HOSTS,
    OpenClosedText,
    TwilioSettings,
)
from config.table import PHONE, Table, bounded

_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}\Z")
_BASE_URL = re.compile(r"^https?://[^/?#@\s]+\Z")
# Twilio refuses a message longer than this, for good. It counts a text with a character
# outside GSM-7 in UTF-16 code units, and one in GSM-7 alone in characters: the same
# number, since a character that takes two code units (an emoji) is never GSM-7.
MAX_TEXT = 1_600
# Well inside the download worker's five-minute claim, so no other worker takes over a
# download still running (one slow read may add one more timeout past the deadline).
MAX_DOWNLOAD_SECONDS = 120.0


def read_twilio(table: Table, env: Mapping[str, str], department_ids: set[str]) -> TwilioSettings:
    """The [twilio] table; TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and INTAKE_PUBLIC_URL win."""
    table.only(
        "account_sid", "auth_token", "auth_token_env", "public_url", "api_base_url", "redirect_hosts",
        "proxy_hops", "record_max_seconds", "transcribe", "download_max_bytes",
        "download_timeout_seconds", "download_attempts", "greetings", "acknowledgements", "texting_numbers",
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
    greetings = _texts(table.table("greetings"), lambda key: key == "default" or bool(PHONE.match(key)))
    acknowledgements = _texts(
        table.table("acknowledgements"), lambda key: key in department_ids, longest=MAX_TEXT
    )
    texting_numbers = table.strings("texting_numbers")
    for number in texting_numbers:
        if not PHONE.match(number):
            raise table.fail("texting_numbers", f"{number!r} is not an E.164 number such as +15555550101")
    return TwilioSettings(
        account_sid=account_sid,
        auth_token=_auth_token(table, env),
        public_url=public_url,
        api_base_url=api_base_url,
        redirect_hosts=tuple(h.lower() for h in table.strings("redirect_hosts")) or TWILIO_REDIRECT_HOSTS,
        proxy_hops=bounded(table, "proxy_hops", 0, 0, 10),
        record_max_seconds=bounded(table, "record_max_seconds", 120, 1, 3600),
        transcribe=table.get("transcribe", bool, True),
        download_max_bytes=bounded(
            table, "download_max_bytes", TwilioSettings.download_max_bytes, 1024, 2**31
        ),
        download_timeout_seconds=bounded(table, "download_timeout_seconds", 20.0, 0.1, MAX_DOWNLOAD_SECONDS),
        download_attempts=bounded(table, "download_attempts", 6, 1, 100),
        greetings=greetings,
        acknowledgements=acknowledgements,
        texting_numbers=texting_numbers,
    )


def _auth_token(table: Table, env: Mapping[str, str]) -> str:
    if "auth_token" in table.data and "auth_token_env" in table.data:
        raise table.fail("auth_token_env", "set either auth_token or auth_token_env, not both")
    if env.get("TWILIO_AUTH_TOKEN"):
        return table.secret("auth_token", "TWILIO_AUTH_TOKEN", env["TWILIO_AUTH_TOKEN"])
    if "auth_token_env" in table.data:
        return table.from_env("auth_token_env", env, "TWILIO_AUTH_TOKEN")
    return table.line("auth_token")


def text_length(text: str) -> int:
    """`text`'s length as Twilio counts it against MAX_TEXT: in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _texts(table: Table, known: Any, longest: int | None = None) -> tuple[tuple[str, OpenClosedText], ...]:
    """A table of {open, closed} texts keyed by a number or a department id, each at
    most `longest` long as Twilio counts (for a text sent, not a greeting said), and
    none made only of blanks."""
    texts = []
    for key in table.data:
        if not known(key):
            raise table.fail(key, "unknown key (use a configured department, an E.164 number or default)")
        entry = table.table(key)
        entry.only("open", "closed")
        texts.append((key, OpenClosedText(_text(entry, "open", longest), _text(entry, "closed", longest))))
    return tuple(texts)


def _text(entry: Table, name: str, longest: int | None) -> str:
    text: str = entry.get(name, str, "")
    if text and not text.strip():
        # Left out, a text is none (no greeting said, no acknowledgement sent); blanks
        # would be a text sent or said that shows or says nothing.
        raise entry.fail(name, "is only blanks (leave the key out for none)")
    length = text_length(text)
    if longest is not None and length > longest:
        raise entry.fail(
            name,
            f"is {length:,} characters as Twilio counts them (an emoji counts two); at most {longest:,} fit",
        )
    return text
