"""The download worker: a broken download never stays claimed, and attempts run out."""

from __future__ import annotations

import dataclasses
import socket
from datetime import timedelta

from sqlalchemy import select

from intake.jobs.downloads import DownloadWorker
from intake.phone.fetch import Expected, Fetched, TwilioFetcher
from routing.store import jobs
from routing.store.database import transaction
from routing.store.models import AuditEvent
from tests.support.twilio import Answer, PhoneOffice, api_path, raw_server, sms_form

MEDIA = api_path("Messages/MM1/Media/ME1")


def _mms(phone: PhoneOffice, base: str) -> None:
    form = sms_form(NumMedia="1", MediaUrl0=base + MEDIA, MediaContentType0="image/png")
    assert phone.post("/twilio/sms", form).status_code == 200


def _worker(phone: PhoneOffice, fetcher: TwilioFetcher) -> DownloadWorker:
    return DownloadWorker(phone.runtime.sessions, fetcher, max_attempts=3, clock=phone.clock)


def test_a_cut_off_download_is_not_stored_and_is_retried(phone: PhoneOffice) -> None:
    def reply(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 9000\r\n\r\nPNG")

    _mms(phone, phone.fake.base)
    with raw_server(reply) as server:
        phone.point_download_at(server.base + MEDIA)
        fetcher = TwilioFetcher(dataclasses.replace(phone.settings.twilio, api_base_url=server.base))
        assert _worker(phone, fetcher).run_once()
    [download] = phone.downloads()
    assert (download.status, download.attempts, download.attachment_id) == ("pending", 1, None)
    assert download.last_error == "the download ended after 3 of 9000 bytes"
    assert download.due_at > phone.clock.now
    [item] = phone.items()
    assert item.attachments == []


class _BrokenFetcher(TwilioFetcher):
    """A fetcher with a fault of ours in it, which the worker must survive."""

    def fetch(self, url: str, expected: Expected) -> Fetched:
        raise KeyError("a bug")


def test_an_unexpected_error_is_recorded_and_retried_later(phone: PhoneOffice) -> None:
    _mms(phone, phone.fake.base)
    assert _worker(phone, _BrokenFetcher(phone.settings.twilio)).run_once()
    [download] = phone.downloads()
    assert (download.status, download.attempts) == ("pending", 1)
    assert download.last_error == "unexpected error: KeyError('a bug')"
    # Retried after the backoff, not after the five-minute claim lease.
    phone.clock.advance(timedelta(seconds=11))
    phone.fake.serve(MEDIA, Answer(200, b"PNG", {"Content-Type": "image/png"}))
    assert phone.worker.run_once()
    assert phone.downloads()[0].status == "done"


def test_a_download_whose_attempts_ran_out_fails_without_a_fetch(phone: PhoneOffice) -> None:
    _mms(phone, phone.fake.base)
    # Three workers died mid-fetch, one after the other.
    for _ in range(3):
        assert jobs.claim(phone.runtime.sessions, [jobs.DOWNLOAD], phone.clock.now, 3) is not None
        phone.clock.advance(jobs.LEASE + timedelta(seconds=1))
    phone.fake.serve(MEDIA, Answer(200, b"PNG", {"Content-Type": "image/png"}))
    assert not phone.worker.run_once()
    [download] = phone.downloads()
    assert (download.status, download.attempts) == ("failed", 3)
    assert phone.fake.seen == []
    with transaction(phone.runtime.sessions, write=False) as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.item_id == download.item_id))
        assert "download failed" in list(actions)
    assert jobs.claim(phone.runtime.sessions, [jobs.DOWNLOAD], phone.clock.now, 3) is None


def test_a_redirect_to_a_configured_private_host_is_refused(phone: PhoneOffice) -> None:
    phone.fake.serve(MEDIA, Answer(302, headers={"Location": "http://10.0.0.1/media/x"}))
    _mms(phone, phone.fake.base)
    settings = dataclasses.replace(phone.settings.twilio, redirect_hosts=("10.0.0.1",))
    assert _worker(phone, TwilioFetcher(settings)).run_once()
    [download] = phone.downloads()
    assert download.status == "failed"
    assert download.last_error == (
        "redirect to http://10.0.0.1/media/x resolves to a non-public address (10.0.0.1)"
    )
    assert [seen.path for seen in phone.fake.seen] == [MEDIA]


def test_healthz_counts_downloads_waiting_claimed_and_failed(phone: PhoneOffice) -> None:
    def download_counts() -> object:
        answer = phone.client.get("/healthz").json
        assert answer is not None
        return answer["jobs"]["download"]

    _mms(phone, phone.fake.base)
    assert download_counts() == {"pending": 1, "failed": 0}
    claimed = jobs.claim(phone.runtime.sessions, [jobs.DOWNLOAD], phone.clock.now, 3)
    assert claimed is not None and download_counts() == {"pending": 1, "failed": 0}
    assert phone.downloads()[0].status == "pending"  # being fetched is still waiting, to a reader
    jobs.fail(phone.runtime.sessions, claimed, "refused for the test", phone.clock.now, retry_at=None)
    assert download_counts() == {"pending": 0, "failed": 1}
    [download] = phone.downloads()
    assert (download.status, download.last_error) == ("failed", "refused for the test")
