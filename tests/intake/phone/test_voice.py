"""Voicemail: the greeting, recording and transcription callbacks in any order, and replays."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl
from xml.etree import ElementTree

import pytest
from sqlalchemy import select

from config.languages import PAGE_LANGUAGES
from config.loading import load_settings
from intake.phone.voice import SAY_LANGUAGES
from routing.store.database import transaction
from routing.store.models import Item, VoiceCall
from tests.support.routers import invoice_router
from tests.support.twilio import (
    CALLER,
    CLOSED_TIME,
    OTHER_ACCOUNT_SID,
    PUBLIC_URL,
    SALES_NUMBER,
    Answer,
    PhoneOffice,
    api_path,
    post_signed,
    recording_form,
    transcription_form,
)

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)


def _twiml(data: bytes) -> ElementTree.Element:
    return ElementTree.fromstring(data)


def test_the_greeting_in_opening_hours_records_with_callbacks_and_a_polite_end(phone: PhoneOffice) -> None:
    response = phone.post("/twilio/voice", {"CallSid": "CA1", "From": CALLER, "To": SALES_NUMBER})
    assert response.status_code == 200
    root = _twiml(response.data)
    assert [child.tag for child in root] == ["Say", "Record", "Say", "Hangup"]
    assert root[0].text == "You have reached Sales. Please leave a message."
    record = root[1].attrib
    assert record["action"] == f"{PUBLIC_URL}/twilio/voice/done"  # not the default, which loops
    assert record["maxLength"] == "90"
    assert record["playBeep"] == "true"
    # Twilio's recording callback names neither number: its URL carries them, signed with the rest.
    assert record["recordingStatusCallback"] == (
        f"{PUBLIC_URL}/twilio/voice/recording?From=%2B15557654321&To=%2B15555550101"
    )
    assert record["transcribe"] == "true"
    assert record["transcribeCallback"] == f"{PUBLIC_URL}/twilio/voice/transcription"
    assert phone.items() == []  # a call makes no item until there is a recording


def test_the_greeting_out_of_hours_is_the_closed_message(phone: PhoneOffice) -> None:
    phone.clock.now = CLOSED_TIME
    root = _twiml(phone.post("/twilio/voice", {"CallSid": "CA1", "From": CALLER, "To": SALES_NUMBER}).data)
    assert root[0].text == "Sales is closed. Please leave a message after the beep."
    other = _twiml(phone.post("/twilio/voice", {"CallSid": "CA2", "From": CALLER, "To": "+15555550100"}).data)
    assert other[0].text == "The Test Office is closed."


def test_the_record_action_ends_the_call(phone: PhoneOffice) -> None:
    root = _twiml(phone.post("/twilio/voice/done", {"CallSid": "CA1", "RecordingUrl": "x"}).data)
    assert [child.tag for child in root] == ["Say", "Hangup"]


# What a caller hears in an office of each language of the pages: Twilio's <Say> language
# code and the goodbye, from the pages' catalogs.
SPOKEN = {
    "en": ("en-US", "Thank you for your message. Goodbye."),
    "ro": ("ro-RO", "Vă mulțumim pentru mesaj. La revedere."),
    "hu": ("hu-HU", "Köszönjük az üzenetét. Viszonthallásra."),
}


def test_every_language_of_the_pages_is_one_a_caller_can_hear() -> None:
    assert sorted(SAY_LANGUAGES) == sorted(SPOKEN) == sorted(PAGE_LANGUAGES)


def _office_speaking(phone: PhoneOffice, language: str) -> None:
    """Reload the office's config with `[office] language` set to `language`."""
    path = phone.settings.source.with_name(f"office-{language}.toml")
    path.write_text(
        phone.settings.source.read_text().replace("[office]\n", f'[office]\nlanguage = "{language}"\n', 1)
    )
    phone.hooks.holder.swap(load_settings(path, {"INTAKE_DATABASE_URL": phone.settings.database.url}))


@pytest.mark.parametrize("language", SPOKEN)
def test_a_caller_hears_the_greeting_and_the_goodbye_in_the_offices_language(
    phone: PhoneOffice, language: str
) -> None:
    _office_speaking(phone, language)
    code, goodbye = SPOKEN[language]
    greeting = _twiml(
        phone.post("/twilio/voice", {"CallSid": "CA1", "From": CALLER, "To": SALES_NUMBER}).data
    )
    # The configured greeting is said as written, in the office's language's voice.
    assert [(say.attrib, say.text) for say in greeting.iter("Say")] == [
        ({"language": code}, "You have reached Sales. Please leave a message."),
        ({"language": code}, goodbye),
    ]
    done = _twiml(phone.post("/twilio/voice/done", {"CallSid": "CA1", "RecordingUrl": "x"}).data)
    assert [(say.attrib, say.text) for say in done.iter("Say")] == [({"language": code}, goodbye)]


def _form(raw: bytes) -> dict[str, str]:
    return dict(parse_qsl(raw.decode()))


def _record_action_form(base: str) -> dict[str, str]:
    """What Twilio posts to the <Record> action when the caller has finished."""
    form = recording_form(base)
    for key in ("RecordingStatus", "RecordingChannels", "RecordingSource"):
        del form[key]
    form.update(Digits="hangup", CallStatus="completed", Direction="inbound")
    return form


def test_the_record_action_makes_the_item_when_the_recording_callback_never_came(phone: PhoneOffice) -> None:
    form = _record_action_form(phone.fake.base)
    root = _twiml(phone.post("/twilio/voice/done", form).data)
    assert [child.tag for child in root] == ["Say", "Hangup"]
    [item] = phone.items()
    assert (item.idempotency_key, item.department_id, _form(item.raw.content)) == (
        form["CallSid"],
        "sales",
        form,
    )
    assert (phone.call().duration_seconds, [d.filename for d in phone.downloads()]) == (
        42,
        [f"{form['RecordingSid']}.wav"],
    )
    # The recording callback, late, joins the same item and adds no second download.
    assert phone.post("/twilio/voice/recording", recording_form(phone.fake.base)).status_code == 200
    assert [i.id for i in phone.items()] == [item.id] and len(phone.downloads()) == 1


def test_every_later_callback_keeps_its_raw_form_once(phone: PhoneOffice) -> None:
    recording = recording_form(phone.fake.base)
    transcription = transcription_form(phone.fake.base)
    done = _record_action_form(phone.fake.base)
    for path, form in [
        ("/twilio/voice/recording", recording),
        ("/twilio/voice/transcription", transcription),
        ("/twilio/voice/done", done),
        ("/twilio/voice/recording", recording),  # replays add nothing
        ("/twilio/voice/transcription", transcription),
        ("/twilio/voice/done", done),
    ]:
        assert phone.post(path, form).status_code == 200
    [item] = phone.items()
    assert _form(item.raw.content) == recording
    assert [(a.filename, a.content_type, _form(a.blob.content)) for a in item.attachments] == [
        ("callback-2.form", "application/x-www-form-urlencoded", transcription),
        ("callback-3.form", "application/x-www-form-urlencoded", done),
    ]


def test_one_recording_named_with_and_without_its_extension_is_fetched_once(phone: PhoneOffice) -> None:
    phone.post("/twilio/voice/transcription", transcription_form(phone.fake.base))
    form = recording_form(phone.fake.base)
    form["RecordingUrl"] += ".wav"
    assert phone.post("/twilio/voice/recording", form).status_code == 200
    [download] = phone.downloads()
    assert download.filename == f"{form['RecordingSid']}.wav"


def test_a_sip_caller_longer_than_a_number_is_stored_whole_on_the_item(phone: PhoneOffice) -> None:
    caller = "sip:" + "a" * 70 + "@office.sip.twilio.com"
    form = recording_form(phone.fake.base, From=caller, To="sip:" + "b" * 80 + "@office.sip.twilio.com")
    assert phone.post("/twilio/voice/recording", form).status_code == 200
    [item] = phone.items()
    assert (item.sender, item.subject) == (caller, f"Voicemail from {caller}")
    call = phone.call()
    assert (call.caller, len(call.called)) == (caller[:64], 64)


def test_a_recording_callback_makes_one_routed_item_and_its_download_survives_two_failures(
    phone: PhoneOffice,
) -> None:
    form = recording_form(phone.fake.base)
    path = api_path(f"Recordings/{form['RecordingSid']}")
    phone.fake.serve(path, Answer(404), Answer(503), Answer(200, WAV, {"Content-Type": "audio/x-wav"}))
    assert phone.post("/twilio/voice/recording", form).status_code == 200
    assert phone.post("/twilio/voice/recording", form).status_code == 200  # a replay
    [item] = phone.items()
    assert (item.channel, item.department_id, item.sender, item.idempotency_key) == (
        "voicemail",
        "sales",
        CALLER,
        form["CallSid"],
    )
    assert item.raw_content_type == "application/x-www-form-urlencoded"
    call = phone.call()
    assert (call.duration_seconds, call.recording_sid, call.transcript_status) == (
        42,
        form["RecordingSid"],
        "pending",
    )

    assert phone.worker.run_once()  # 404: Twilio may not have the file yet
    [download] = phone.downloads()
    assert (download.status, download.attempts, download.last_error) == (
        "pending",
        1,
        f"HTTP 404 from {form['RecordingUrl']}",
    )
    assert not phone.worker.run_once()  # waits for its backoff
    phone.clock.advance(timedelta(seconds=11))
    assert phone.worker.run_once()  # 503
    phone.clock.advance(timedelta(seconds=21))
    assert phone.worker.run_once()  # 200
    [download] = phone.downloads()
    assert (download.status, download.attempts) == ("done", 3)
    [item] = phone.items()
    [recording] = item.attachments
    assert (recording.filename, recording.content_type, recording.blob.content) == (
        f"{form['RecordingSid']}.wav",
        "audio/x-wav",
        WAV,
    )
    assert [e.action for e in item.events] == ["received", "downloaded"]
    assert all(s.authorization and s.authorization.startswith("Basic ") for s in phone.fake.seen)


def test_a_download_that_keeps_failing_is_marked_failed_and_shown(phone: PhoneOffice) -> None:
    form = recording_form(phone.fake.base)
    phone.fake.serve(api_path(f"Recordings/{form['RecordingSid']}"), Answer(500))
    phone.post("/twilio/voice/recording", form)
    for _ in range(3):
        assert phone.worker.run_once()
        phone.clock.advance(timedelta(hours=1))
    assert not phone.worker.run_once()
    [download] = phone.downloads()
    assert (download.status, download.attempts) == ("failed", 3)
    [item] = phone.items()
    page = phone.client.get(f"/items/{item.id}")
    assert b"failed" in page.data and b"HTTP 500" in page.data
    assert [e.action for e in item.events] == ["received", "download failed"]


def test_a_hang_up_without_a_recording_makes_no_item(phone: PhoneOffice) -> None:
    form = recording_form(phone.fake.base, RecordingStatus="absent", RecordingDuration="0")
    assert phone.post("/twilio/voice/recording", form).status_code == 200
    form = {k: v for k, v in recording_form(phone.fake.base).items() if not k.startswith("Recording")}
    assert phone.post("/twilio/voice/recording", form).status_code == 200
    assert phone.items() == []


def test_a_transcript_after_the_recording_is_added_to_the_same_item_once(phone: PhoneOffice) -> None:
    phone.post("/twilio/voice/recording", recording_form(phone.fake.base))
    form = transcription_form(phone.fake.base)
    assert phone.post("/twilio/voice/transcription", form).status_code == 200
    assert phone.post("/twilio/voice/transcription", form).status_code == 200  # a replay
    [item] = phone.items()
    assert item.text == "Hi, please call me back about my order."
    call = phone.call()
    assert (call.transcript_status, call.transcript, call.duration_seconds) == (
        "completed",
        "Hi, please call me back about my order.",
        42,
    )
    assert [e.action for e in item.events] == ["received", "transcribed"]
    assert len(phone.downloads()) == 1


def test_a_transcript_before_the_recording_callback_makes_the_item_which_the_recording_then_joins(
    phone: PhoneOffice,
) -> None:
    assert phone.post("/twilio/voice/transcription", transcription_form(phone.fake.base)).status_code == 200
    [item] = phone.items()
    assert phone.call().duration_seconds is None
    assert phone.post("/twilio/voice/recording", recording_form(phone.fake.base)).status_code == 200
    assert phone.post("/twilio/voice/recording", recording_form(phone.fake.base)).status_code == 200
    assert [i.id for i in phone.items()] == [item.id]
    call = phone.call()
    assert (call.duration_seconds, call.transcript) == (42, "Hi, please call me back about my order.")
    assert len(phone.downloads()) == 1


def test_a_failed_transcription_is_recorded_and_the_recording_stays(phone: PhoneOffice) -> None:
    form = recording_form(phone.fake.base)
    phone.fake.serve(
        api_path(f"Recordings/{form['RecordingSid']}"), Answer(200, WAV, {"Content-Type": "audio/wav"})
    )
    phone.post("/twilio/voice/recording", form)
    assert phone.worker.run_once()
    failed = transcription_form(phone.fake.base, text="", status="failed")
    assert phone.post("/twilio/voice/transcription", failed).status_code == 200
    assert phone.post("/twilio/voice/transcription", failed).status_code == 200
    [item] = phone.items()
    assert phone.call().transcript_status == "failed"
    # The failed transcription's form is kept once, beside the recording.
    assert [a.filename for a in item.attachments] == [f"{form['RecordingSid']}.wav", "callback-2.form"]
    assert [e.action for e in item.events] == ["received", "downloaded", "transcription failed"]
    page = phone.client.get(f"/items/{item.id}").data
    assert b"The transcription failed" in page and b"<audio controls" in page


INVOICE_REASON = "rule 'invoice-words' routes to billing"


def _word_router(phone: PhoneOffice) -> None:
    """Route by the office's config plus a rule that sends invoice talk to billing."""
    phone.hooks.deliverer.router = invoice_router(phone.settings, phone.settings.source.parent)


def test_a_transcript_reroutes_an_item_nobody_has_picked_up(phone: PhoneOffice) -> None:
    _word_router(phone)
    phone.post("/twilio/voice/recording", recording_form(phone.fake.base))
    assert phone.items()[0].department_id == "sales"
    phone.post("/twilio/voice/transcription", transcription_form(phone.fake.base, text="About my invoice 42"))
    [item] = phone.items()
    assert (item.department_id, item.routing_reason) == ("billing", INVOICE_REASON)
    assert [e.action for e in item.events] == ["received", "transcribed", "rerouted"]
    assert item.events[-1].detail == {"from": "sales", "to": "billing", "reason": INVOICE_REASON}


# A number no department has: its voicemail waits at the front desk for a person's decision.
UNROUTED_NUMBER = "+15555550199"
FRONT_DESK_NUMBER = "+15555550100"
# Stands for the item of another voicemail, the one merged into.
OTHER_ITEM = "the other item"
Actions = list[tuple[str, dict[str, str]]]

# What a person does that says where a voicemail belongs: the number called, the actions
# through the API, and the department the voicemail is then in.
PLACED_BY_A_PERSON: dict[str, tuple[str, Actions, str]] = {
    "rerouted": (
        SALES_NUMBER,
        [("reroute", {"department": "front-desk", "reason": "the caller asked for reception"})],
        "front-desk",
    ),
    "confirmed": (UNROUTED_NUMBER, [("confirm", {})], "front-desk"),
    "claimed": (SALES_NUMBER, [("claim", {})], "sales"),
    "claimed and released": (SALES_NUMBER, [("claim", {}), ("release", {})], "sales"),
    "assigned and released": (SALES_NUMBER, [("assign", {"person": "reception"}), ("release", {})], "sales"),
    "resolved and reopened": (SALES_NUMBER, [("resolve", {}), ("reopen", {})], "sales"),
    "marked as spam and reopened": (SALES_NUMBER, [("spam", {}), ("reopen", {})], "sales"),
    "merged and unmerged": (SALES_NUMBER, [("merge", {"into": OTHER_ITEM}), ("unmerge", {})], "sales"),
}


def _placed_by_the_receptionist(phone: PhoneOffice, called: str, actions: Actions) -> Item:
    """The voicemail of a call to `called` (beside another's), after the receptionist's `actions`."""
    phone.post("/twilio/voice/recording", recording_form(phone.fake.base, To=called))
    other = {"call": "CA" + "5" * 32, "recording": "RE" + "6" * 32, "To": FRONT_DESK_NUMBER}
    phone.post("/twilio/voice/recording", recording_form(phone.fake.base, **other))
    [item, other_item] = phone.items()
    for action, fields in actions:
        sent = {name: str(other_item.id) if value == OTHER_ITEM else value for name, value in fields.items()}
        response = phone.client.post(f"/api/v1/items/{item.id}/{action}", json=sent)
        assert response.status_code == 200, response.get_json()
    return phone.items()[0]


@pytest.mark.parametrize("placing", PLACED_BY_A_PERSON.values(), ids=PLACED_BY_A_PERSON.keys())
def test_a_transcript_leaves_a_voicemail_where_a_person_placed_it_and_keeps_its_words(
    phone: PhoneOffice, placing: tuple[str, Actions, str]
) -> None:
    called, actions, department = placing
    _word_router(phone)
    placed = _placed_by_the_receptionist(phone, called, actions)
    assert placed.department_id == department

    transcription = transcription_form(phone.fake.base, text="About my invoice 42", To=called)
    assert phone.post("/twilio/voice/transcription", transcription).status_code == 200
    item = phone.items()[0]
    # Where the person put it, as they put it: the invoice rule's billing is not applied.
    assert (item.department_id, item.routing_reason, item.status, item.decision_needed) == (
        placed.department_id,
        placed.routing_reason,
        placed.status,
        None,
    )
    assert [e.action for e in item.events][len(placed.events) :] == ["transcribed"]
    # The words are on the item all the same: shown, and found by a search.
    assert item.text == "About my invoice 42"
    assert phone.client.get(f"/api/v1/items/{item.id}").get_json()["transcript"] == "About my invoice 42"
    found = phone.client.get("/api/v1/items", query_string={"q": "invoice"}).get_json()
    assert [i["id"] for i in found["items"]] == [item.id]


def test_a_transcript_that_moves_a_voicemail_keeps_the_priority_a_person_set(phone: PhoneOffice) -> None:
    _word_router(phone)
    placed = _placed_by_the_receptionist(phone, SALES_NUMBER, [("priority", {"priority": "urgent"})])
    assert (placed.department_id, placed.priority) == ("sales", "urgent")
    transcription = transcription_form(phone.fake.base, text="About my invoice 42", To=SALES_NUMBER)
    assert phone.post("/twilio/voice/transcription", transcription).status_code == 200
    item = phone.items()[0]
    # A priority says nothing of where it belongs: the words move it, the person's urgency stays.
    assert (item.department_id, item.priority) == ("billing", "urgent")


def test_a_recording_of_another_account_is_refused_and_never_fetched(phone: PhoneOffice) -> None:
    form = recording_form(phone.fake.base)
    form["RecordingUrl"] = phone.fake.base + api_path("Recordings/RE9", account=OTHER_ACCOUNT_SID)
    assert phone.post("/twilio/voice/recording", form).status_code == 200
    [download] = phone.downloads()
    assert download.status == "failed"
    assert not phone.worker.run_once()
    assert phone.fake.seen == []
    assert len(phone.items()) == 1


def test_the_item_page_and_the_api_show_caller_duration_audio_and_transcript(phone: PhoneOffice) -> None:
    form = recording_form(phone.fake.base)
    phone.fake.serve(
        api_path(f"Recordings/{form['RecordingSid']}"), Answer(200, WAV, {"Content-Type": "audio/x-wav"})
    )
    phone.post("/twilio/voice/recording", form)
    page = phone.client.get(f"/items/{phone.items()[0].id}").data.decode()
    assert "waiting to be fetched" in page
    phone.worker.run_once()
    phone.post("/twilio/voice/transcription", transcription_form(phone.fake.base, text="Call me <b>soon</b>"))
    [item] = phone.items()
    page = phone.client.get(f"/items/{item.id}").data.decode()
    assert CALLER in page and "0:42" in page
    assert "Call me &lt;b&gt;soon&lt;/b&gt;" in page
    audio_url = f"/items/{item.id}/attachments/{item.attachments[0].id}"
    assert f'<audio controls preload="none" src="{audio_url}">' in page
    assert "waiting to be fetched" not in page
    audio = phone.client.get(audio_url)
    assert (audio.status_code, audio.mimetype, audio.data) == (200, "audio/x-wav", WAV)
    assert audio.headers["X-Content-Type-Options"] == "nosniff"
    assert phone.client.get(f"/items/{item.id + 1}/attachments/{item.attachments[0].id}").status_code == 404
    found = phone.client.get(f"/api/v1/items/{item.id}").get_json()
    assert found["transcript"] == "Call me <b>soon</b>"
    assert found["recording"]["url"].endswith(audio_url)
    assert found["duration_seconds"] == 42


@pytest.mark.parametrize("duration", ["long", "\u00b2", "99999999999"])
def test_a_recording_whose_duration_is_no_number_of_seconds_is_kept_of_unknown_length(
    phone: PhoneOffice, duration: str
) -> None:
    response = phone.post(
        "/twilio/voice/recording", recording_form(phone.fake.base, RecordingDuration=duration)
    )
    assert response.status_code == 200
    [item] = phone.items()
    assert item.parse_defects == [f"RecordingDuration {duration!r} is not a number of seconds up to 86400"]
    assert phone.call().duration_seconds is None


def _twilios_recording_callback(base: str, **extra: str) -> dict[str, str]:
    """A recording status callback's form as Twilio posts it: the call's and the recording's
    SIDs and the recording's facts, but neither the caller's nor the called number."""
    form = recording_form(base, **extra)
    del form["From"], form["To"]
    return form


def test_a_recording_callback_first_to_store_the_call_has_its_numbers_from_the_url_the_greeting_named(
    phone: PhoneOffice,
) -> None:
    form = _twilios_recording_callback(phone.fake.base)
    greeting = phone.post("/twilio/voice", {"CallSid": form["CallSid"], "From": CALLER, "To": SALES_NUMBER})
    record = _twiml(greeting.data).find("Record")
    assert record is not None
    callback = record.attrib["recordingStatusCallback"]
    path = callback.removeprefix(PUBLIC_URL)
    # The <Record> action failed (say the database was away): the callback makes the item.
    assert phone.post(path, form).status_code == 200
    [item] = phone.items()
    assert (item.sender, item.recipients, item.department_id) == (CALLER, [SALES_NUMBER], "sales")
    assert (phone.call().caller, phone.call().called) == (CALLER, SALES_NUMBER)
    # The numbers are signed with the URL: another caller put in it is refused.
    forged = post_signed(phone.client, path.replace("7654321", "0000000"), form, signed_url=callback)
    assert forged.status_code == 403


@pytest.mark.parametrize("stand_in", ["+8656696", "+86282452253", "anonymous", "+266696687"])
def test_callers_twilio_has_no_number_for_are_not_made_one_contact(phone: PhoneOffice, stand_in: str) -> None:
    # Twilio's stand-ins for an unknown, unavailable or withheld number: the same for every such caller.
    for n in (1, 2):
        form = recording_form(phone.fake.base, call=f"CA{n:032d}", recording=f"RE{n:032d}", From=stand_in)
        assert phone.post("/twilio/voice/recording", form).status_code == 200
    items = phone.items()
    assert [(i.sender, i.subject, i.contact_id) for i in items] == [
        ("(unknown caller)", "Voicemail from (unknown caller)", None)
    ] * 2
    with transaction(phone.runtime.sessions, write=False) as session:
        assert session.scalars(select(VoiceCall.caller)).all() == [stand_in] * 2  # as Twilio said it


def test_a_caller_longer_than_any_sender_keeps_the_voicemail_with_the_sender_cut_and_marked(
    phone: PhoneOffice,
) -> None:
    caller = "sip:" + "a" * 330 + "@office.sip.twilio.com"
    form = recording_form(phone.fake.base, From=caller)
    assert phone.post("/twilio/voice/recording", form).status_code == 200
    [item] = phone.items()
    assert (item.sender, item.department_id) == (caller[:320], "sales")
    assert item.parse_defects == [f"From has {len(caller)} characters; the sender keeps the first 320"]
    assert _form(item.raw.content)["From"] == caller
    assert len(phone.downloads()) == 1
