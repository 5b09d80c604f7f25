"""SIGHUP from a process's first moment: noted while the process starts, carried out as one
reload once it is ready.

Until a process handles SIGHUP, the signal's default action ends it, and the `intake`
command takes a second or more to load its modules and open the database: a reload sent
in that time (`kill -HUP`, or the serving process passing one on to a worker it has just
started) killed the process. This module imports nothing slow, so that the command can
install the handler before anything else.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType


class ReloadSignal:
    """The process's SIGHUP handler: a reload once `ready` gave one, noted until then."""

    def __init__(self) -> None:
        self.asked = False
        self._reload: Callable[[], object] | None = None
        signal.signal(signal.SIGHUP, self._receive)
        # A worker process starts with SIGHUP blocked (WorkerProcesses): one sent to it
        # before this handler was in waits for it instead of ending the process.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})

    def _receive(self, signum: int, frame: FrameType | None) -> None:
        if self._reload is None:
            self.asked = True
        else:
            self._reload()

    def ready(self, reload: Callable[[], object]) -> None:
        """Run `reload` at each SIGHUP from now on, and now once if any came before: the
        process read its config at start, perhaps before the edit the signal announced."""
        self._reload = reload
        if self.asked:
            self.asked = False
            reload()


def note_reloads() -> ReloadSignal:
    """The handler this process has, or a new one. The installed handler holds the state,
    not a global of this module: a caller that put another handler back (a test) gets a
    new one."""
    handler = signal.getsignal(signal.SIGHUP)
    noted = getattr(handler, "__self__", None)
    return noted if isinstance(noted, ReloadSignal) else ReloadSignal()
