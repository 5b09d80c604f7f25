"""Running `intake serve` as a real process on free ports, for end-to-end tests."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from tests.support.inbox import wait_until_drained
from tests.support.people import HttpUser

RUNNING = "Intake is running"
WORKER_RUNNING = "is making items of accepted messages"
_WORKERS = re.compile(r"Inbox workers: (\d+) processes")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServeProcess:
    """`intake serve` in a subprocess; its output is collected line by line."""

    def __init__(self, config: Path, database_url: str, *args: str, log_level: str = "info") -> None:
        self.database_url = database_url
        self._user: HttpUser | None = None
        self.smtp_port, self.web_port = free_port(), free_port()
        # "info" whatever the shell says: wait_until_running() reads the workers' INFO lines.
        env = {
            **os.environ,
            "INTAKE_DATABASE_URL": database_url,
            "INTAKE_LOG_LEVEL": log_level,
            "PYTHONUNBUFFERED": "1",
        }
        command = [
            sys.executable,
            "-m",
            "intake",
            "--config",
            str(config),
            "serve",
            "--smtp",
            f"127.0.0.1:{self.smtp_port}",
            "--web",
            f"127.0.0.1:{self.web_port}",
            *args,
        ]
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for_line(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r}; output so far:\n{''.join(self.output)}")

    def wait_until_running(self, timeout: float = 30.0) -> None:
        """Return once the process serves and each inbox worker process it started makes items.

        The workers start after the doors open, in seconds on a loaded machine; mail sent
        before waits in the inbox, and a test's deadline for what it waits for would count
        their start-up too."""
        self.wait_for_line(RUNNING, timeout)
        started = _WORKERS.search("".join(self.output))
        workers = int(started[1]) if started else 0
        deadline = time.monotonic() + timeout
        while sum(WORKER_RUNNING in line for line in self.output) < workers:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"{workers} inbox workers did not start; output:\n{''.join(self.output)}"
                )
            time.sleep(0.02)

    @property
    def user(self) -> HttpUser:
        """The first admin this process made, signed in (on first use) with a token."""
        if self._user is None:
            base = f"http://127.0.0.1:{self.web_port}"
            self._user = HttpUser.first_admin_of(base, "".join(self.output), self.database_url)
        return self._user

    def wait_until_drained(self) -> None:
        """Return once every message this office accepted has been made an item by its workers."""
        engine = create_engine(self.database_url)
        try:
            wait_until_drained(sessionmaker(engine))
        finally:
            engine.dispose()

    def get_json(self, path: str) -> Any:
        return self.user.get_json(path)

    def get_text(self, path: str) -> str:
        return self.user.get_text(path)

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)
