"""A slow database never holds up the other SMTP connections: the inbox's commit runs off the loop."""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Iterator

import pytest

from config.loading import load_settings
from config.settings import Settings
from intake.email.smtp import SMTPServer
from routing.store.inbox import Arrival
from tests.conftest import OFFICE
from tests.support.mail import email_bytes
from tests.support.serving import free_port
from tests.support.smtp import on_a_thread


class HeldDeliveries:
    """An inbox commit that holds messages with subject "hold" until released."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        self.release = threading.Event()
        self.stored: list[str] = []

    def __call__(self, arrival: Arrival) -> None:
        subject = "hold" if b"\r\nSubject: hold\r\n" in arrival.raw else "quick"
        if subject == "hold":
            self.holding.set()
            assert self.release.wait(30), "the test never released the held message"
        self.stored.append(subject)


@pytest.fixture
def office() -> Settings:
    settings = load_settings(OFFICE, {"INTAKE_SMTP": f"127.0.0.1:{free_port()}"})
    return settings


@pytest.fixture
def held(office: Settings) -> Iterator[tuple[SMTPServer, HeldDeliveries]]:
    deliveries = HeldDeliveries()
    server = SMTPServer(office, on_a_thread(deliveries))
    server.start()
    yield server, deliveries
    deliveries.release.set()
    server.stop()


def _send(port: int, subject: str, replies: list[tuple[int, bytes]]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        client.mail("ann@client.example")
        client.rcpt("sales@office.test")
        replies.append(client.data(email_bytes(subject=subject, message_id=f"<{subject}@client.example>")))


def test_other_connections_are_served_while_one_message_is_being_stored(
    office: Settings, held: tuple[SMTPServer, HeldDeliveries]
) -> None:
    _, deliveries = held
    port = office.smtp.listen.port
    held_replies: list[tuple[int, bytes]] = []
    sender = threading.Thread(target=_send, args=(port, "hold", held_replies))
    sender.start()
    assert deliveries.holding.wait(30)

    quick_replies: list[tuple[int, bytes]] = []
    _send(port, "quick", quick_replies)
    assert quick_replies[0][0] == 250
    assert deliveries.stored == ["quick"] and held_replies == []

    deliveries.release.set()
    sender.join(30)
    assert held_replies[0][0] == 250
    assert deliveries.stored == ["quick", "hold"]
