"""Running `intake serve` as a real process on free ports, for end-to-end tests."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServeProcess:
    """`intake serve` in a subprocess; its output is collected line by line."""

    def __init__(self, config: Path, database_url: str, *args: str) -> None:
        self.smtp_port, self.web_port = free_port(), free_port()
        env = {**os.environ, "INTAKE_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
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

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}{path}", timeout=10) as response:
            return json.load(response)

    def get_text(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}{path}", timeout=10) as response:
            text: str = response.read().decode()
            return text

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)
