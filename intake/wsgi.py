"""Serving the web app with waitress, a production WSGI server, on a thread of its own."""

from __future__ import annotations

import threading

from flask import Flask
from waitress import wasyncore
from waitress.server import create_server

from config.settings import ListenAddress


class WebServer:
    def __init__(self, app: Flask, listen: ListenAddress, threads: int = 8) -> None:
        self.server = create_server(app, host=listen.host, port=listen.port, threads=threads)
        self.thread = threading.Thread(target=self.server.run, name="web", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Finish the requests being served, then close every socket."""
        self.server.task_dispatcher.shutdown()
        # The server's loop ends by itself once its socket map is empty.
        wasyncore.close_all(self.server._map)
        self.thread.join(timeout=10)
