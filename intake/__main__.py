"""`python -m intake` and the `intake` command: SIGHUP noted from the first moment, then
the command."""

import sys

from intake.cli.reload_signal import note_reloads


def main() -> int:
    # Before the command's modules load, which takes a second: a reload sent meanwhile
    # must wait for the process, not end it.
    note_reloads()
    from intake.cli.main import main as command

    return command()


if __name__ == "__main__":
    sys.exit(main())
