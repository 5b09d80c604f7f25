"""Servers on loopback written by hand, for the answers no server library gives."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


def serve_each(listener: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    """Accept connections on `listener` until it is closed, each handled on a thread of its own."""
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return  # closed
        threading.Thread(target=handle, args=(connection,), daemon=True).start()
