"""Running the `intake` command as a user does: a process of its own, its output kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def intake(
    *args: str, database_url: str = "sqlite:///unused.db", stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`intake ARGS...` from the project's folder, without INTAKE_CONFIG; with no
    terminal of its own, so that a password prompt reads standard input."""
    env = {**os.environ, "INTAKE_DATABASE_URL": database_url}
    env.pop("INTAKE_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "intake", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=60,
        start_new_session=True,
    )
