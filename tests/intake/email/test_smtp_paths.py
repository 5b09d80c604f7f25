"""The door reads a MAIL FROM or RCPT TO path as aiosmtpd's own parser does, whether
through its quick reading of the plain form or through that parser."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiosmtpd.smtp import SMTP

from intake.email.smtp import IntakeSMTP
from intake.email.smtp_connections import ConnectionCount
from intake.email.smtp_data import DataLimits

PATHS = [
    "<ann@client.example>",
    "<Ann.Example+invoices@Client-Mail.example> SIZE=3072 BODY=8BITMIME",
    "<a!#$%&'*/=?^_`{|}~-@x.example>",
    "<ann@client.example>SIZE=1",
    "<ann@client.example>  \t SMTPUTF8",
    "<ann@client.example> ",
    "<ann@client.example> (a comment) SIZE=1",
    "<ann@client.example>(a comment)",
    "<ann@client.example>>",
    "<>",
    "<> SIZE=10",
    '<"ann example"@client.example>',
    "<ann..example@client.example>",
    "<ann.@client.example>",
    "<ann@.example>",
    "<ann@client..example>",
    "<ann@[192.0.2.1]>",
    "<ann@client.example",
    "< ann@client.example>",
    "<ann @client.example>",
    "<ann(comment)@client.example>",
    "<anné@client.example>",
    "<ann@clïent.example>",
    "ann@client.example",
    "ann@client.example SIZE=1",
    "<ann>",
    "<@client.example>",
    "",
    "<" + "a" * 64 + "@client.example>",
    "<" + "a" * 65 + "@client.example>",
]


@pytest.fixture(scope="module")
def protocols() -> Iterator[tuple[IntakeSMTP, SMTP]]:
    loop = asyncio.new_event_loop()
    limits = DataLimits(max_size=1 << 20, in_memory=1 << 16, idle_seconds=30.0)
    door = IntakeSMTP(object(), connections=ConnectionCount(10, 10), data_limits=limits, loop=loop)  # type: ignore[arg-type]
    yield door, SMTP(object(), loop=loop)
    loop.close()


@pytest.mark.parametrize("path", PATHS)
def test_a_path_reads_as_aiosmtpd_reads_it(protocols: tuple[IntakeSMTP, SMTP], path: str) -> None:
    door, aiosmtpd = protocols
    assert door._getaddr(path) == aiosmtpd._getaddr(path)


@pytest.mark.parametrize("limit", [0, 10])
def test_the_local_part_limit_holds_on_the_plain_form_too(
    protocols: tuple[IntakeSMTP, SMTP], limit: int
) -> None:
    door, aiosmtpd = protocols
    path = "<" + "a" * 11 + "@client.example>"
    door.local_part_limit = aiosmtpd.local_part_limit = limit
    try:
        assert door._getaddr(path) == aiosmtpd._getaddr(path)
        assert (door._getaddr(path)[0] is None) == bool(limit)
    finally:
        door.local_part_limit = aiosmtpd.local_part_limit = 0


def test_a_source_route_is_kept_for_the_recipient_check(protocols: tuple[IntakeSMTP, SMTP]) -> None:
    door, _ = protocols
    assert door._getaddr("<@relay.example,@other.example:user@office.test>") == (
        "@relay.example,@other.example:user@office.test",
        "",
    )
