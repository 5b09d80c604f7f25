"""Downloads of Twilio recordings and media answered badly by the fake API on loopback:
each status class, redirects elsewhere or in a loop, a body over the limit, a missing
content type, and a page or another kind of file served with 200 instead of the one
asked for. Each ends in a clear reason, retried only when a later try may work."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config.settings import TwilioSettings
from intake.jobs.downloads import expected_of
from intake.phone.fetch import RECORDING as RECORDING_FILE
from intake.phone.fetch import Expected, FetchFailed, FetchRefused, TwilioFetcher
from tests.support.twilio import (
    ACCOUNT_SID,
    CALLER,
    Answer,
    FakeTwilio,
    PhoneOffice,
    api_path,
    recording_form,
    sms_form,
)

RECORDING = api_path("Recordings/RE1")
MEDIA = api_path("Messages/MM1/Media/ME1")


def media(filename: str, **announced: str | None) -> Expected:
    """What a media download queued as `filename` must be, read from its job's payload;
    `content_type` as the webhook announced it, left out as by a job queued before the
    payload kept it."""
    return expected_of({"url": MEDIA, "filename": filename, "purpose": "media", **announced})


UNANNOUNCED = media("SM1-0.bin", content_type=None)  # the webhook announced no type
JPEG_FILE = media("SM1-0.jpg", content_type="image/jpeg")
# A type no MIME table knows (a real MMS type such as audio/amr may be unknown to one node's
# table and known to another's): its file is named ".bin", yet the type was announced.
MADE_UP = media("SM1-0.bin", content_type="audio/x-made-up")


def fetcher(fake: FakeTwilio, max_bytes: int = 1000) -> TwilioFetcher:
    fake.reset()
    settings = TwilioSettings(
        account_sid=ACCOUNT_SID,
        auth_token="t",
        api_base_url=fake.base,
        redirect_hosts=(f"localhost:{fake.port}",),
        download_timeout_seconds=2.0,
        download_max_bytes=max_bytes,
    )
    return TwilioFetcher(settings)


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, True),
        (410, False),
        (429, True),
        (500, True),
        (503, True),
    ],
)
def test_each_status_is_retried_only_when_a_later_try_may_work(
    fake_twilio: FakeTwilio, status: int, retry: bool
) -> None:
    fetch = fetcher(fake_twilio)
    fake_twilio.serve(RECORDING, Answer(status, b"no", {"Retry-After": "5"}))
    with pytest.raises(FetchFailed) as failed:
        fetch.fetch(fake_twilio.base + RECORDING, RECORDING_FILE)
    assert (str(failed.value), failed.value.retry) == (
        f"HTTP {status} from {fake_twilio.base}{RECORDING}",
        retry,
    )


def test_a_redirect_loop_gives_up_after_the_hops_allowed(fake_twilio: FakeTwilio) -> None:
    fetch = fetcher(fake_twilio)
    fake_twilio.serve(RECORDING, Answer(302, headers={"Location": f"{fake_twilio.cdn}/media/1"}))
    fake_twilio.serve("/media/1", Answer(302, headers={"Location": f"{fake_twilio.cdn}/media/1"}))
    with pytest.raises(FetchFailed) as failed:
        fetch.fetch(fake_twilio.base + RECORDING, RECORDING_FILE)
    assert (str(failed.value), failed.value.retry) == ("too many redirects", False)
    assert len(fake_twilio.seen) == 3


def test_a_redirect_to_another_host_is_refused_without_following_it(fake_twilio: FakeTwilio) -> None:
    fetch = fetcher(fake_twilio)
    fake_twilio.serve(RECORDING, Answer(302, headers={"Location": "https://media.elsewhere.example/1"}))
    with pytest.raises(FetchRefused, match="not to an allowed media host"):
        fetch.fetch(fake_twilio.base + RECORDING, RECORDING_FILE)
    assert len(fake_twilio.seen) == 1


def test_a_body_over_the_limit_is_refused(fake_twilio: FakeTwilio) -> None:
    fetch = fetcher(fake_twilio, max_bytes=100)
    fake_twilio.serve(RECORDING, Answer(200, b"x" * 101, {"Content-Type": "audio/x-wav"}))
    with pytest.raises(FetchRefused, match="larger than 100 bytes"):
        fetch.fetch(fake_twilio.base + RECORDING, RECORDING_FILE)


def test_the_content_type_is_kept_and_a_missing_one_is_plain_bytes(fake_twilio: FakeTwilio) -> None:
    fetch = fetcher(fake_twilio)
    fake_twilio.serve(RECORDING, Answer(200, b"RIFF", {"Content-Type": "audio/x-wav; charset=binary"}))
    assert fetch.fetch(fake_twilio.base + RECORDING, RECORDING_FILE).content_type == "audio/x-wav"
    fake_twilio.serve(MEDIA, Answer(200, b"RIFF"))
    assert fetch.fetch(fake_twilio.base + MEDIA, UNANNOUNCED).content_type == "application/octet-stream"


@pytest.mark.parametrize(
    ("expected", "answered", "kept"),
    [
        (RECORDING_FILE, "audio/x-wav", True),
        (RECORDING_FILE, "Audio/X-WAV; charset=binary", True),
        (RECORDING_FILE, "audio/wav", True),
        (RECORDING_FILE, "audio/mpeg", True),
        (RECORDING_FILE, "application/octet-stream", False),
        (RECORDING_FILE, "text/html; charset=utf-8", False),
        (RECORDING_FILE, "video/mp4", False),
        (JPEG_FILE, "image/jpeg", True),
        (JPEG_FILE, "IMAGE/JPEG; charset=binary", True),
        (JPEG_FILE, "image/png", False),
        (JPEG_FILE, "application/octet-stream", False),
        (JPEG_FILE, "application/json", False),
        (media("SM1-0.vcf", content_type="text/x-vcard"), "text/x-vcard", True),
        (media("SM1-0.vcf", content_type="text/x-vcard"), "text/vcard", True),  # an alias
        (media("SM1-0.vcf", content_type="text/vcard"), "text/x-vcard", True),
        (media("SM1-0.pdf", content_type="application/pdf"), "application/pdf", True),
        (media("SM1-0.jpg", content_type="Image/JPEG"), "image/jpeg", True),
        (MADE_UP, "audio/x-made-up", True),
        (MADE_UP, "Audio/X-Made-Up; rate=8000", True),
        (MADE_UP, "application/octet-stream", False),
        (MADE_UP, "image/jpeg", False),
        (MADE_UP, "text/html", False),
        (UNANNOUNCED, "application/octet-stream", True),
        (UNANNOUNCED, "video/3gpp", True),
        (UNANNOUNCED, "text/html", False),
        (UNANNOUNCED, "application/json; charset=utf-8", False),
        (UNANNOUNCED, "application/xml", False),
        (UNANNOUNCED, "text/plain", False),
        # Announced as plain bytes: Twilio knew no better type, so any file but a page.
        (media("SM1-0.bin", content_type="application/octet-stream"), "image/png", True),
        (media("SM1-0.bin", content_type="application/octet-stream"), "text/html", False),
        # Queued before the payload kept the announced type: its file's name is no longer
        # read for it, so any file but a page.
        (media("SM1-0.jpg"), "image/png", True),
        (media("SM1-0.jpg"), "text/html", False),
    ],
)
def test_only_the_kind_of_file_expected_is_kept(
    fake_twilio: FakeTwilio, expected: Expected, answered: str, kept: bool
) -> None:
    fetch = fetcher(fake_twilio)
    fake_twilio.serve(MEDIA, Answer(200, b"bytes", {"Content-Type": answered}))
    if kept:
        assert fetch.fetch(fake_twilio.base + MEDIA, expected).content == b"bytes"
        return
    with pytest.raises(FetchFailed) as failed:
        fetch.fetch(fake_twilio.base + MEDIA, expected)
    shown = answered.split(";")[0].lower()
    assert (str(failed.value), failed.value.retry) == (
        f"Twilio answered {shown} where {expected.described} was expected",
        True,
    )


def test_the_type_is_judged_before_the_body_is_read(fake_twilio: FakeTwilio) -> None:
    fetch = fetcher(fake_twilio, max_bytes=100)
    fake_twilio.serve(RECORDING, Answer(200, b"<html>" + b"x" * 1000, {"Content-Type": "text/html"}))
    with pytest.raises(FetchFailed, match="Twilio answered text/html where a recording"):
        fetch.fetch(fake_twilio.base + RECORDING, RECORDING_FILE)


# A page answered with 200 instead of the file: the worker must not keep it as the file.
PAGE = Answer(
    200, b"<html><body>Service unavailable</body></html>", {"Content-Type": "text/html; charset=utf-8"}
)
JPEG = b"\xff\xd8\xff\xe0jpeg bytes"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)


def _voicemail(phone: PhoneOffice, *answers: Answer, suffix: str = "") -> dict[str, str]:
    form = recording_form(phone.fake.base)
    form["RecordingUrl"] += suffix
    phone.fake.serve(api_path(f"Recordings/{form['RecordingSid']}{suffix}"), *answers)
    assert phone.post("/twilio/voice/recording", form).status_code == 200
    return form


def _mms(phone: PhoneOffice, announced: str | None, *answers: Answer) -> None:
    phone.fake.serve(MEDIA, *answers)
    form = sms_form(NumMedia="1", MediaUrl0=phone.fake.base + MEDIA)
    if announced is not None:
        form["MediaContentType0"] = announced
    assert phone.post("/twilio/sms", form).status_code == 200


def _run_every_attempt(phone: PhoneOffice) -> None:
    for _ in range(3):
        assert phone.worker.run_once()
        phone.clock.advance(timedelta(hours=1))
    assert not phone.worker.run_once()


def test_a_recording_answered_with_a_page_is_retried_then_fails_and_nothing_is_stored(
    phone: PhoneOffice,
) -> None:
    _voicemail(phone, PAGE)
    reason = "Twilio answered text/html where a recording (audio) was expected"
    assert phone.worker.run_once()
    [download] = phone.downloads()
    assert (download.status, download.attempts, download.last_error) == ("pending", 1, reason)
    assert download.due_at > phone.clock.now
    for _ in range(2):
        phone.clock.advance(timedelta(hours=1))
        assert phone.worker.run_once()
    phone.clock.advance(timedelta(hours=1))
    assert not phone.worker.run_once()
    [download] = phone.downloads()
    assert (download.status, download.attempts, download.last_error) == ("failed", 3, reason)
    [item] = phone.items()
    assert (item.subject, item.attachments) == (f"Voicemail from {CALLER}", [])
    assert [e.action for e in item.events] == ["received", "download failed"]
    assert reason.encode() in phone.client.get(f"/items/{item.id}").data


def test_a_recording_answered_with_a_page_is_kept_once_it_comes_as_mp3_audio(phone: PhoneOffice) -> None:
    form = _voicemail(
        phone, PAGE, Answer(200, b"ID3 mp3 bytes", {"Content-Type": "audio/mpeg"}), suffix=".mp3"
    )
    assert phone.worker.run_once()
    assert phone.downloads()[0].status == "pending"
    phone.clock.advance(timedelta(seconds=11))
    assert phone.worker.run_once()
    [download] = phone.downloads()
    assert (download.status, download.attempts, download.last_error) == ("done", 2, None)
    [item] = phone.items()
    assert [(a.filename, a.content_type, a.blob.content) for a in item.attachments] == [
        (f"{form['RecordingSid']}.mp3", "audio/mpeg", b"ID3 mp3 bytes")
    ]


def test_a_recording_answered_as_plain_bytes_is_not_kept(phone: PhoneOffice) -> None:
    _voicemail(phone, Answer(200, WAV, {"Content-Type": "application/octet-stream"}))
    _run_every_attempt(phone)
    [download] = phone.downloads()
    assert (download.status, download.last_error) == (
        "failed",
        "Twilio answered application/octet-stream where a recording (audio) was expected",
    )
    assert phone.items()[0].attachments == []


@pytest.mark.parametrize("answered", ["image/jpeg; charset=binary", "Image/JPEG"])
def test_a_photo_is_kept_when_answered_with_its_announced_type_in_any_spelling(
    phone: PhoneOffice, answered: str
) -> None:
    # First a JSON error served with 200, which is not kept; then the photo.
    error = Answer(200, b'{"code": 20500, "message": "Internal error"}', {"Content-Type": "application/json"})
    _mms(phone, "image/jpeg", error, Answer(200, JPEG, {"Content-Type": answered}))
    assert phone.worker.run_once()
    phone.clock.advance(timedelta(seconds=11))
    assert phone.worker.run_once()
    [download] = phone.downloads()
    assert (download.status, download.attempts) == ("done", 2)
    [item] = phone.items()
    assert [(a.content_type, a.blob.content) for a in item.attachments] == [("image/jpeg", JPEG)]


def test_a_photo_answered_as_json_is_not_kept_and_the_text_stays(phone: PhoneOffice) -> None:
    _mms(phone, "image/jpeg", Answer(200, b'{"message": "not found"}', {"Content-Type": "application/json"}))
    _run_every_attempt(phone)
    [download] = phone.downloads()
    assert (download.status, download.attempts, download.last_error) == (
        "failed",
        3,
        "Twilio answered application/json where a file of type image/jpeg was expected",
    )
    [item] = phone.items()
    assert (item.text, item.attachments) == ("Hello, I would like a quote", [])
    assert [e.action for e in item.events][-1] == "download failed"


def test_a_photo_answered_as_another_kind_of_file_is_not_kept(phone: PhoneOffice) -> None:
    _mms(phone, "image/jpeg", Answer(200, WAV, {"Content-Type": "audio/x-wav"}))
    _run_every_attempt(phone)
    [download] = phone.downloads()
    assert download.last_error == "Twilio answered audio/x-wav where a file of type image/jpeg was expected"
    assert phone.items()[0].attachments == []


def test_media_of_a_type_no_mime_table_knows_is_kept_only_as_that_type(phone: PhoneOffice) -> None:
    # Another kind of file first, which is not what the text announced; then the clip.
    clip = Answer(200, b"#!AMR\n clip", {"Content-Type": "audio/x-made-up"})
    _mms(phone, "audio/x-made-up", Answer(200, JPEG, {"Content-Type": "image/jpeg"}), clip)
    assert phone.worker.run_once()
    [download] = phone.downloads()
    assert download.last_error == (
        "Twilio answered image/jpeg where a file of type audio/x-made-up was expected"
    )
    phone.clock.advance(timedelta(seconds=11))
    assert phone.worker.run_once()
    [item] = phone.items()
    # Its file's name says nothing of its type: the job kept the type the text announced.
    assert [(a.filename, a.content_type, a.blob.content) for a in item.attachments] == [
        (f"{sms_form()['MessageSid']}-0.bin", "audio/x-made-up", b"#!AMR\n clip")
    ]


def test_media_of_no_announced_type_is_kept_as_plain_bytes_but_not_as_a_page(phone: PhoneOffice) -> None:
    _mms(phone, None, PAGE, Answer(200, b"\x00\x01data", {"Content-Type": "application/octet-stream"}))
    assert phone.worker.run_once()
    [download] = phone.downloads()
    assert download.last_error == "Twilio answered text/html where a media file (not a page) was expected"
    phone.clock.advance(timedelta(seconds=11))
    assert phone.worker.run_once()
    [item] = phone.items()
    assert [(a.content_type, a.blob.content) for a in item.attachments] == [
        ("application/octet-stream", b"\x00\x01data")
    ]
