"""Serving the web app with waitress, a production WSGI server, on a thread of its own.

The server faces the internet, so its limits come from the `[web]` settings rather than
waitress's defaults (100 connections, 120 s before an idle one is closed, 1 GiB bodies):
idle connections must not starve /healthz, the pages and the Twilio webhooks, and no
body larger than the largest page accepts is read at all.
"""

from __future__ import annotations

import logging
import resource
import threading

from flask import Flask
from waitress import wasyncore
from waitress.server import create_server

from config.settings import WebSettings

log = logging.getLogger(__name__)
# File descriptors the process needs besides its web connections: the database, the
# SMTP and IMAP connections, log files, the task threads' spooled bodies.
_OTHER_FILES = 256


class WebServer:
    def __init__(self, app: Flask, web: WebSettings) -> None:
        _allow_open_files(web.connection_limit + _OTHER_FILES)
        self.server = create_server(
            app,
            host=web.listen.host,
            port=web.listen.port,
            threads=web.threads,
            connection_limit=web.connection_limit,
            channel_timeout=web.idle_timeout_seconds,
            # How often idle connections are looked for: a timeout is kept within half its length.
            cleanup_interval=max(1, web.idle_timeout_seconds // 2),
            # waitress refuses a body of this size or more; the setting is the largest accepted.
            max_request_body_size=web.max_request_bytes + 1,
            # select() fails on descriptors past 1023, which a thousand connections reach.
            asyncore_use_poll=True,
            ident="intake",
        )
        self.thread = threading.Thread(target=self.server.run, name="web", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Finish the requests being served, then close every socket."""
        self.server.task_dispatcher.shutdown()
        # The server's loop ends by itself once its socket map is empty.
        wasyncore.close_all(self.server._map)
        self.thread.join(timeout=10)


def _allow_open_files(wanted: int) -> None:
    """Raise this process's soft limit of open files towards `wanted`, as far as the hard
    limit allows; many systems start processes at 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        if raised < wanted:
            log.warning("only %d files may be open (web connection_limit needs %d)", raised, wanted)
