"""Twilio's voice webhooks: the greeting TwiML, and recording and transcription callbacks.

Pure functions of the form Twilio posts and the office settings: the greeting says
the number's open or closed message and records a voicemail; a callback that carries a
recording becomes a Voicemail for routing.channels.voicemail to store.

A caller hears the office's language (`[office] language`, the pages' language): every
<Say> names its Twilio language code, so Twilio speaks it with a voice of that language,
and the goodbye is in its words, which the web side takes from the pages' catalogs.

Twilio's recording status callback names the call and the recording but neither number
(the greeting, the <Record> action and the transcription callback name both): the
greeting writes the caller's and the called number into that callback's URL, which
Twilio signs with the rest, so the callback that comes first makes a whole item.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import String
from twilio.twiml.voice_response import VoiceResponse

from config.settings import Settings
from intake.phone.sms import FORM_CONTENT_TYPE, MAX_ADDRESS, required, storable
from routing.channels.voicemail import CallFacts, Transcription, Voicemail
from routing.message import InboundMessage
from routing.queues.replies import WITHHELD_NUMBERS
from routing.store.models import VoiceCall

# Twilio's <Say> language code for each language of the pages (config.languages.PAGE_LANGUAGES,
# which tests/intake/phone/test_voice.py keeps this in step with).
SAY_LANGUAGES = {"en": "en-US", "ro": "ro-RO", "hu": "hu-HU"}
# The sender of a voicemail whose caller has no number of their own.
UNKNOWN_CALLER = "(unknown caller)"
# The form's names of the call's numbers, carried in the recording callback's URL.
CALL_NUMBERS = ("From", "To")


@dataclass(frozen=True)
class CallbackUrls:
    """Absolute URLs of Intake's voice endpoints, as Twilio must call them."""

    recording: str
    transcription: str
    done: str


def greeting(settings: Settings, called: str, now: datetime, urls: CallbackUrls, goodbye_words: str) -> str:
    """The TwiML that greets a caller and records a voicemail, then says `goodbye_words`.

    The configured greeting is said as written, by a voice of the office's language: it
    is written in the office's words, as everything else the office shows is."""
    language = SAY_LANGUAGES[settings.language]
    response = VoiceResponse()
    text = settings.twilio.greeting(called, settings.is_open(now))
    if text:
        response.say(text, language=language)
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
    response.say(goodbye_words, language=language)
    response.hangup()
    return str(response)


def url_with_call_numbers(url: str, form: Mapping[str, str]) -> str:
    """The recording callback's `url` with the caller's and the called number of the
    greeting's form in its query (Twilio's recording callback names neither)."""
    numbers = {name: form[name] for name in CALL_NUMBERS if form.get(name, "").strip()}
    return f"{url}?{urlencode(numbers)}" if numbers else url


def with_call_numbers(form: Mapping[str, str], query: Mapping[str, str]) -> dict[str, str]:
    """A recording callback's form with the numbers its signed URL carries
    (url_with_call_numbers) where the form names none of its own."""
    found = dict(form)
    for name in CALL_NUMBERS:
        if not found.get(name, "").strip() and query.get(name, "").strip():
            found[name] = query[name]
    return found


def goodbye(settings: Settings, words: str) -> str:
    """The TwiML for the end of the recording: thank the caller in `words`, said in the
    office's language, and hang up."""
    response = VoiceResponse()
    response.say(words, language=SAY_LANGUAGES[settings.language])
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
    duration, duration_defects = _duration(duration_text)
    caller = form.get("From", "").strip() or UNKNOWN_CALLER
    sender, sender_defects = _sender(caller)
    call = CallFacts(
        call_sid=required(form, "CallSid"),
        recording_sid=_fit(required(form, "RecordingSid"), "recording_sid"),
        recording_url=required(form, "RecordingUrl"),
        caller=_fit(caller, "caller"),  # as Twilio said it: a withheld one is neither texted nor called back
        called=_fit(form.get("To", "").strip(), "called"),
        duration_seconds=duration,
    )
    message = InboundMessage(
        channel="voicemail",
        sender=sender,
        recipients=(call.called,) if call.called else (),
        subject=f"Voicemail from {sender}",
        text="",
        idempotency_key=call.call_sid,
        received_at=received_at,
        raw=raw,
        raw_content_type=FORM_CONTENT_TYPE,
        parse_defects=duration_defects + sender_defects,
    )
    return Voicemail(message, call, f"{call.recording_sid}{_extension(call.recording_url)}")


def _sender(caller: str) -> tuple[str, tuple[str, ...]]:
    """The item's sender for Twilio's From, and why it is not From itself.

    Twilio puts one stand-in number in From for every caller it has no number for
    (withheld, blocked, unknown, unavailable): as a sender, some of them would be read as
    one contact's number, making strangers one person; such a caller is UNKNOWN_CALLER.
    A longer From than any sender (a SIP address) is cut, as the database would refuse
    it, and marked; the raw form keeps it whole."""
    if caller.lower() in WITHHELD_NUMBERS:
        return UNKNOWN_CALLER, ()
    if len(caller) > MAX_ADDRESS:
        return caller[:MAX_ADDRESS], (
            f"From has {len(caller)} characters; the sender keeps the first {MAX_ADDRESS}",
        )
    return caller, ()


def _fit(value: str, column: str) -> str:
    """`value` cut to the length of the call's `column`: a SIP address as caller is longer
    than a phone number, and the item keeps more of it (sender and raw form)."""
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
