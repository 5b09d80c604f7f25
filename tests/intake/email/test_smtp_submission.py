"""The submission listener (STARTTLS, then AUTH) and the PROXY protocol, over real sockets."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import ipaddress
import logging
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.security import generate_password_hash

from config.loading import load_settings
from intake.cli.runtime import Runtime, open_runtime
from intake.email.smtp import SMTPServer
from routing.store.inbox import Arrival
from tests.conftest import OFFICE
from tests.support.mail import email_bytes
from tests.support.smtp import (
    ACCEPTED,
    item_with_message_id,
    on_a_thread,
    on_free_ports,
    running,
    send,
    swaks,
)

PASSWORD = "correct horse battery staple"


def write_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made now: nothing is downloaded or shipped."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "intake.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def submission_office(folder: Path) -> Path:
    """The test office with a [smtp.submission] section, its certificate and users file beside it."""
    write_certificate(folder)
    (folder / "users").write_text(f"# who may submit\nscanner:{generate_password_hash(PASSWORD)}\n")
    text = OFFICE.read_text() + (
        '\n[smtp.submission]\nlisten = "127.0.0.1:5870"\n'
        'tls_cert = "cert.pem"\ntls_key = "key.pem"\nusers_file = "users"\n'
    )
    path = folder / "office.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    folder = tmp_path_factory.mktemp("submission")
    settings = load_settings(submission_office(folder), {"INTAKE_DATABASE_URL": f"sqlite:///{folder / 'db'}"})
    opened = open_runtime(settings)
    yield opened
    opened.engine.dispose()


@pytest.fixture(scope="module")
def server(office: Runtime) -> Iterator[SMTPServer]:
    with running(office) as started:
        yield started


def submission_client(server: SMTPServer, office: Runtime) -> smtplib.SMTP:
    assert server.submission and office.settings.smtp.submission
    connection = smtplib.SMTP("127.0.0.1", server.submission.port, timeout=30)
    connection.ehlo("scanner.office.test")
    return connection


def trusting(office: Runtime) -> ssl.SSLContext:
    assert office.settings.smtp.submission
    return ssl.create_default_context(cafile=office.settings.smtp.submission.tls_cert)


def test_before_starttls_only_starttls_is_offered_and_mail_is_refused(
    server: SMTPServer, office: Runtime
) -> None:
    with submission_client(server, office) as connection:
        assert connection.has_extn("starttls")
        assert not connection.has_extn("auth")
        assert connection.mail("scanner@office.test")[0] == 530


def test_after_starttls_mail_needs_a_login_and_a_wrong_password_is_refused(
    server: SMTPServer, office: Runtime
) -> None:
    with submission_client(server, office) as connection:
        connection.starttls(context=trusting(office))
        connection.ehlo("scanner.office.test")
        assert "PLAIN" in connection.esmtp_features["auth"]
        assert connection.mail("scanner@office.test")[0] == 530
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            connection.login("scanner", "wrong")
        assert refused.value.smtp_code == 535
        with pytest.raises(smtplib.SMTPAuthenticationError):
            connection.login("nobody", PASSWORD)


def test_a_logged_in_sender_delivers_over_tls_but_still_only_to_the_office(
    server: SMTPServer, office: Runtime
) -> None:
    raw = email_bytes(message_id="<scan-1@office.test>", subject="Scanned invoice")
    with submission_client(server, office) as connection:
        connection.starttls(context=trusting(office))
        connection.login("scanner", PASSWORD)
        code, reply = send(connection, raw, "billing@office.test", "scanner@office.test")
        connection.mail("scanner@office.test")
        assert connection.rcpt("someone@elsewhere.example")[:1] == (550,)
    assert (code, reply) == (250, ACCEPTED)
    assert item_with_message_id(office, "<scan-1@office.test>").raw.content == raw


def test_swaks_sends_over_starttls_with_auth(server: SMTPServer, office: Runtime, tmp_path: Path) -> None:
    assert server.submission
    message = tmp_path / "scan.eml"
    message.write_bytes(email_bytes(message_id="<scan-2@office.test>"))
    transcript = swaks(
        server.submission.port,
        *("--to", "billing@office.test", "--data", str(message), "-tls"),
        *("--auth", "PLAIN", "--auth-user", "scanner", "--auth-password", PASSWORD),
    )
    assert "<~  235" in transcript
    assert "<~  250 2.0.0 OK: message accepted" in transcript


def test_three_failed_logins_end_the_session(server: SMTPServer, office: Runtime) -> None:
    with submission_client(server, office) as connection:
        connection.starttls(context=trusting(office))
        connection.ehlo("scanner.office.test")
        wrong = "PLAIN " + base64.b64encode(b"\0scanner\0wrong").decode()
        # smtplib's login() tries each mechanism in turn; one AUTH command is one attempt.
        assert [connection.docmd("AUTH", wrong)[0] for _ in range(3)] == [535, 535, 535]
        assert connection.getreply()[0] == 421
        with pytest.raises(smtplib.SMTPServerDisconnected):
            connection.noop()


class GatedCheck:
    """The listener's password check, held until the test lets it go on."""

    def __init__(self, check: Callable[..., AuthResult]) -> None:
        self.check = check
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args: Any) -> AuthResult:
        self.entered.set()
        self.release.wait(60)
        return self.check(*args)


def refuse_everything(arrival: Arrival) -> None:
    raise AssertionError("no message is sent in this test")


def test_a_password_check_does_not_stop_other_sessions(office: Runtime) -> None:
    server = SMTPServer(on_free_ports(office.settings), on_a_thread(refuse_everything))
    assert server.submission
    gate = GatedCheck(server.submission.SMTP_kwargs["authenticator"])
    server.submission.SMTP_kwargs["authenticator"] = gate
    server.start()
    try:
        with submission_client(server, office) as first, ThreadPoolExecutor(1) as pool:
            first.starttls(context=trusting(office))
            first.ehlo("scanner.office.test")
            login = pool.submit(first.login, "scanner", PASSWORD)
            assert gate.entered.wait(30)
            # While the first login is being checked, another session is served.
            with submission_client(server, office) as second:
                assert second.noop()[0] == 250
            gate.release.set()
            assert login.result(timeout=30)[0] == 235
    finally:
        gate.release.set()
        server.stop()


@pytest.fixture(scope="module")
def proxied(office: Runtime) -> Iterator[SMTPServer]:
    smtp = dataclasses.replace(office.settings.smtp, proxy_protocol=True, submission=None)
    with running(office, dataclasses.replace(office.settings, smtp=smtp)) as started:
        yield started


def test_behind_a_load_balancer_a_proxy_v1_header_comes_first(
    proxied: SMTPServer, office: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="intake.email.smtp")
    raw = email_bytes(message_id="<via-proxy@client.example>")
    with socket.create_connection(("127.0.0.1", proxied.public.port), timeout=30) as connection:
        connection.sendall(b"PROXY TCP4 192.0.2.10 192.0.2.1 40000 25\r\n")
        lines = connection.makefile("rb")
        assert lines.readline().startswith(b"220 ")
        for command in (
            b"EHLO client.example",
            b"MAIL FROM:<ann@client.example>",
            b"RCPT TO:<sales@office.test>",
        ):
            connection.sendall(command + b"\r\n")
            reply = lines.readline()
            while reply[3:4] == b"-":
                reply = lines.readline()
            assert reply.startswith(b"250"), reply
        connection.sendall(b"DATA\r\n")
        assert lines.readline().startswith(b"354")
        connection.sendall(raw + b".\r\n")
        final = lines.readline().decode()
    assert final.startswith("250 2.0.0")
    assert item_with_message_id(office, "<via-proxy@client.example>").raw.content == raw
    assert "connection from 192.0.2.10" in caplog.text  # the client, not the balancer


def test_behind_a_load_balancer_a_connection_without_the_header_gets_no_greeting(proxied: SMTPServer) -> None:
    with socket.create_connection(("127.0.0.1", proxied.public.port), timeout=30) as connection:
        connection.sendall(b"EHLO client.example\r\n")
        assert connection.makefile("rb").read() == b""  # closed without a word
