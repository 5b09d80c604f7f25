"""A loopback TCP proxy that can turn its open connections into a black hole, or withhold
the server's replies.

A black hole stands for a network path that dies without a word (a NAT that forgot the
connection, a cable pulled): nothing is closed, data just stops arriving. Withheld
replies stand for a server that dies after it acted and before its answer left: the
client's bytes still reach the server, the server's never reach the client, and when
the server's end closes, the client's end is closed too.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress


class BlackHoleProxy:
    """Forwards 127.0.0.1:port to target_port; after black_hole(), open connections go silent."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._generation = 0
        self._withholding = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def black_hole(self) -> None:
        """Swallow whatever the open connections send from now on; new ones still work."""
        self._generation += 1

    def withhold_replies(self) -> None:
        """From now on, swallow what the server sends; the client's bytes still go through."""
        self._withholding = True

    def close(self) -> None:
        self.listener.close()
        for sock in self._sockets:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, upstream]
            for source, sink, replies in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(
                    target=self._pump, args=(source, sink, self._generation, replies), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, generation: int, replies: bool) -> None:
        try:
            while data := source.recv(65536):
                if generation == self._generation and not (replies and self._withholding):
                    sink.sendall(data)
        except OSError:
            pass  # this end was closed or reset: the other end is closed below all the same
        # shutdown() rather than close(): it reaches the peer and wakes the pump reading it.
        with suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)
