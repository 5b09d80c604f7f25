"""`intake twilio simulate`: signed Twilio webhooks to a running Intake, without Twilio."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from config.settings import Settings
from config.table import parse_listen
from intake.cli.usage import UsageError

if TYPE_CHECKING:
    from intake.phone.simulate import Target


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """`intake twilio simulate sms|voicemail`."""
    twilio = commands.add_parser("twilio", help="try the phone side without a Twilio account")
    actions = twilio.add_subparsers(required=True, metavar="ACTION")
    simulate = actions.add_parser("simulate", help="send signed Twilio webhooks to a running Intake")
    kinds = simulate.add_subparsers(required=True, metavar="KIND")
    sms = kinds.add_parser("sms", help="a text message")
    sms.add_argument("text")
    sms.set_defaults(run=_simulate_sms)
    voicemail = kinds.add_parser("voicemail", help="a call that leaves a recording and its transcript")
    voicemail.add_argument(
        "--wav", type=Path, metavar="FILE", help="the recording to leave (default: a second of silence)"
    )
    voicemail.add_argument(
        "--transcript", default="This is a test voicemail left with intake twilio simulate.", help="its words"
    )
    voicemail.add_argument(
        "--wait", type=_seconds, default=30.0, help="seconds to wait for Intake to fetch it (at most 3600)"
    )
    voicemail.set_defaults(run=_simulate_voicemail)
    for kind in (sms, voicemail):
        kind.add_argument("--from", dest="sender", default="+15555550199", help="the caller's number")
        kind.add_argument("--to", help="the office's number that is called (default: the config's first)")
        where = kind.add_mutually_exclusive_group()
        where.add_argument(
            "--web",
            metavar="HOST:PORT",
            help="the address `intake serve --web` listens on (default: the config's)",
        )
        where.add_argument(
            "--url",
            type=_base_url,
            help="where to send instead (default: twilio.public_url, else the web address)",
        )


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= 3600:  # NaN too
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0 to 3600")
    return seconds


def _base_url(text: str) -> str:
    try:
        parts = urlsplit(text)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is no number or past 65535, a broken IPv6 address
        usable = False
    if not usable:
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL such as http://127.0.0.1:8080")
    return text


def _twilio_target(settings: Settings, args: argparse.Namespace) -> Target:
    """Where the webhooks go and the URL they are signed for: Intake checks signatures
    against its public URL when it has one, else against the address it was called at."""
    from intake.phone.simulate import Target

    if not settings.twilio.configured:
        raise UsageError("twilio.account_sid and an auth token must be configured to sign requests")
    if args.web:
        send_base = f"http://{parse_listen(args.web, lambda problem: UsageError(f'--web: {problem}'))}"
    else:
        send_base = (args.url or settings.twilio.public_url or f"http://{settings.web.listen}").rstrip("/")
    return Target(send_base, settings.twilio.public_url or send_base, settings.twilio)


def _called(settings: Settings, args: argparse.Namespace) -> str:
    """The number called: --to, else the first number a department of the office owns."""
    if args.to:
        return str(args.to)
    numbers = [phone for department in settings.departments for phone in department.phones]
    if not numbers:
        raise UsageError(f"give --to NUMBER: {settings.source} names no phone number for a department")
    return numbers[0]


def _simulate_sms(settings: Settings, args: argparse.Namespace) -> int:
    from intake.phone.simulate import SimulationError, simulate_sms

    try:
        answer = simulate_sms(_twilio_target(settings, args), args.sender, _called(settings, args), args.text)
    except SimulationError as error:
        raise UsageError(str(error)) from None
    print(f"Intake accepted the text message; it answered: {answer}")
    return 0


def _simulate_voicemail(settings: Settings, args: argparse.Namespace) -> int:
    from intake.phone.simulate import SimulationError, silence, simulate_voicemail

    try:
        wav = args.wav.read_bytes() if args.wav else silence(seconds=1)
    except OSError as error:
        raise UsageError(f"{args.wav}: {error.strerror}") from None
    target, called = _twilio_target(settings, args), _called(settings, args)
    try:
        fetched = simulate_voicemail(target, args.sender, called, wav, args.transcript, args.wait, print)
    except SimulationError as error:
        raise UsageError(str(error)) from None
    if not fetched:
        print(f"Intake did not fetch the recording within {args.wait:g} s", file=sys.stderr)
        return 1
    print("Intake fetched the recording; the voicemail is in its queue.")
    return 0
