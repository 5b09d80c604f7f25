"""Receiving one message's DATA: in pieces, held in memory only up to a limit, timed per piece.

aiosmtpd reads DATA a line at a time through the buffer it reads commands with, so
a long line would need a buffer as large as the whole message; it keeps the message
in memory, and it gives the whole transfer one timeout. Here a line of any length is
read in pieces no larger than that buffer, the bytes go to a spool that moves to a
temporary file past the memory limit, and the idle timer starts again with each
piece: a slow sender of a big message is not cut off, a silent one is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from tempfile import SpooledTemporaryFile

Spool = SpooledTemporaryFile[bytes]

CRLF = b"\r\n"
END_OF_DATA = b".\r\n"


@dataclass(frozen=True)
class DataLimits:
    """How much one message may be, how much of it stays in memory, how long a pause may be."""

    max_size: int
    in_memory: int
    idle_seconds: float


async def receive_data(
    reader: asyncio.StreamReader, limits: DataLimits, heard_from: Callable[[], None]
) -> Spool | None:
    """The message up to the lone dot, dot-unstuffed, or None when it is over `max_size`.

    `heard_from` restarts the idle timer: at once, then as pieces arrive, at most ten
    times per idle period (a timer re-armed for every line would cost more than the
    line), so a silence of between 0.9 and 1 idle period ends the transfer. Past the
    size limit the rest is read and dropped: the sender hears 552 at the end (RFC 5321
    4.2.5).
    """
    loop = asyncio.get_running_loop()
    heard_from()
    heard_at = loop.time()
    # Closed here on failure, else by whoever stores the message.
    spool: Spool | None = SpooledTemporaryFile(max_size=limits.in_memory)  # noqa: SIM115
    size, at_line_start = 0, True
    try:
        while True:
            piece = await _next_piece(reader)
            if loop.time() - heard_at > limits.idle_seconds / 10:
                heard_from()
                heard_at = loop.time()
            if at_line_start and piece == END_OF_DATA:
                break
            if at_line_start and piece.startswith(b"."):
                piece = piece[1:]  # RFC 5321 4.5.2: the sender doubled a leading dot
            at_line_start = piece.endswith(CRLF)
            size += len(piece)
            if spool is not None and size > limits.max_size:
                spool.close()
                spool = None
            if spool is not None:
                spool.write(piece)
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    if spool is not None:
        spool.seek(0)
    return spool


async def _next_piece(reader: asyncio.StreamReader) -> bytes:
    """The rest of a line with its CRLF, or as much of a longer line as the buffer holds.

    When no CRLF fits in the buffer, the reader counts as `consumed` all of it but a
    last byte that may be the CR of a CRLF, so a CRLF split between two reads is
    still seen whole, and a lone dot is only ever recognised at a line's start.
    """
    try:
        return await reader.readuntil(CRLF)
    except asyncio.LimitOverrunError as overrun:
        return await reader.read(overrun.consumed)
