"""Downloads of Twilio recordings and media answered badly by the fake API on loopback:
each status class, redirects elsewhere or in a loop, a body over the limit, and a
missing content type. Each ends in a clear reason, retried only when a later try may work."""

from __future__ import annotations

import pytest

from config.settings import TwilioSettings
from intake.phone.fetch import FetchFailed, FetchRefused, TwilioFetcher
from tests.support.twilio import ACCOUNT_SID, Answer, FakeTwilio, api_path

RECORDING = api_path("Recordings/RE1")


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
        fetch.fetch(fake_twilio.base + RECORDING)
    assert (str(failed.value), failed.value.retry) == (
        f"HTTP {status} from {fake_twilio.base}{RECORDING}",
        retry,
    )


def test_a_redirect_loop_gives_up_after_the_hops_allowed(fake_twilio: FakeTwilio) -> None:
    fetch = fetcher(fake_twilio)
    fake_twilio.serve(RECORDING, Answer(302, headers={"Location": f"{fake_twilio.cdn}/media/1"}))
    fake_twilio.serve("/media/1", Answer(302, headers={"Location": f"{fake_twilio.cdn}/media/1"}))
    with pytest.raises(FetchFailed) as failed:
        fetch.fetch(fake_twilio.base + RECORDING)
    assert (str(failed.value), failed.value.retry) == ("too many redirects", False)
    assert len(fake_twilio.seen) == 3


def test_a_redirect_to_another_host_is_refused_without_following_it(fake_twilio: FakeTwilio) -> None:
    fetch = fetcher(fake_twilio)
    fake_twilio.serve(RECORDING, Answer(302, headers={"Location": "https://media.elsewhere.example/1"}))
    with pytest.raises(FetchRefused, match="not to an allowed media host"):
        fetch.fetch(fake_twilio.base + RECORDING)
    assert len(fake_twilio.seen) == 1


def test_a_body_over_the_limit_is_refused(fake_twilio: FakeTwilio) -> None:
    fetch = fetcher(fake_twilio, max_bytes=100)
    fake_twilio.serve(RECORDING, Answer(200, b"x" * 101, {"Content-Type": "audio/x-wav"}))
    with pytest.raises(FetchRefused, match="larger than 100 bytes"):
        fetch.fetch(fake_twilio.base + RECORDING)


def test_the_content_type_is_kept_and_a_missing_one_is_plain_bytes(fake_twilio: FakeTwilio) -> None:
    fetch = fetcher(fake_twilio)
    fake_twilio.serve(RECORDING, Answer(200, b"RIFF", {"Content-Type": "audio/x-wav; charset=binary"}))
    assert fetch.fetch(fake_twilio.base + RECORDING).content_type == "audio/x-wav"
    fake_twilio.serve(RECORDING, Answer(200, b"RIFF"))
    assert fetch.fetch(fake_twilio.base + RECORDING).content_type == "application/octet-stream"
