"""End to end: `intake serve` runs, `intake twilio simulate` leaves a text and a voicemail,
and the API shows the voicemail in the right queue with its recording and transcript."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OFFICE
from tests.support.people import HttpUser
from tests.support.twilio import ACCOUNT_SID, AUTH_TOKEN, SALES_NUMBER, office_with_twilio

STARTUP_SECONDS = 30
TRANSCRIPT = "Hello, this is Ada, please call me back about the quote."


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(bytes(8000 * 2 * 3))  # three seconds of silence
    return buffer.getvalue()


@dataclass
class Served:
    web: str
    config: Path
    env: dict[str, str]
    user: HttpUser

    def get(self, path: str) -> Any:
        return self.user.get_json(path)

    def intake(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "intake", "--config", str(self.config), *args]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    web_port, api_port = _free_port(), _free_port()
    config = office_with_twilio(
        tmp_path,
        f"""
account_sid = "{ACCOUNT_SID}"
auth_token_env = "OFFICE_TWILIO_TOKEN"
public_url = "http://127.0.0.1:{web_port}"
api_base_url = "http://127.0.0.1:{api_port}"
""",
    )
    env = {
        **os.environ,
        "INTAKE_DATABASE_URL": database_url,
        "OFFICE_TWILIO_TOKEN": AUTH_TOKEN,
        "INTAKE_WEB": f"127.0.0.1:{web_port}",
        "INTAKE_SMTP": f"127.0.0.1:{_free_port()}",
    }
    command = [sys.executable, "-m", "intake", "--config", str(config), "serve"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        output = []
        for line in process.stdout:
            output.append(line)
            if "Intake is running" in line:
                break
        else:
            pytest.fail(f"intake serve ended before it was ready (exit {process.wait()})")
        web = f"http://127.0.0.1:{web_port}"
        yield Served(web, config, env, HttpUser.first_admin_of(web, "".join(output), database_url))
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=STARTUP_SECONDS) == 0


def _voicemail_with_recording(served: Served) -> dict[str, Any]:
    """Wait until the worker has stored the recording (it commits just after the fetch)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        items = [i for i in served.get("/api/v1/items?limit=50")["items"] if i["channel"] == "voicemail"]
        if items and items[0]["recording"]:
            return items[0]
        time.sleep(0.2)
    pytest.fail("the voicemail never showed its recording")


def test_a_simulated_voicemail_lands_in_its_queue_with_recording_and_transcript(
    served: Served, tmp_path: Path
) -> None:
    wav_path = tmp_path / "message.wav"
    wav_path.write_bytes(_wav())
    result = served.intake(
        "twilio",
        "simulate",
        "voicemail",
        "--wav",
        str(wav_path),
        "--to",
        SALES_NUMBER,
        "--transcript",
        TRANSCRIPT,
    )
    assert result.returncode == 0, result.stderr
    assert "Intake fetched the recording" in result.stdout
    item = _voicemail_with_recording(served)
    assert (item["department"], item["transcript"], item["duration_seconds"]) == ("sales", TRANSCRIPT, 3)
    recording, headers = served.user.get_bytes(item["recording"]["url"])
    assert headers["Content-Type"] == "audio/x-wav"
    assert recording == wav_path.read_bytes()
    page = served.user.get_text(f"/items/{item['id']}")
    assert "<audio controls" in page and TRANSCRIPT in page


def _listed(served: Served) -> list[dict[str, Any]]:
    """The items listed, once there are any."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        items: list[dict[str, Any]] = served.get("/api/v1/items")["items"]
        if items:
            return items
        time.sleep(0.1)
    pytest.fail("no item was listed")


def test_a_simulated_text_lands_in_its_queue(served: Served) -> None:
    result = served.intake(
        "twilio", "simulate", "sms", "--from", "+15557654321", "--to", SALES_NUMBER, "Quote please"
    )
    assert result.returncode == 0, result.stderr
    [item] = _listed(served)  # the 200 means the text is in the inbox; a worker makes the item
    assert (item["channel"], item["department"], item["sender"]) == ("sms", "sales", "+15557654321")


def test_simulating_a_voicemail_needs_a_loopback_api_base(tmp_path: Path) -> None:
    config = office_with_twilio(tmp_path, f'account_sid = "{ACCOUNT_SID}"\nauth_token = "{AUTH_TOKEN}"\n')
    wav_path = tmp_path / "message.wav"
    wav_path.write_bytes(_wav())
    command = [sys.executable, "-m", "intake", "--config", str(config), "twilio", "simulate", "voicemail"]
    result = subprocess.run(
        [*command, "--wav", str(wav_path), "--to", SALES_NUMBER], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "point it at a free loopback port" in result.stderr


def test_simulating_needs_the_account_credentials() -> None:
    command = [sys.executable, "-m", "intake", "--config", str(OFFICE), "twilio", "simulate", "sms"]
    result = subprocess.run(
        [*command, "--to", SALES_NUMBER, "hi"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "twilio.account_sid and an auth token must be configured" in result.stderr
