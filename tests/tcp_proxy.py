"""A loopback TCP proxy that can turn its open connections into a black hole.

It stands for a network path that dies without a word (a NAT that forgot the
connection, a cable pulled): nothing is closed, data just stops arriving.
"""

from __future__ import annotations

import socket
import threading


class BlackHoleProxy:
    """Forwards 127.0.0.1:port to target_port; after black_hole(), open connections go silent."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._generation = 0
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def black_hole(self) -> None:
        """Swallow whatever the open connections send from now on; new ones still work."""
        self._generation += 1

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
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink, self._generation), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, generation: int) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    sink.close()
                    return
                if generation == self._generation:
                    sink.sendall(data)
            except OSError:
                return
