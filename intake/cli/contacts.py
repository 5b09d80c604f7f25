"""The commands for a person's data: `intake contacts export|erase WHO` and
`intake retention run`.

WHO is a contact's number, or any of its email addresses or phone numbers. An erasure
cannot be undone: it asks for "yes" first, unless --yes says so for a script.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config.settings import Settings
from intake.cli.usage import UsageError
from routing.contacts import directory
from routing.contacts.erasure import erase_contact, forget
from routing.contacts.export import export_contact
from routing.contacts.retention import purge
from routing.normalize import normalizer_for
from routing.store.database import transaction

ERASER = "intake contacts erase"


def add_commands(commands: Any) -> None:
    contacts = commands.add_parser("contacts", help="a person's data: export it, erase it")
    actions = contacts.add_subparsers(required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write a zip of everything the office holds about a person")
    export.add_argument("who", metavar="WHO", help="the contact's number, or one of its addresses or numbers")
    export.add_argument(
        "--output", type=Path, metavar="PATH", help="the zip to write (default contact-ID.zip)"
    )
    export.set_defaults(run=_export)
    erase = actions.add_parser("erase", help="erase a person: their items, files, addresses and words")
    erase.add_argument("who", metavar="WHO", help="the contact's number, or one of its addresses or numbers")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation (for scripts)")
    erase.set_defaults(run=_erase)
    retention = commands.add_parser("retention", help="erase what is older than [retention] keeps")
    retention_actions = retention.add_subparsers(required=True, metavar="ACTION")
    retention_actions.add_parser("run", help="run the retention purge now").set_defaults(run=_retention)


@contextmanager
def _opened(settings: Settings) -> Iterator[Any]:
    from intake.cli.runtime import open_runtime

    runtime = open_runtime(settings)
    try:
        yield runtime
    except directory.ContactError as error:
        raise UsageError(str(error)) from None
    finally:
        runtime.engine.dispose()


def _export(settings: Settings, args: argparse.Namespace) -> None:
    with _opened(settings) as runtime, transaction(runtime.sessions, write=False) as session:
        contact = directory.find_contact(session, args.who, settings.region)
        path = args.output or Path(f"contact-{contact.id}.zip")
        try:
            into = path.open("wb")
        except OSError as error:
            raise UsageError(f"{path}: {error.strerror}") from None
        with into:
            count = export_contact(session, contact, into)
    print(f"Wrote {path}: contact {contact.id}, {count} items.")


def _erase(settings: Settings, args: argparse.Namespace) -> int:
    with _opened(settings) as runtime:
        with transaction(runtime.sessions, write=False) as session:
            contact = directory.find_contact(session, args.who, settings.region)
            described = f"contact {contact.id} ({len(contact.addresses)} addresses and numbers)"
        if not args.yes and not _confirmed(described):
            print("Nothing was erased.", file=sys.stderr)
            return 1
        with transaction(runtime.sessions) as session:
            found = directory.find_contact(session, args.who, settings.region)
            erased = erase_contact(session, found, ERASER, normalizer_for(settings.languages))
        forget(runtime.sessions)
    print(f"Erased {described}: {erased.items} items. The audit log keeps a tombstone without personal data.")
    return 0


def _confirmed(described: str) -> bool:
    if not sys.stdin.isatty():
        raise UsageError("erase asks for confirmation on a terminal; give --yes to erase from a script")
    answer = input(f"Erase {described} and all their items for good? Type yes: ")
    return answer.strip().lower() == "yes"


def _retention(settings: Settings, args: argparse.Namespace) -> None:
    with _opened(settings) as runtime:
        report = purge(runtime.sessions, settings.retention, datetime.now(UTC))
    print(f"Retention: {report.summary()}.")
