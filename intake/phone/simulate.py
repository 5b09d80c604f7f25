"""Playing Twilio for a running Intake: signed SMS and voicemail webhooks from the command line.

An office can try the phone side without a Twilio account. The requests are signed
with the configured auth token for the configured public URL, exactly as Twilio signs
them. For a voicemail the simulator also plays Twilio's API: it serves the recording
on the loopback address that `twilio.api_base_url` names, so Intake must be configured
with such an address (for example http://127.0.0.1:8089) while simulating.
"""

from __future__ import annotations

import base64
import io
import threading
import urllib.error
import urllib.request
import uuid
import wave
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

from config.settings import TwilioSettings
from intake.phone.fetch import API_VERSION_PATH

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class SimulationError(Exception):
    """The simulation could not be run or Intake did not answer as Twilio expects."""


@dataclass(frozen=True)
class Target:
    """Where to send (a running Intake) and the public URL Intake checks signatures against."""

    send_base: str
    signed_base: str
    twilio: TwilioSettings

    def post(self, path: str, form: dict[str, str]) -> bytes:
        signature = RequestValidator(self.twilio.auth_token).compute_signature(self.signed_base + path, form)
        request = urllib.request.Request(
            self.send_base + path,
            data=urlencode(form).encode(),
            headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as error:
            raise SimulationError(f"{path}: Intake answered HTTP {error.code}") from None
        except OSError as error:
            raise SimulationError(f"{path}: cannot reach Intake at {self.send_base} ({error})") from None


def simulate_sms(target: Target, sender: str, to: str, text: str) -> str:
    """Send one signed SMS webhook; return Intake's TwiML answer."""
    sid = "SM" + uuid.uuid4().hex
    form = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": target.twilio.account_sid,
        "From": sender,
        "To": to,
        "Body": text,
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
    }
    return target.post("/twilio/sms", form).decode()


def simulate_voicemail(
    target: Target,
    sender: str,
    to: str,
    wav: bytes,
    transcript: str,
    wait_seconds: float,
    say: Callable[[str], None],
) -> bool:
    """Call, leave `wav` as a voicemail, send its transcript; True once Intake fetched the recording."""
    call_sid, recording_sid = "CA" + uuid.uuid4().hex, "RE" + uuid.uuid4().hex
    with RecordingServer(target.twilio, recording_sid, wav) as server:
        call = {"CallSid": call_sid, "AccountSid": target.twilio.account_sid, "From": sender, "To": to}
        greeting = target.post("/twilio/voice", {**call, "CallStatus": "ringing", "Direction": "inbound"})
        if b"<Record" not in greeting:
            raise SimulationError("/twilio/voice: the answer does not record a voicemail")
        say(f"greeting: {greeting.decode()}")
        recording = {**call, "RecordingSid": recording_sid, "RecordingUrl": server.url}
        target.post(
            "/twilio/voice/recording",
            {**recording, "RecordingStatus": "completed", "RecordingDuration": str(_seconds(wav))},
        )
        say(f"recording callback sent for call {call_sid}")
        if transcript:
            transcription = {"TranscriptionSid": "TR" + uuid.uuid4().hex, "TranscriptionStatus": "completed"}
            target.post(
                "/twilio/voice/transcription", {**recording, **transcription, "TranscriptionText": transcript}
            )
            say("transcription callback sent")
        return server.fetched.wait(wait_seconds)


class RecordingServer:
    """Twilio's API for one recording, on the loopback address of `twilio.api_base_url`."""

    def __init__(self, twilio: TwilioSettings, recording_sid: str, wav: bytes) -> None:
        base = urlsplit(twilio.api_base_url)
        if base.scheme != "http" or base.hostname not in LOOPBACK_HOSTS or not base.port:
            raise SimulationError(
                f"twilio.api_base_url is {twilio.api_base_url}; to simulate a voicemail, point it at a free "
                "loopback port such as http://127.0.0.1:8089, where the simulator serves the recording"
            )
        self.path = f"{API_VERSION_PATH}{twilio.account_sid}/Recordings/{recording_sid}"
        self.url = twilio.api_base_url + self.path
        self.fetched = threading.Event()
        credentials = base64.b64encode(f"{twilio.account_sid}:{twilio.auth_token}".encode()).decode()
        self.server = ThreadingHTTPServer(
            (base.hostname or "", base.port), self._handler(f"Basic {credentials}", wav)
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self, authorization: str, wav: bytes) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != server.path or self.headers.get("Authorization") != authorization:
                    self.send_error(404 if self.path != server.path else 401)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/x-wav")
                self.send_header("Content-Length", str(len(wav)))
                self.end_headers()
                self.wfile.write(wav)
                server.fetched.set()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> RecordingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def silence(seconds: int) -> bytes:
    """A PCM WAV recording of silence (8 kHz mono, as a phone line), for a voicemail
    left without a recording of one's own."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 8000 * seconds)
    return buffer.getvalue()


def _seconds(wav: bytes) -> int:
    """The length of a PCM WAV file in whole seconds (0 when its header cannot be read)."""
    if len(wav) < 44 or wav[:4] != b"RIFF":
        return 0
    byte_rate = int.from_bytes(wav[28:32], "little")
    return (len(wav) - 44) // byte_rate if byte_rate else 0
