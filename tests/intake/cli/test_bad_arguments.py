"""Bad input to every `intake` command, each found by walking the real parser: one line on
stderr naming what is wrong, exit status 2 (1 where docs/command.md says so), never a
traceback, and nothing changed in the database by a command refused."""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from intake.cli import runtime as cli_runtime
from intake.cli.main import _parser, main
from intake.cli.runtime import Runtime
from routing.people import accounts
from routing.store.database import transaction
from routing.store.models import Base
from tests.conftest import OFFICE
from tests.support.command import ROOT, intake
from tests.support.contacts import ANA_NUMBER, two_people
from tests.support.mail import email_bytes
from tests.support.serving import free_port

SAMPLES = ROOT / "config" / "samples"
PASSWORD = "a password long enough"
LABELS_HEADER = "id\tsplit\tlanguage\tchannel\tsource\tsender\trecipient\tdepartment\tnote"
LABELS = [
    "s1\tdev\ten\tsms\tHow much is a quote?\t+15555550199\t+15555550101\tsales\tto the sales number",
    "s2\ttest\ten\tsms\tAre you open today?\t+15555550198\t+15555550100\tfront-desk\ta question",
]


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command a user can run, named as typed ("users add"), with its parser."""
    groups = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not groups and path:
        yield " ".join(path), parser
    for group in groups:
        for name, command in group.choices.items():
            yield from _commands(command, (*path, name))


COMMANDS = dict(_commands(_parser()))
# What each command answers given good arguments and a database it cannot reach, when that
# is not the database named on stderr and exit status 1: these need no database, or are
# refused for the test office (or their stand-in argument) first.
OTHER_ANSWERS = {
    "check-config": (0, ""),
    "route": (0, ""),  # the config's seeds stand in for what was learned (docs/command.md)
    "rules test": (0, ""),
    "rules evaluate": (0, ""),  # on a temporary database of its own, never the office's
    "imap": (2, "names no IMAP mailbox"),
    "twilio simulate sms": (2, "twilio.account_sid"),  # sent over HTTP to a running Intake
    "twilio simulate voicemail": (2, "twilio.account_sid"),
}


def _stand_ins(command: argparse.ArgumentParser) -> list[str]:
    """Values for a command's required arguments, so that the fault a test adds is its only one."""
    argv: list[str] = []
    for action in command._actions:
        value = str(next(iter(action.choices))) if action.choices else "1" if action.type is int else "x"
        if not action.option_strings and action.nargs is None:
            argv.append(value)
        elif action.option_strings and action.required:
            argv += [action.option_strings[0], value]
    return argv


def _required(command: argparse.ArgumentParser) -> list[str]:
    """The names argparse gives a command's required arguments when they are missing."""
    return [
        "/".join(action.option_strings) or str(action.metavar or action.dest)
        for action in command._actions
        if action.required and action.nargs not in ("*", "?")  # argparse marks FILE... required
    ]


@dataclass(frozen=True)
class Outcome:
    code: object
    out: str
    err: str


class Intake:
    """Runs `intake ...` in this process, standard input no terminal, as argparse exits too."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.monkeypatch, self.capsys = monkeypatch, capsys

    def __call__(self, *argv: str, stdin: str = PASSWORD + "\n") -> Outcome:
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        try:
            code: object = main(list(argv))
        except SystemExit as exit_:
            code = exit_.code
        captured = self.capsys.readouterr()
        return Outcome(code, captured.out, captured.err)


@pytest.fixture
def unused_database(tmp_path: Path) -> Path:
    """Where the database would be: a refused command must not create it."""
    return tmp_path / "never" / "intake.db"


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], unused_database: Path
) -> Iterator[Intake]:
    """`intake` in this process, on a database that is never to be made; a command that took
    bad input and went on to serve fails at once instead of serving for ever."""

    def serving(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("the command went on to serve")

    monkeypatch.setattr(cli_runtime, "run_services", serving)
    monkeypatch.setattr(cli_runtime, "run_worker", serving)
    monkeypatch.delenv("INTAKE_CONFIG", raising=False)
    monkeypatch.setenv("INTAKE_DATABASE_URL", f"sqlite:///{unused_database}")
    yield Intake(monkeypatch, capsys)
    assert not unused_database.parent.exists()


def assert_refused(outcome: Outcome, named: str, code: int = 2) -> None:
    """Exit status `code` and one line on stderr, naming `named`; no traceback."""
    assert outcome.code == code, outcome
    assert "Traceback" not in outcome.out + outcome.err
    assert outcome.err.startswith("intake: ") and outcome.err.count("\n") == 1, outcome.err
    assert named in outcome.err, outcome.err


def assert_usage_error(outcome: Outcome, *named: str) -> None:
    """argparse's refusal: the usage, then one line naming each of `named`; exit status 2."""
    assert outcome.code == 2, outcome
    assert "Traceback" not in outcome.out + outcome.err
    usage, *_, error = outcome.err.splitlines()
    assert usage.startswith("usage: intake") and error.startswith("intake") and ": error: " in error
    assert all(name in error for name in named), (named, error)


def _argv(command: str) -> list[str]:
    return [*command.split(), *_stand_ins(COMMANDS[command])]


def test_the_walk_finds_every_level_of_command() -> None:
    found = set(COMMANDS)
    assert {"serve", "worker", "db upgrade", "rules evaluate", "twilio simulate voicemail"} <= found
    assert {"users add", "tokens revoke", "contacts export", "contacts erase", "retention run"} <= found
    assert "users" not in found and "twilio simulate" not in found  # groups are not commands


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_option_is_named(run: Intake, command: str) -> None:
    assert_usage_error(run(*_argv(command), "--no-such-option"), "unrecognized arguments: --no-such-option")


@pytest.mark.parametrize("command", [name for name, parser in COMMANDS.items() if _required(parser)])
def test_missing_arguments_are_named(run: Intake, command: str) -> None:
    assert_usage_error(run(*command.split()), "required", *_required(COMMANDS[command]))


def test_a_missing_command_or_action_is_asked_for(run: Intake) -> None:
    assert_usage_error(run(), "COMMAND")
    assert_usage_error(run("users"), "ACTION")
    assert_usage_error(run("no-such-command"), "'no-such-command'")


def _write_config(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """A --config of `kind`, and what the refusal says of it."""
    path = tmp_path / f"{kind}.toml"
    if kind == "missing":
        return path, "no such file"
    if kind == "folder":
        path.mkdir()
        return path, "cannot be read"
    if kind == "binary":
        path.write_bytes(bytes(range(256)))
        return path, "cannot be read"
    if kind == "empty":
        path.write_text("")
        return path, "office.domains"
    if kind == "not TOML":
        path.write_text("[office\nname = = 'x'\n")
        return path, "not valid TOML"
    path.write_text(OFFICE.read_text().replace("page_size = 3", 'page_size = "three"'))
    return path, "web.page_size: must be int, not str"


@pytest.mark.parametrize("kind", ["missing", "folder", "binary", "empty", "not TOML", "wrong type"])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_config_is_named(run: Intake, tmp_path: Path, command: str, kind: str) -> None:
    config, problem = _write_config(tmp_path, kind)
    before = run("--config", str(config), *_argv(command))
    assert_refused(before, f"intake: {config}: {problem}")
    after = run(*_argv(command), "--config", str(config))  # in rules replay, the candidate's
    assert after.err == before.err


FROM_ENVIRONMENT = "database.url: is not a database URL (from INTAKE_DATABASE_URL): "
BAD_URLS = {
    "not a URL": ("sqlite:no-slashes", FROM_ENVIRONMENT + "Could not parse"),
    "port not a number": (
        "postgresql+psycopg://intake:s3cret@127.0.0.1:port/intake",
        FROM_ENVIRONMENT + "its port is not a number",
    ),
    "unknown driver": (
        "postgresql+nosuchdriver://intake:s3cret@127.0.0.1/intake",
        FROM_ENVIRONMENT + "Can't load plugin: sqlalchemy.dialects:postgresql.nosuchdriver",
    ),
    "not SQL": (
        "mysql://intake:s3cret@127.0.0.1/intake",
        "database.url: is neither a sqlite: nor a postgresql URL (from INTAKE_DATABASE_URL)",
    ),
}


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_malformed_database_url_is_named(
    run: Intake, monkeypatch: pytest.MonkeyPatch, command: str, url: str
) -> None:
    value, problem = BAD_URLS[url]
    monkeypatch.setenv("INTAKE_DATABASE_URL", value)
    outcome = run("--config", str(OFFICE), *_argv(command))
    assert_refused(outcome, f"intake: {OFFICE}: {problem}")
    assert "s3cret" not in outcome.err


def _good_arguments(command: str, tmp_path: Path) -> list[str]:
    """Arguments a command would carry out on a database it could reach."""
    mbox = tmp_path / "old.mbox"
    mbox.write_bytes(b"From ann@client.example Mon Nov  2 09:00:00 2026\n" + email_bytes())
    labels = tmp_path / "LABELS.tsv"
    labels.write_text("\n".join([LABELS_HEADER, *LABELS]) + "\n")
    good = {
        "import": ["mbox", str(mbox)],
        "route": [str(SAMPLES / "quote.eml")],
        "rules evaluate": [str(labels)],
        "users add": ["rita", "--role", "admin", "--password-stdin"],
        "users reset-password": ["rita", "--password-stdin"],
        "contacts erase": [ANA_NUMBER, "--yes"],
        "contacts export": [ANA_NUMBER, "--output", str(tmp_path / "ana.zip")],
    }
    return [*command.split(), *good.get(command, _stand_ins(COMMANDS[command]))]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_database_that_cannot_be_reached_is_named(
    run: Intake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: str, backend: str
) -> None:
    url = {
        "sqlite": f"sqlite:///{tmp_path / 'no-such-folder' / 'intake.db'}",
        "postgresql": f"postgresql+psycopg://intake:s3cret@127.0.0.1:{free_port()}/intake",
    }[backend]
    monkeypatch.setenv("INTAKE_DATABASE_URL", url)
    outcome = run("--config", str(OFFICE), *_good_arguments(command, tmp_path))
    assert "Traceback" not in outcome.out + outcome.err and "s3cret" not in outcome.err
    code, named = OTHER_ANSWERS.get(command, (1, ""))
    if command == "rules replay" and backend == "sqlite":
        # A file that is not there is no database at all (opening it would make one).
        code, named = 2, "there is no database at the current schema"
    if code == 0:
        assert outcome.code == 0, outcome
    elif code == 2:
        assert_refused(outcome, named)
    else:
        shown = make_url(url).render_as_string(hide_password=True)
        assert_refused(outcome, f"intake: the database {shown}: ", code=1)
    assert not (tmp_path / "no-such-folder").exists()


def test_route_says_so_when_the_database_cannot_be_reached(
    run: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTAKE_DATABASE_URL", f"postgresql+psycopg://intake@127.0.0.1:{free_port()}/intake")
    outcome = run("--config", str(OFFICE), "route", str(SAMPLES / "quote.eml"))
    assert outcome.code == 0 and "department:" in outcome.out
    assert "the database cannot be reached: the config's seeds stand in for what was learned" in outcome.err


NOT_NUMBERS = [
    ("serve", "--workers", "abc"),
    ("serve", "--workers", "-1"),
    ("serve", "--workers", "1.5"),
    ("serve", "--workers", "²"),
    ("smtp", "--workers", "257"),
    ("web", "--workers", ""),
    ("worker", "--parent", "abc"),
    ("tokens revoke", "", "abc"),
    ("tokens revoke", "", "1e3"),
    ("twilio simulate voicemail", "--wait", "abc"),
    ("twilio simulate voicemail", "--wait", "nan"),
    ("twilio simulate voicemail", "--wait", "inf"),
    ("twilio simulate voicemail", "--wait", "-5"),
    ("twilio simulate sms", "--url", "not-a-url"),
    ("twilio simulate sms", "--url", "http://127.0.0.1:99999"),
    ("twilio simulate sms", "--url", "http://[::1"),
    ("rules evaluate", "--seed", "abc"),
]


@pytest.mark.parametrize(("command", "option", "value"), NOT_NUMBERS)
def test_a_number_that_is_no_number_is_named(run: Intake, command: str, option: str, value: str) -> None:
    argv = [*command.split(), *_stand_ins(COMMANDS[command])]
    argv = [*argv, option, value] if option else [*argv[:-1], value]  # else the positional ID
    assert_usage_error(run("--config", str(OFFICE), *argv), f"argument {option or 'ID'}: ", repr(value))


@pytest.mark.parametrize(
    ("option", "value"),
    [("--smtp", "127.0.0.1:abc"), ("--smtp", "no-port"), ("--web", "127.0.0.1:99999"), ("--web", ":8080")],
)
def test_a_listen_address_that_is_no_address_is_named(run: Intake, option: str, value: str) -> None:
    for command in ("serve", "smtp", "web"):
        if option in {a for action in COMMANDS[command]._actions for a in action.option_strings}:
            assert_refused(run("--config", str(OFFICE), command, option, value), f"{option}: {value!r}")


def _files(tmp_path: Path) -> dict[str, Path]:
    """A file of each bad kind: missing, a folder, binary, empty, some other text."""
    files = {name: tmp_path / name for name in ("missing", "folder", "binary", "empty", "text")}
    files["folder"].mkdir()
    files["binary"].write_bytes(bytes(range(256)) * 4)
    files["empty"].write_bytes(b"")
    files["text"].write_text("Dear office,\nthis is a note, not a mailbox.\n")
    return files


@pytest.mark.parametrize(
    ("kind", "bad", "problem"),
    [
        ("mbox", "missing", "no such file or folder"),
        ("mbox", "folder", "a folder, not an mbox file"),
        ("mbox", "binary", "not an mbox file"),
        ("mbox", "text", "not an mbox file"),
        ("maildir", "missing", "no such file or folder"),
        ("maildir", "folder", "not a maildir folder"),
        ("maildir", "text", "not a maildir folder"),
    ],
)
def test_import_refuses_what_is_no_mailbox(
    run: Intake, tmp_path: Path, kind: str, bad: str, problem: str
) -> None:
    path = _files(tmp_path)[bad]
    assert_refused(run("--config", str(OFFICE), "import", kind, str(path)), f"intake: {path}: {problem}")


@pytest.mark.parametrize(("bad", "problem"), [("missing", "No such file"), ("empty", "empty, not an email")])
def test_route_names_a_file_it_cannot_route(run: Intake, tmp_path: Path, bad: str, problem: str) -> None:
    path = _files(tmp_path)[bad]
    assert_refused(run("--config", str(OFFICE), "route", str(path)), f"intake: {path}: {problem}", code=1)


def test_route_refuses_a_folder_without_mail_and_a_text_without_numbers(run: Intake, tmp_path: Path) -> None:
    folder = _files(tmp_path)["folder"]
    assert_refused(
        run("--config", str(OFFICE), "route", str(folder)), f"{folder}: a folder with no .eml files"
    )
    assert_refused(
        run("--config", str(OFFICE), "route", "--sms", "hello"), "give --from NUMBER and --to NUMBER"
    )
    quote = str(SAMPLES / "quote.eml")
    assert_refused(run("--config", str(OFFICE), "route", quote, "--sms", "hello"), "give either FILE.eml")


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("missing", "No such file"),
        ("folder", "Is a directory"),
        ("binary", "not UTF-8 text"),
        ("empty", "empty; the first line names the columns"),
        ("text", "the header lacks id, split"),
    ],
)
def test_rules_evaluate_names_a_bad_labelled_set(run: Intake, tmp_path: Path, bad: str, problem: str) -> None:
    path = _files(tmp_path)[bad]
    outcome = run("--config", str(OFFICE), "rules", "evaluate", str(path))
    assert_refused(outcome, f"intake: {path}")
    assert problem in outcome.err


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--teach", "abc"], "--teach 'abc' is neither a share"),
        (["--teach", "200%"], "teach from 0 to 1 of the 2"),
        (["--teach", "nan%"], "--teach 'nan%' is neither a share"),
        (["--teach", "-1"], "teach from 0 to 1 of the 2"),
        (["--split", "fresh"], "no messages in the fresh split"),
    ],
)
def test_rules_evaluate_names_a_bad_share(run: Intake, tmp_path: Path, argv: list[str], problem: str) -> None:
    labels = tmp_path / "LABELS.tsv"
    labels.write_text("\n".join([LABELS_HEADER, *LABELS]) + "\n")
    assert_refused(run("--config", str(OFFICE), "rules", "evaluate", str(labels), *argv), problem)


@pytest.mark.parametrize(("bad", "problem"), [("missing", "No such file"), ("folder", "Is a directory")])
def test_simulate_names_a_recording_it_cannot_read(
    run: Intake, tmp_path: Path, bad: str, problem: str
) -> None:
    wav = _files(tmp_path)[bad]
    outcome = run("--config", str(OFFICE), "twilio", "simulate", "voicemail", "--wav", str(wav))
    assert_refused(outcome, f"intake: {wav}: {problem}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_a_file_that_may_not_be_read_is_named(run: Intake, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("From ann@client.example Mon Nov  2 09:00:00 2026\n")
    secret.chmod(0)
    for argv, code in (
        (["route", str(secret)], 1),
        (["rules", "evaluate", str(secret)], 2),
        (["import", "mbox", str(secret)], 2),
        (["--config", str(secret), "check-config"], 2),
    ):
        assert_refused(run("--config", str(OFFICE), *argv), str(secret), code=code)


# A database holding two people, a user and a token; each command refused leaves every row as it was.
REFUSED = [
    (["contacts", "export", "999999"], "there is no contact 999999"),
    (["contacts", "export", "99999999999999999999999"], "there is no contact 99999999999999999999999"),
    (["contacts", "export", "²"], "'²' is neither an email address nor a phone number"),
    (
        ["contacts", "export", "nobody@nowhere.example"],
        "no contact has the address or number nobody@nowhere.example",
    ),
    (["contacts", "export", ""], "'' is neither an email address nor a phone number"),
    (
        ["contacts", "export", ANA_NUMBER, "--output", "{tmp}/no-such-folder/ana.zip"],
        "no-such-folder/ana.zip: No such file",
    ),
    (["contacts", "export", ANA_NUMBER, "--output", "{tmp}"], "Is a directory"),
    (["contacts", "erase", "999999", "--yes"], "there is no contact 999999"),
    (
        ["contacts", "erase", "99999999999999999999999", "--yes"],
        "there is no contact 99999999999999999999999",
    ),
    (["contacts", "erase", "#0", "--yes"], "there is no contact #0"),
    (["contacts", "erase", "+15555550000", "--yes"], "no contact has the address or number +15555550000"),
    (["contacts", "erase", ANA_NUMBER], "give --yes to erase from a script"),  # stdin is no terminal
    (["users", "add", "rita", "--role", "admin", "--password-stdin"], "there is already a user 'rita'"),
    (["users", "add", "newbie", "--role", "boss", "--password-stdin"], "unknown role 'boss'"),
    (
        ["users", "add", "newbie", "--role", "staff", "--department", "nowhere", "--password-stdin"],
        "unknown department 'nowhere'",
    ),
    (["users", "add", "New Bie", "--role", "admin", "--password-stdin"], "'New Bie' is not a user name"),
    (["users", "disable", "nobody"], "there is no user 'nobody'"),
    (["users", "reset-password", "nobody", "--password-stdin"], "there is no user 'nobody'"),
    (["tokens", "create", "nobody"], "there is no user 'nobody'"),
    (["tokens", "revoke", "999999"], "there is no token 999999"),
    (["tokens", "revoke", "-1"], "there is no token -1"),
    (["tokens", "revoke", "99999999999999999999999"], "there is no token 99999999999999999999999"),
    (["rules", "replay", "--since", "last week"], "--since 'last week' is neither a span"),
    (["rules", "replay", "--since", "99999999d"], "--since '99999999d' is too far back"),
    (["rules", "replay", "--since", "0001-01-01"], "--since '0001-01-01' is too far back"),
    (["rules", "replay", "--since", "9999-12-31T23:59:59-10:00"], "is in the future"),
    (["rules", "replay", "--since", "2026-13-45"], "--since '2026-13-45' is neither a span"),
    (["rules", "replay", "--config", "{tmp}/missing.toml"], "missing.toml: no such file"),
    (["rules", "replay", "--config", "{tmp}"], "cannot be read"),
    (["import", "mbox", str(SAMPLES / "quote.eml")], "not an mbox file"),
]


def _every_row(runtime: Runtime) -> list[tuple[str, list[tuple[object, ...]]]]:
    with runtime.engine.connect() as connection:
        return [
            (table.name, sorted(map(tuple, connection.execute(select(table))), key=repr))
            for table in Base.metadata.sorted_tables
        ]


def test_a_refused_command_changes_nothing(
    run: Intake, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    two_people(runtime)
    with transaction(runtime.sessions) as session:
        accounts.add_user(session, "rita", "admin", PASSWORD, [])
        accounts.create_token(session, "rita")
    monkeypatch.setenv("INTAKE_DATABASE_URL", runtime.settings.database.url)
    folder = tmp_path / "work"
    folder.mkdir()
    stored = _every_row(runtime)
    for argv, problem in REFUSED:
        outcome = run("--config", str(OFFICE), *(arg.format(tmp=folder) for arg in argv))
        assert_refused(outcome, problem)
        assert _every_row(runtime) == stored, argv
    assert list(folder.iterdir()) == []  # and no zip was written


def test_serve_on_a_database_it_cannot_open_exits_at_once(tmp_path: Path) -> None:
    database = tmp_path / "no-such-folder" / "intake.db"
    listen = ["--smtp", f"127.0.0.1:{free_port()}", "--web", f"127.0.0.1:{free_port()}"]
    result = intake("--config", str(OFFICE), "serve", *listen, database_url=f"sqlite:///{database}")
    assert result.returncode == 1, result.stderr
    assert result.stderr == f"intake: the database sqlite:///{database}: unable to open database file\n"
    assert not database.parent.exists()
