"""Receiving one message's DATA: in pieces, held in memory only up to a limit, timed per piece.

aiosmtpd reads DATA a line at a time through the buffer it reads commands with, so
a long line would need a buffer as large as the whole message; it keeps the message
in memory. Here the message is read up to each `.` that ends a line (the end of
data is one standing alone), or in pieces no larger than that buffer where there is
none, and never past the end of data, so a client's next command stays in the
reader. The bytes go to a spool that moves to a temporary file past the memory limit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from tempfile import SpooledTemporaryFile

Spool = SpooledTemporaryFile[bytes]

CRLF = b"\r\n"
DOT_LINE_END = b".\r\n"
END_OF_DATA = b"\r\n.\r\n"
# RFC 5321 4.5.2: a line's leading dot is dropped (the sender doubled it).
LINE_START_DOT = b"\r\n."


@dataclass(frozen=True)
class DataLimits:
    """How much one message may be, how much of it stays in memory, how long a pause may be."""

    max_size: int
    in_memory: int
    idle_seconds: float


async def receive_data(reader: asyncio.StreamReader, limits: DataLimits) -> Spool | None:
    """The message up to the lone dot, dot-unstuffed, or None when it is over `max_size`.

    Past the size limit the rest is read and dropped: the sender hears 552 at the end
    (RFC 5321 4.2.5).
    """
    # Closed here on failure, else by whoever stores the message.
    spool: Spool | None = SpooledTemporaryFile(max_size=limits.in_memory)  # noqa: SIM115
    # The bytes read but not yet written: the end of a piece that may begin a line
    # whose dot is still to come. The data begins at a line's start, as if after a CRLF.
    held, size = CRLF, -len(CRLF)
    try:
        while True:
            piece, whole = await _next_piece(reader)
            text = held + piece
            ended = whole and text.endswith(END_OF_DATA)
            if ended:
                text, held = text[: -len(DOT_LINE_END)], b""
            else:
                text, held = _split_held(text)
            text = text.replace(LINE_START_DOT, CRLF)
            if size < 0:  # the CRLF put before the data
                text, size = text[len(CRLF) :], 0
            size += len(text)
            if spool is not None and size > limits.max_size:
                spool.close()
                spool = None
            if spool is not None:
                spool.write(text)
            if ended:
                break
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    if spool is not None:
        spool.seek(0)
    return spool


def _split_held(text: bytes) -> tuple[bytes, bytes]:
    """`text` less its end when that end may be the CRLF before a line's dot, and that end."""
    for length in (2, 1):
        if text.endswith(LINE_START_DOT[:length]):
            return text[:-length], text[-length:]
    return text, b""


async def _next_piece(reader: asyncio.StreamReader) -> tuple[bytes, bool]:
    """The bytes up to the next `.` ending a line, and True; or, when no such dot fits
    in the buffer, as much as the buffer holds but the last bytes that may begin one,
    and False. Nothing past the end of data is read."""
    try:
        return await reader.readuntil(DOT_LINE_END), True
    except asyncio.LimitOverrunError as overrun:
        return await reader.read(overrun.consumed), False
