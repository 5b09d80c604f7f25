"""The commands for people and access: `intake users ...` and `intake tokens ...`.

Passwords are read from a prompt or, with --password-stdin, from the first line of
standard input; never from the command line, where other users of the machine see it.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from intake.cli.usage import UsageError
from routing.people import accounts
from routing.store.database import transaction
from routing.store.models import ApiToken

_TOO_SHORT = f"A password needs at least {accounts.MIN_PASSWORD_LENGTH} characters; type another."


def add_commands(commands: Any) -> None:
    """`intake users add|list|disable|enable|reset-password` and `intake tokens create|list|revoke`."""
    users = commands.add_parser("users", help="the people who sign in to the queues")
    actions = users.add_subparsers(required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, help=f"one of {', '.join(accounts.ROLES)}")
    add.add_argument(
        "--department", action="append", default=[], metavar="ID", help="a department staff work in"
    )
    actions.add_parser("list", help="list the users").set_defaults(run=_users_list)
    disable = actions.add_parser("disable", help="stop a user signing in or using their tokens")
    enable = actions.add_parser("enable", help="let a disabled user sign in again")
    reset = actions.add_parser("reset-password", help="give a user a new password")
    for command, run in (
        (add, _users_add),
        (disable, _users_disable),
        (enable, _users_enable),
        (reset, _users_reset),
    ):
        if command is not add:
            command.add_argument("name")
        if command in (add, reset):
            command.add_argument(
                "--password-stdin", action="store_true", help="read the password from standard input"
            )
        command.set_defaults(run=run)

    tokens = commands.add_parser("tokens", help="API tokens")
    token_actions = tokens.add_subparsers(required=True, metavar="ACTION")
    create = token_actions.add_parser("create", help="make an API token for a user and show it once")
    create.add_argument("name")
    create.set_defaults(run=_tokens_create)
    token_actions.add_parser("list", help="list the tokens (never their values)").set_defaults(
        run=_tokens_list
    )
    revoke = token_actions.add_parser("revoke", help="stop a token working")
    revoke.add_argument("token_id", type=int, metavar="ID")
    revoke.set_defaults(run=_tokens_revoke)


@contextmanager
def _office(settings: Settings) -> Iterator[sessionmaker[Session]]:
    from intake.cli.runtime import open_runtime

    runtime = open_runtime(settings)
    try:
        yield runtime.sessions
    except accounts.PeopleError as error:
        raise UsageError(str(error)) from None
    finally:
        runtime.engine.dispose()


@contextmanager
def _people(settings: Settings) -> Iterator[Session]:
    with _office(settings) as sessions, transaction(sessions) as session:
        yield session


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    # Asked again until the two agree, as passwd does; Ctrl-D or Ctrl-C gives up.
    try:
        while True:
            password = getpass.getpass("Password: ")
            if getpass.getpass("Password again: ") != password:
                print("The two passwords differ; type them again.", file=sys.stderr)
            elif len(password) < accounts.MIN_PASSWORD_LENGTH:
                print(_TOO_SHORT, file=sys.stderr)
            else:
                return password
    except (EOFError, KeyboardInterrupt):
        raise UsageError("no password given") from None


def _users_add(settings: Settings, args: argparse.Namespace) -> None:
    with _office(settings) as sessions:
        # Checked first, so that nobody types a password twice to hear of a typo in the rest.
        with transaction(sessions, write=False) as session:
            accounts.check_new_user(session, args.name, args.role, args.department)
        password = _password(args)
        with transaction(sessions) as session:
            user = accounts.add_user(session, args.name, args.role, password, args.department)
            print(f"Added {user.role} {user.name}.")


def _users_list(settings: Settings, args: argparse.Namespace) -> None:
    with _people(settings) as session:
        for user in accounts.list_users(session):
            departments = ", ".join(m.department_id for m in user.memberships) or "every queue"
            state = "" if user.active else "  (disabled)"
            print(f"{user.name:<20} {user.role:<13} {departments}{state}")


def _users_disable(settings: Settings, args: argparse.Namespace) -> None:
    with _people(settings) as session:
        accounts.disable_user(session, args.name)
    print(f"Disabled {args.name}: they can no longer sign in, and their tokens stop working.")


def _users_enable(settings: Settings, args: argparse.Namespace) -> None:
    with _people(settings) as session:
        accounts.enable_user(session, args.name)
    print(f"Enabled {args.name}: they sign in again with their password; their old tokens stay revoked.")


def _users_reset(settings: Settings, args: argparse.Namespace) -> None:
    with _office(settings) as sessions:
        with transaction(sessions, write=False) as session:
            accounts.find_user(session, args.name)  # before the password is typed
        password = _password(args)
        with transaction(sessions) as session:
            active = accounts.reset_password(session, args.name, password).active
    if active:
        print(f"New password set for {args.name}; their other sessions are signed out.")
    else:  # a new password alone does not let them in
        print(
            f"New password set for {args.name}, who is disabled: "
            f"they cannot sign in until `intake users enable {args.name}`."
        )


def _tokens_create(settings: Settings, args: argparse.Namespace) -> None:
    with _people(settings) as session:
        token = accounts.create_token(session, args.name)
    print(f"API token for {args.name} (shown once, keep it safe):")
    print(token)


def _tokens_list(settings: Settings, args: argparse.Namespace) -> None:
    with _people(settings) as session:
        for token in accounts.list_tokens(session):
            print(
                f"{token.id:>5}  {token.user.name:<20} created {token.created_at:%Y-%m-%d %H:%M}  "
                + _token_state(token)
            )


def _token_state(token: ApiToken) -> str:
    """Whether the API takes the token: a disabled user's is refused, and revoked when they
    are enabled again."""
    if token.revoked_at:
        return f"revoked {token.revoked_at:%Y-%m-%d %H:%M}"
    return "active" if token.user.active else "user disabled"


def _tokens_revoke(settings: Settings, args: argparse.Namespace) -> None:
    with _people(settings) as session:
        accounts.revoke_token(session, args.token_id)
    print(f"Token {args.token_id} revoked.")
