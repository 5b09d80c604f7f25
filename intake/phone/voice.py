"""Twilio's voice webhooks: the greeting TwiML, and recording and transcription callbacks.

Pure functions of the form Twilio posts and the office settings: the greeting says
the number's open or closed message and records a voicemail; a callback that carries a
recording becomes a Voicemail for routing.channels.voicemail to store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String
from twilio.twiml.voice_response import VoiceResponse

from config.settings import Settings
from intake.phone.sms import FORM_CONTENT_TYPE, required, storable
from routing.channels.voicemail import CallFacts, Transcription, Voicemail
from routing.message import InboundMessage
from routing.store.models import VoiceCall

GOODBYE = "Thank you for your message. Goodbye."


@dataclass(frozen=True)
class CallbackUrls:
    """Absolute URLs of Intake's voice endpoints, as Twilio must call them."""

    recording: str
    transcription: str
    done: str


def greeting(settings: Settings, called: str, now: datetime, urls: CallbackUrls) -> str:
    """The TwiML that greets a caller and records a voicemail."""
    response = VoiceResponse()
    text = settings.twilio.greeting(called, settings.is_open(now))
    if text:
        response.say(text)
    options: dict[str, object] = {}
    if settings.twilio.transcribe:
        options = {"transcribe": True, "transcribe_callback": urls.transcription}
    response.record(
        # The default action re-requests this same document, greeting the caller in a loop.
        action=urls.done,
        method="POST",
        max_length=settings.twilio.record_max_seconds,
        play_beep=True,
        recording_status_callback=urls.recording,
        recording_status_callback_method="POST",
        recording_status_callback_event="completed",
        **options,
    )
    response.say(GOODBYE)
    response.hangup()
    return str(response)


def goodbye() -> str:
    """The TwiML for the end of the recording: thank the caller and hang up."""
    response = VoiceResponse()
    response.say(GOODBYE)
    response.hangup()
    return str(response)


def parse_recording(form: Mapping[str, str], raw: bytes, received_at: datetime) -> Voicemail | None:
    """The voicemail a recording callback makes; None when the call left no recording."""
    form = storable(form)
    if form.get("RecordingStatus", "completed") != "completed" or not form.get("RecordingUrl"):
        return None
    return _voicemail(form, raw, received_at, form.get("RecordingDuration", ""))


def parse_transcription(
    form: Mapping[str, str], raw: bytes, received_at: datetime
) -> tuple[Voicemail, Transcription] | None:
    """The voicemail and transcript a transcription callback carries; None without a recording."""
    form = storable(form)
    if not form.get("RecordingUrl"):
        return None
    status = "completed" if form.get("TranscriptionStatus") == "completed" else "failed"
    transcription = Transcription(
        sid=_fit(form.get("TranscriptionSid", "") or required(form, "RecordingSid"), "transcription_sid"),
        status=status,
        text=form.get("TranscriptionText", "") if status == "completed" else "",
    )
    return _voicemail(form, raw, received_at, ""), transcription  # a transcription tells no length


def _voicemail(form: Mapping[str, str], raw: bytes, received_at: datetime, duration_text: str) -> Voicemail:
    duration, defects = _duration(duration_text)
    caller = form.get("From", "").strip() or "(unknown caller)"
    call = CallFacts(
        call_sid=required(form, "CallSid"),
        recording_sid=_fit(required(form, "RecordingSid"), "recording_sid"),
        recording_url=required(form, "RecordingUrl"),
        caller=_fit(caller, "caller"),
        called=_fit(form.get("To", "").strip(), "called"),
        duration_seconds=duration,
    )
    message = InboundMessage(
        channel="voicemail",
        sender=caller,
        recipients=(call.called,) if call.called else (),
        subject=f"Voicemail from {caller}",
        text="",
        idempotency_key=call.call_sid,
        received_at=received_at,
        raw=raw,
        raw_content_type=FORM_CONTENT_TYPE,
        parse_defects=defects,
    )
    return Voicemail(message, call, f"{call.recording_sid}{_extension(call.recording_url)}")


def _fit(value: str, column: str) -> str:
    """`value` cut to the length of the call's `column`: a SIP address as caller is longer
    than a phone number, and the item keeps it whole (sender and raw form)."""
    kind = VoiceCall.__table__.c[column].type
    return value[: kind.length] if isinstance(kind, String) and kind.length else value


def _extension(url: str) -> str:
    # Twilio serves a recording URL without an extension as WAV, with ".mp3" as MP3.
    return ".mp3" if url.lower().endswith(".mp3") else ".wav"


MAX_DURATION = 86_400


def _duration(text: str) -> tuple[int | None, tuple[str, ...]]:
    """The recording's length in seconds, or None with the reason: a length that is no
    number keeps the voicemail, of unknown length (the recording still plays)."""
    text = text.strip()
    if not text:
        return None, ()
    # ASCII digits only (int() reads other scripts' digits too), and no more than a day.
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_DURATION:
        return None, (f"RecordingDuration {text!r} is not a number of seconds up to {MAX_DURATION}",)
    return int(text), ()
