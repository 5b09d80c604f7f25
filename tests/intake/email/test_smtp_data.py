"""Reading DATA off the stream: every message back as sent, wherever the wire cuts it,
and never a byte of the client's next command."""

from __future__ import annotations

import asyncio
import random

import pytest

from intake.email.smtp_data import DataLimits, Spool, receive_data

# The buffer the door reads commands through, small here so that long lines overrun it.
BUFFER = 64
NEXT_COMMAND = b"MAIL FROM:<next@client.example>\r\n"
LIMITS = DataLimits(max_size=1 << 20, in_memory=1 << 16, idle_seconds=30.0)

MESSAGES = {
    "empty": b"",
    "one empty line": b"\r\n",
    "a plain line": b"Subject: hi\r\n\r\nhello\r\n",
    "lines ending in a dot": b"Subject: x.\r\n\r\nSee you.\r\nEnd.\r\n.\r\n",
    "a line that is a dot": b"before\r\n.\r\nafter\r\n",
    "leading dots": b".first\r\n..second\r\n...\r\n.\r\n",
    "a dot line last": b"text\r\n.\r\n",
    "bare CR and LF": b"a\rb\nc\n.\r\n.\r.\n\r\r\n.x\r\n",
    "a line longer than the buffer": b"x" * 300 + b".\r\n." + b"y" * 200 + b"\r\n",
    "a long line ending at the buffer's edge": b"z" * (BUFFER - 3) + b"\r\n.\r\n" + b"w" * BUFFER + b"\r\n",
    "no CRLF at the end": b"no line end",
}


def on_the_wire(message: bytes) -> bytes:
    """As a client sends it (RFC 5321 4.5.2): a leading dot doubled, then the lone dot."""
    stuffed = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in message.split(b"\r\n"))
    ending = b"\r\n.\r\n" if message and not message.endswith(b"\r\n") else b".\r\n"
    return stuffed + ending


def read(wire: bytes, cuts: list[int], limits: DataLimits = LIMITS) -> tuple[Spool | None, bytes]:
    """What receive_data makes of `wire` arriving in pieces cut at `cuts`, and what is
    left in the reader for the commands after it."""

    async def run() -> tuple[Spool | None, bytes]:
        reader = asyncio.StreamReader(limit=BUFFER)

        async def feed() -> None:
            for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
                reader.feed_data(wire[start:end])
                await asyncio.sleep(0)
            reader.feed_eof()

        feeding = asyncio.create_task(feed())
        spool = await receive_data(reader, limits)
        await feeding
        return spool, await reader.read()

    return asyncio.run(run())


def message_read(wire: bytes, cuts: list[int]) -> bytes:
    spool, rest = read(wire, cuts)
    assert spool is not None and rest == NEXT_COMMAND
    return spool.read()


@pytest.mark.parametrize("name", MESSAGES)
def test_each_message_comes_back_as_sent_in_one_piece(name: str) -> None:
    message = MESSAGES[name]
    expected = message if message.endswith(b"\r\n") or not message else message + b"\r\n"
    assert message_read(on_the_wire(message) + NEXT_COMMAND, []) == expected


@pytest.mark.parametrize("name", MESSAGES)
def test_each_message_comes_back_as_sent_cut_anywhere(name: str) -> None:
    message = MESSAGES[name]
    expected = message if message.endswith(b"\r\n") or not message else message + b"\r\n"
    wire = on_the_wire(message) + NEXT_COMMAND
    for cut in range(1, len(wire)):
        assert message_read(wire, [cut]) == expected, cut
    for seed in range(20):
        chosen = random.Random(seed)
        cuts = sorted(chosen.sample(range(1, len(wire)), min(len(wire) - 1, chosen.randint(2, 12))))
        assert message_read(wire, cuts) == expected, cuts


def test_a_message_byte_by_byte() -> None:
    message = b"".join(MESSAGES.values())
    wire = on_the_wire(message) + NEXT_COMMAND
    assert message_read(wire, list(range(1, len(wire)))) == message + b"\r\n"


def test_over_the_size_limit_the_rest_is_read_and_dropped_and_the_next_command_kept() -> None:
    message = b"".join(f"line {n}.\r\n".encode() for n in range(200))
    spool, rest = read(on_the_wire(message) + NEXT_COMMAND, [100, 1000], DataLimits(1000, 100, 30.0))
    assert spool is None and rest == NEXT_COMMAND


def test_a_message_at_the_size_limit_is_kept() -> None:
    message = b"".join(f"line {n}.\r\n".encode() for n in range(100))
    spool, _ = read(on_the_wire(message) + NEXT_COMMAND, [], DataLimits(len(message), 100, 30.0))
    assert spool is not None and spool.read() == message


def test_a_client_gone_mid_data_is_an_incomplete_read() -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        read(b"Subject: cut\r\n\r\nhalf a mess", [5])
