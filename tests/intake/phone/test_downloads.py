"""Fetching recordings and media: only the account's API, redirects checked, claims exclusive."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import TwilioSettings
from intake.jobs.downloads import DownloadWorker, store
from intake.phone.fetch import Fetched, FetchRefused, TwilioFetcher, check_api_url, check_redirect
from routing.store import jobs
from routing.store.database import make_engine, make_session_factory, transaction
from routing.store.jobs import Claim
from routing.store.models import Job
from tests.support.twilio import (
    ACCOUNT_SID,
    OPEN_TIME,
    OTHER_ACCOUNT_SID,
    Answer,
    PhoneOffice,
    api_path,
    sms_form,
)

TWILIO = TwilioSettings(account_sid=ACCOUNT_SID, auth_token="t")
API = "https://api.twilio.com/2010-04-01/Accounts/" + ACCOUNT_SID


@pytest.mark.parametrize(
    "url",
    [
        f"{API}/Recordings/RE1",
        f"{API}/Messages/MM1/Media/ME1",
        f"https://api.twilio.com:443/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE1.mp3",
    ],
)
def test_urls_of_the_account_on_the_api_are_allowed(url: str) -> None:
    check_api_url(TWILIO, url)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        f"http://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE1",
        f"https://api.twilio.com.evil.test/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE1",
        f"https://user:pw@api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE1",
        f"https://api.twilio.com/2010-04-01/Accounts/{OTHER_ACCOUNT_SID}/Recordings/RE1",
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/../{OTHER_ACCOUNT_SID}/Recordings/RE1",
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/%2e%2e/{OTHER_ACCOUNT_SID}/Recordings/RE1",
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}",
        f"http://localhost/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE1",
        "file:///etc/passwd",
    ],
)
def test_anything_else_is_refused(url: str) -> None:
    with pytest.raises(FetchRefused):
        check_api_url(TWILIO, url)


def test_redirects_go_only_to_the_named_media_hosts_over_https() -> None:
    check_redirect(TWILIO, "https://media.twiliocdn.com/AC1/abc?Expires=1")
    for url in (
        "http://media.twiliocdn.com/AC1/abc",
        "https://media.twiliocdn.com.evil.test/abc",
        "https://169.254.169.254/latest/meta-data/",
        "https://localhost/abc",
        f"{API}/Recordings/RE1",
    ):
        with pytest.raises(FetchRefused):
            check_redirect(TWILIO, url)
    metadata = dataclasses.replace(TWILIO, redirect_hosts=("169.254.169.254",))
    with pytest.raises(FetchRefused):
        check_redirect(metadata, "https://169.254.169.254/latest/meta-data/")


def _mms(phone: PhoneOffice, path: str) -> None:
    form = sms_form(NumMedia="1", MediaUrl0=phone.fake.base + path, MediaContentType0="image/png")
    assert phone.post("/twilio/sms", form).status_code == 200


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:{port}/cdn/x",
        "http://media.twiliocdn.com/x",
    ],
)
def test_a_redirect_elsewhere_is_refused_without_a_request(phone: PhoneOffice, location: str) -> None:
    path = api_path("Messages/MM1/Media/ME1")
    phone.fake.serve(path, Answer(302, headers={"Location": location.format(port=phone.fake.port)}))
    _mms(phone, path)
    assert phone.worker.run_once()
    [download] = phone.downloads()
    assert download.status == "failed"
    assert download.last_error is not None and "not to an allowed media host" in download.last_error
    assert [seen.path for seen in phone.fake.seen] == [path]


def test_a_file_over_the_size_cap_is_refused(phone: PhoneOffice) -> None:
    path = api_path("Messages/MM1/Media/ME1")
    phone.fake.serve(path, Answer(200, b"x" * 5000, {"Content-Type": "image/png"}))
    _mms(phone, path)
    capped = TwilioFetcher(dataclasses.replace(phone.settings.twilio, download_max_bytes=4096))
    worker = DownloadWorker(phone.runtime.sessions, capped, max_attempts=3, clock=phone.clock)
    assert worker.run_once()
    [download] = phone.downloads()
    assert (download.status, download.last_error) == ("failed", "the file is larger than 4096 bytes")


def test_an_unreachable_api_is_retried_later(phone: PhoneOffice) -> None:
    closed = dataclasses.replace(phone.settings.twilio, api_base_url="http://127.0.0.1:9")  # discard port
    _mms(phone, api_path("Messages/MM1/Media/ME1"))
    [download] = phone.downloads()
    phone.point_download_at(download.url.replace(phone.fake.base, closed.api_base_url))
    worker = DownloadWorker(phone.runtime.sessions, TwilioFetcher(closed), max_attempts=3, clock=phone.clock)
    assert worker.run_once()
    [download] = phone.downloads()
    assert (download.status, download.attempts) == ("pending", 1)
    assert download.last_error is not None and download.last_error.startswith(
        "cannot reach http://127.0.0.1:9/"
    )


def _two_mms(phone: PhoneOffice) -> None:
    for index in (1, 2):
        url = phone.fake.base + api_path(f"Messages/MM{index}/Media/ME1")
        form = sms_form(f"SM{index}" + "9" * 31, NumMedia="1", MediaUrl0=url, MediaContentType0="image/png")
        assert phone.post("/twilio/sms", form).status_code == 200


def _claim(sessions: sessionmaker[Session], now: datetime) -> Claim | None:
    return jobs.claim(sessions, [jobs.DOWNLOAD], now, 3)


def test_claims_are_exclusive_and_a_lapsed_claim_is_taken_over(phone: PhoneOffice) -> None:
    _two_mms(phone)
    sessions = phone.runtime.sessions
    first = _claim(sessions, OPEN_TIME)
    second = _claim(sessions, OPEN_TIME)
    assert first is not None and second is not None and first.id != second.id
    assert _claim(sessions, OPEN_TIME) is None
    # The first worker died: after its lease another takes the download over, and the
    # late answer of the first one no longer counts.
    later = OPEN_TIME + jobs.LEASE + timedelta(seconds=1)
    taken_over = _claim(sessions, later)
    assert taken_over is not None and taken_over.id == first.id and taken_over.attempts == 2
    for claim, content in ((first, b"late"), (taken_over, b"fresh")):
        fetched = Fetched(content, "image/png")
        jobs.finish(
            sessions, claim, later, lambda session, row, fetched=fetched: store(session, row, fetched)
        )
    with transaction(sessions, write=False) as session:
        row = session.get_one(Job, first.id)
        assert (row.status, row.attempts) == ("done", 2)
    [item] = [i for i in phone.items() if i.attachments]
    assert [a.blob.content for a in item.attachments] == [b"fresh"]


@pytest.mark.postgresql
def test_a_row_locked_by_another_worker_is_skipped_on_postgresql(
    phone: PhoneOffice, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has one writer at a time")
    _mms(phone, api_path("Messages/MM1/Media/ME1"))
    phone.post(
        "/twilio/sms",
        sms_form(
            "SM" + "9" * 32, NumMedia="1", MediaUrl0=phone.fake.base + api_path("Messages/MM2/Media/ME1")
        ),
    )
    other_engine = make_engine(phone.settings.database)
    try:
        with transaction(make_session_factory(other_engine)) as holder:
            held = holder.scalars(select(Job).order_by(Job.id).limit(1).with_for_update()).one()
            job = _claim(phone.runtime.sessions, OPEN_TIME)
            assert job is not None and job.id != held.id
            assert _claim(phone.runtime.sessions, OPEN_TIME) is None
    finally:
        other_engine.dispose()
