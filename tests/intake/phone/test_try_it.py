"""Trying the phone side as the README says: `intake serve` on the sample office, then
`intake twilio simulate` for a text and a voicemail, with no edits and no Twilio account."""

from __future__ import annotations

from tests.support.command import ROOT, intake
from tests.support.serving import ServeProcess

SAMPLE_OFFICE = ROOT / "config" / "default.toml"


def test_a_simulated_text_and_voicemail_arrive_at_the_sample_office(database_url: str) -> None:
    serve = ServeProcess(SAMPLE_OFFICE, database_url)
    try:
        serve.wait_until_running()
        web = f"127.0.0.1:{serve.web_port}"
        text = intake("twilio", "simulate", "sms", "--web", web, "The boiler is broken again")
        voicemail = intake("twilio", "simulate", "voicemail", "--web", web, "--wait", "20")
        items = serve.get_json("/api/v1/items")["items"]
    finally:
        serve.stop()
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("Intake accepted the text message")
    assert voicemail.returncode == 0, voicemail.stderr
    assert voicemail.stdout.endswith("Intake fetched the recording; the voicemail is in its queue.\n")
    # Newest first; the sample office's first number is the front desk's.
    assert [(item["channel"], item["department"]) for item in items] == [
        ("voicemail", "front-desk"),
        ("sms", "support"),
    ]


def test_simulate_names_a_bad_or_silent_web_address() -> None:
    bad = intake("twilio", "simulate", "sms", "--web", "nowhere", "Hello")
    assert bad.returncode == 2 and bad.stderr.startswith("intake: --web: ")
    silent = intake("twilio", "simulate", "sms", "--web", "127.0.0.1:1", "Hello")
    assert silent.returncode == 2
    assert "/twilio/sms: cannot reach Intake at http://127.0.0.1:1" in silent.stderr
