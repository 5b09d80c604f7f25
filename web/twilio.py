"""Twilio's webhooks: messages, the voice greeting, recording and transcription callbacks,
and the status callbacks of the office's text replies.

Every request must carry a valid X-Twilio-Signature for the public URL Twilio called,
or it is refused with 403 (a body too large to be Twilio's, 413, before it is read).
A text is answered 200 once its form is committed to the inbox (an inbox worker makes
the item, its downloads and its acknowledgement later); a voicemail's callbacks once
its item is committed. When storage fails the answer is 503, so Twilio retries or uses
its fallback URL. A form without what an item needs, or with values the database
refuses as data, is answered 400: a retry would be refused the same way. The webhooks
are served by an app of their own, in front of the pages' (web.app).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache, lru_cache, wraps
from urllib.parse import urlparse

from babel.support import NullTranslations, Translations
from flask import Blueprint, Flask, Response, current_app, request, url_for
from twilio.request_validator import RequestValidator, add_port, compare, remove_port
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import Forbidden

from config.holder import SettingsHolder
from config.settings import Settings
from intake.phone import voice as twilio_voice
from intake.phone.fetch import refusal
from intake.phone.sms import BadWebhook, arrival_of, fields_of, required
from routing.channels.voicemail import VoicemailDesk
from routing.delivery import Deliverer
from routing.queues import reply_status as reported
from routing.store.database import StorageUnavailable, UnstorableMessage
from routing.store.inbox import Accept
from web.i18n import TRANSLATIONS
from web.storage import writing

log = logging.getLogger(__name__)

blueprint = Blueprint("twilio", __name__)
PREFIX = "/twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"
# Twilio's largest form (a message of 1600 characters, ten media URLs) is a few KiB.
MAX_BODY_BYTES = 256 * 1024
# What twilio's MessagingResponse() renders, written once rather than built for each text.
EMPTY_MESSAGING_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


class SignedForm(MultiDict[str, str]):
    """A webhook's form as Twilio signed it: every value of a repeated name.

    twilio's RequestValidator asks a form for `getall` first and falls back to
    `getlist` through an AttributeError for each name; answering `getall` spares that.
    """

    def getall(self, name: str) -> list[str]:
        return self.getlist(name)


class TwilioHooks:
    """What the webhooks need: the settings, the signature check, the inbox for texts and
    the deliverer for voicemails.

    The Twilio account (the token that signs, the public URL) needs a restart, so the
    validator is made once; greetings and hours follow a reload.
    """

    def __init__(self, settings: SettingsHolder, deliverer: Deliverer, accept: Accept) -> None:
        self.holder = settings
        self.validator = RequestValidator(settings.current.twilio.auth_token)
        self.deliverer = deliverer
        self.accept = accept
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @property
    def settings(self) -> Settings:
        return self.holder.current

    @property
    def desk(self) -> VoicemailDesk:
        return VoicemailDesk(self.deliverer, transcribe=self.settings.twilio.transcribe)

    def init_app(self, app: Flask) -> None:
        """Serve the webhooks under PREFIX from `app`, an app of their own."""
        app.extensions["twilio"] = self
        app.register_blueprint(blueprint, url_prefix=PREFIX)

    def refused(self, url: str) -> str | None:
        """Why a recording URL will not be fetched, or None when it may be."""
        return refusal(self.settings.twilio, url)


def _hooks() -> TwilioHooks:
    found: TwilioHooks = current_app.extensions["twilio"]
    return found


def signed(view: Callable[..., Response]) -> Callable[..., Response]:
    """Refuse with 403 any request not signed by Twilio with the account's auth token;
    the view is called with the form that was signed, parsed once from the body."""

    @wraps(view)
    def checked(**kwargs: object) -> Response:
        hooks = _hooks()
        # Before anything is read: an unsigned sender must not make Intake read without end.
        request.max_content_length = MAX_BODY_BYTES
        # Kept as it arrived (cached): it is stored as the raw form.
        form = SignedForm(fields_of(request.get_data(cache=True)))
        signature = request.headers.get(SIGNATURE_HEADER, "")
        url = _signed_url()
        if not (
            hooks.settings.twilio.configured
            and signature
            and url
            and _valid(hooks.validator, url, form, signature)
        ):
            log.warning("refused a request to %s without a valid Twilio signature", request.path)
            raise Forbidden("this endpoint answers only requests signed by Twilio")
        return view(form, **kwargs)

    return checked


def _valid(validator: RequestValidator, url: str, form: SignedForm, signature: str) -> bool:
    """RequestValidator.validate's answer for a form: the signature of the URL without
    its port or with it (Twilio signs either), the second computed only when the first
    does not match."""
    return any(
        compare(validator.compute_signature(variant, form), signature) for variant in _url_variants(url)
    )


@lru_cache(maxsize=64)
def _url_variants(url: str) -> tuple[str, str]:
    """`url` without and with its port, as RequestValidator.validate rebuilds them: each
    webhook is called at one URL, so this is parsed once rather than for every request."""
    parsed = urlparse(url)
    return remove_port(parsed), add_port(parsed)


def _signed_url() -> str:
    """The URL Twilio signed, or "" when the query string is not text (so never signed)."""
    try:
        query = request.query_string.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    return _public_url(f"{request.path}?{query}" if query else request.path)


def _public_url(path: str) -> str:
    """The URL Twilio called: the configured public base, else this request's own."""
    base = _hooks().settings.twilio.public_url
    return base + path if base else request.host_url.rstrip("/") + path


def _twiml(body: str) -> Response:
    return Response(body, mimetype="text/xml")


@cache
def _catalog(language: str) -> NullTranslations:
    """The pages' catalog of `language`, read once. A caller is no person with a page
    language of their own, so the webhooks have no Flask-Babel locale: the office's is
    taken from its catalog directly (English, the strings' own, has none)."""
    return Translations.load(str(TRANSLATIONS), [language])


def _goodbye_words(settings: Settings) -> str:
    """What a caller hears when their message is recorded, in the office's language."""
    return _catalog(settings.language).gettext("Thank you for your message. Goodbye.")


@blueprint.post("/sms", provide_automatic_options=False)
@signed
def sms(form: SignedForm) -> Response:
    """A text: committed to the inbox as it came, then answered with an empty TwiML (any
    acknowledgement goes later, by the Messages API, once the item exists)."""
    hooks = _hooks()
    hooks.accept(arrival_of(form.to_dict(), request.get_data(), hooks.clock()))
    return _twiml(EMPTY_MESSAGING_TWIML)


@blueprint.post("/voice", provide_automatic_options=False)
@signed
def voice(form: SignedForm) -> Response:
    urls = twilio_voice.CallbackUrls(
        recording=twilio_voice.url_with_call_numbers(_public_url(url_for(".recording")), form.to_dict()),
        transcription=_public_url(url_for(".transcription")),
        done=_public_url(url_for(".voice_done")),
    )
    called = form.get("To", "")
    hooks = _hooks()
    settings = hooks.settings
    return _twiml(twilio_voice.greeting(settings, called, hooks.clock(), urls, _goodbye_words(settings)))


@blueprint.post("/voice/done", provide_automatic_options=False)
@signed
def voice_done(form: SignedForm) -> Response:
    # The <Record> action names the recording too: one more chance to make the item, should
    # the recording callback fail. The caller hears goodbye whatever happens here.
    hooks = _hooks()
    try:
        voicemail = twilio_voice.parse_recording(form.to_dict(), request.get_data(), hooks.clock())
        if voicemail is not None:
            hooks.desk.record(voicemail, refused=hooks.refused(voicemail.call.recording_url))
    except (BadWebhook, StorageUnavailable, UnstorableMessage) as error:
        log.warning("the end of call %s was not stored: %s", form.get("CallSid", "?"), error)
    settings = hooks.settings
    return _twiml(twilio_voice.goodbye(settings, _goodbye_words(settings)))


@blueprint.post("/voice/recording", provide_automatic_options=False)
@signed
def recording(form: SignedForm) -> Response:
    """Twilio's recording status callback; the call's numbers are in its signed query."""
    hooks = _hooks()
    fields = twilio_voice.with_call_numbers(form.to_dict(), request.args)
    voicemail = twilio_voice.parse_recording(fields, request.get_data(), hooks.clock())
    if voicemail is None:
        log.info("call %s left no recording; no item made", form.get("CallSid", "?"))
    else:
        hooks.desk.record(voicemail, refused=hooks.refused(voicemail.call.recording_url))
    return _twiml("<Response/>")


@blueprint.post("/voice/transcription", provide_automatic_options=False)
@signed
def transcription(form: SignedForm) -> Response:
    hooks = _hooks()
    parsed = twilio_voice.parse_transcription(form.to_dict(), request.get_data(), hooks.clock())
    if parsed is None:
        log.info("transcription for call %s names no recording; ignored", form.get("CallSid", "?"))
    else:
        voicemail, text = parsed
        hooks.desk.record(voicemail, refused=hooks.refused(voicemail.call.recording_url), transcription=text)
    return _twiml("<Response/>")


@blueprint.post("/replies/<int:reply_id>/status", provide_automatic_options=False)
@signed
def reply_status(form: SignedForm, reply_id: int) -> Response:
    """Twilio's status callback for a text reply (the URL intake.phone.texting names)."""
    sid, status = required(form, "MessageSid"), required(form, "MessageStatus")
    try:
        with writing() as session:
            reported.report(session, reply_id, sid, status, form.get("ErrorCode", "").strip())
    except reported.StatusRefused as error:
        raise BadWebhook(str(error)) from None
    return _twiml("<Response/>")


@blueprint.errorhandler(BadWebhook)
def bad_webhook(error: BadWebhook) -> tuple[str, int]:
    log.warning("refused a signed webhook to %s: %s", request.path, error)
    return str(error), 400


@blueprint.errorhandler(UnstorableMessage)
def unstorable(error: UnstorableMessage) -> tuple[str, int]:
    # Refused for its values, it would be refused at every retry, for ever.
    log.warning("the database refused the values of a webhook to %s: %s", request.path, error.__cause__)
    return "the database refused a value of this webhook (too long or not text); not stored", 400


@blueprint.errorhandler(StorageUnavailable)
def storage_unavailable(error: StorageUnavailable) -> tuple[str, int]:
    # Twilio retries a 5xx or calls the fallback URL: the message is not lost.
    return "storage is unavailable, please retry", 503
