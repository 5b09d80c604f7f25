"""The worker processes that `intake serve` and `intake smtp` start: `intake worker`
children on the same config and database, making items of the inbox and doing the queued
jobs (replies, notifications, downloads, retention) away from the serving process, started
again when one dies.

Each child is told its parent's process id and leaves when its parent is gone, so a
serving process killed outright leaves no worker behind; what the child had claimed
is claimed again once its lease ends.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

# How long stop() waits for a child to finish the message or job in hand before killing it.
STOP_SECONDS = 30.0
# A child that died is started again after this pause, so that a broken setup does not spin.
RESTART_SECONDS = 1.0


class WorkerProcesses:
    """`count` children running `intake worker`, watched by a thread that restarts them."""

    def __init__(self, config: Path, count: int) -> None:
        self.config = config
        self.count = count
        self._children: list[subprocess.Popen[bytes]] = []
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="worker-processes", daemon=True)

    def start(self) -> None:
        self._children = [self._spawn() for _ in range(self.count)]
        self._watcher.start()

    def stop(self) -> None:
        """Ask every child to finish its message in hand and leave; kill the slow ones."""
        self._stop.set()
        self._watcher.join()
        for child in self._children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self._children:
            try:
                child.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("worker %s did not stop; killed", child.pid)
                child.kill()
                child.wait()

    def reload(self) -> None:
        """Have every child read the config again (SIGHUP), as the serving process does."""
        for child in self._children:
            if child.poll() is None:
                child.send_signal(signal.SIGHUP)

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "intake", "--config", str(self.config), "worker"]
        # The child inherits this thread's blocked SIGHUP and unblocks it once its handler
        # is in (intake.cli.reload_signal): a reload passed on while the interpreter
        # starts waits for it instead of ending it.
        kept = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        try:
            return subprocess.Popen([*command, "--parent", str(os.getpid())])
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, kept)

    def _watch(self) -> None:
        while not self._stop.wait(RESTART_SECONDS):
            for index, child in enumerate(self._children):
                if child.poll() is not None and not self._stop.is_set():
                    log.warning(
                        "worker %s ended (exit code %s); starting another", child.pid, child.returncode
                    )
                    self._children[index] = self._spawn()
