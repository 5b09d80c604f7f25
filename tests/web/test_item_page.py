"""The item page: HTML mail shown safely, what would reorder or hide its text written out
as in a plain mail, remote images on request, inline images, downloads, the conversation
and the history. Mail arrives through the parser and deliver(), on SQLite and PostgreSQL;
the page is read through Flask's test client, signed in as a person."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient

from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.channels.voicemail import CallFacts, Transcription, Voicemail, VoicemailDesk
from routing.engine import OutcomeKind
from routing.queues.triage import add_note, reroute, set_due
from routing.store.database import transaction
from routing.store.models import Item
from tests.support.mail import email_bytes, raw_message
from tests.support.people import new_person, office_client
from tests.support.routers import sms, voicemail
from web.files import content_disposition
from web.item_view import TraceLine, event_details, routing_trace

# A 1x1 PNG, as a mail program would attach a logo.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SVG = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'

HOSTILE = raw_message(
    "From: Mallory <mallory@client.example>",
    "To: sales@office.test",
    "Subject: Your order",
    "Message-ID: <hostile@client.example>",
    "MIME-Version: 1.0",
    'Content-Type: multipart/related; boundary="rel"',
    "",
    "--rel",
    "Content-Type: text/html; charset=utf-8",
    "",
    '<html><head><base href="http://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=http://evil.example/">',
    "<style>body { display: none }</style><title>Page title</title></head><body>",
    "<script>alert(1)</script><img src=x onerror=alert(2)><svg onload=alert(3)></svg>",
    '<p>Your order <b>4711</b> has shipped.</p><a href="javascript:alert(4)">click</a>',
    '<a href="https://shop.example/track">Track it</a> <a href="/logout">a link into this site</a>',
    '<div style="width: expression(alert(5))">Styled away</div>',
    '<img src="http://tracker.example/pixel.gif" alt="tracker"><img src="cid:logo@client.example" alt="Logo">',
    '<img src="cid:drawing@client.example" alt="Drawing"><img src="data:image/png;base64,AAAA" alt="data">',
    '<form action="/logout" method="post"><button>Press</button></form>',
    '<iframe src="http://evil.example/"></iframe></body></html>',
    "--rel",
    "Content-Type: image/png",
    "Content-ID: <logo@client.example>",
    "Content-Transfer-Encoding: base64",
    "",
    base64.b64encode(PNG).decode(),
    "--rel",
    "Content-Type: image/svg+xml",
    "Content-ID: <drawing@client.example>",
    "",
    SVG,
    "--rel--",
)


def _deliver(runtime: Runtime, raw: bytes) -> Item:
    item_id = runtime.deliverer.deliver(parse_email(raw)).item_id
    with transaction(runtime.sessions, write=False) as session:
        item = session.get_one(Item, item_id)
        session.expunge_all()  # only the columns are read afterwards
        return item


def _attachment_ids(runtime: Runtime, item_id: int) -> dict[str, int]:
    with transaction(runtime.sessions, write=False) as session:
        return {a.content_type: a.id for a in session.get_one(Item, item_id).attachments}


def _mail_html(page: str) -> str:
    found = re.search(r'<div class="mail-html">(.*?)</div>\s*</li>', page, re.S)
    assert found, "the page shows no HTML body"
    return found[1]


def test_html_mail_is_shown_with_only_harmless_markup(runtime: Runtime, client: FlaskClient) -> None:
    item = _deliver(runtime, HOSTILE)
    page = client.get(f"/items/{item.id}").get_data(as_text=True)
    shown = _mail_html(page)
    assert "<p>Your order <b>4711</b> has shipped.</p>" in shown
    assert "Styled away" in shown and "style=" not in shown
    for gone in ("<script", "alert(", "onerror", "onload", "<svg", "<base", "<meta", "<form", "<iframe"):
        assert gone not in shown.lower(), gone
    assert "evil.example" not in page and "Page title" not in page and "display: none" not in page
    assert '<a target="_blank" rel="noopener noreferrer nofollow">click</a>' in shown
    assert '<a href="https://shop.example/track" target="_blank" rel="noopener noreferrer nofollow">' in shown
    assert 'href="/logout"' not in shown and "data:image" not in shown


def _html_mail(body: str) -> bytes:
    """A mail whose one part is the HTML `body`."""
    return raw_message(
        "From: Mallory <mallory@client.example>",
        "To: sales@office.test",
        "Subject: Your invoice",
        "Message-ID: <html-only@client.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        body,
    )


def test_html_mail_writes_out_what_would_reorder_or_hide_its_text(
    runtime: Runtime, client: FlaskClient
) -> None:
    item = _deliver(
        runtime,
        _html_mail(
            "<p>pay\u202e0001 EUR</p>"
            '<p><a href="https://shop.example/pay" title="x\u202ey">t\u200bext</a> &amp; 1 &lt; <b>2\u2066</b></p>'
            '<img src="cid:scan@client.example" alt="scan\u202efdp.exe">'
            '<p><a href="https://pay\u200bpal.example/">pay here</a></p>'
        ),
    )
    page = client.get(f"/items/{item.id}").get_data(as_text=True)
    shown = _mail_html(page)
    assert "<p>pay[U+202E]0001 EUR</p>" in shown
    link = '<a href="https://shop.example/pay" title="x[U+202E]y" target="_blank" rel="noopener noreferrer nofollow">'
    assert f"<p>{link}t[U+200B]ext</a> &amp; 1 &lt; <b>2[U+2066]</b></p>" in shown
    assert '<img alt="scan[U+202E]fdp.exe">' in shown
    # A link's address hiding a character shows it, and leads to no look-alike host.
    assert '<a href="https://pay[U+200B]pal.example/"' in shown
    for char in ("\u202e", "\u200b", "\u2066"):
        assert char not in page, f"U+{ord(char):04X}"


def test_right_to_left_html_mail_reads_as_written(runtime: Runtime, client: FlaskClient) -> None:
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # the joiner keeps its two halves apart
    hebrew = "\u05e9\u05dc\u05d5\u05dd!\u200f"  # the mark keeps the "!" at the end of the word
    rtl = f'<p dir="rtl" title="{hebrew}">{persian}</p><p lang="he">{hebrew}</p>'
    item = _deliver(runtime, _html_mail(f"{rtl}<p>{persian}\u202e</p>"))
    shown = _mail_html(client.get(f"/items/{item.id}").get_data(as_text=True))
    assert rtl in shown
    assert f"<p>{persian}[U+202E]</p>" in shown  # an override beside them is still written out


def test_remote_images_wait_until_asked_for(runtime: Runtime, client: FlaskClient) -> None:
    item = _deliver(runtime, HOSTILE)
    response = client.get(f"/items/{item.id}")
    page = response.get_data(as_text=True)
    assert "tracker.example" not in page
    assert '<img alt="tracker">' in _mail_html(page)
    assert "1 remote image was not loaded" in page
    assert f'<a href="/items/{item.id}?images=remote">Show remote images</a>' in page
    assert "img-src 'self';" in response.headers["Content-Security-Policy"]

    asked = client.get(f"/items/{item.id}?images=remote")
    shown = _mail_html(asked.get_data(as_text=True))
    assert '<img src="http://tracker.example/pixel.gif" alt="tracker">' in shown
    assert "img-src 'self' https: http:;" in asked.headers["Content-Security-Policy"]
    assert "default-src 'self'" in asked.headers["Content-Security-Policy"]
    assert "Hide remote images" in asked.get_data(as_text=True)
    # Asking changes that one answer only.
    assert "img-src 'self';" in client.get(f"/items/{item.id}").headers["Content-Security-Policy"]


def test_cid_images_are_served_from_the_item_and_only_raster_images_inline(
    runtime: Runtime, client: FlaskClient
) -> None:
    item = _deliver(runtime, HOSTILE)
    ids = _attachment_ids(runtime, item.id)
    shown = _mail_html(client.get(f"/items/{item.id}").get_data(as_text=True))
    logo_url = f"/items/{item.id}/inline/{ids['image/png']}"
    assert f'<img src="{logo_url}" alt="Logo">' in shown
    assert '<img alt="Drawing">' in shown  # an SVG is no picture to show inline

    logo = client.get(logo_url)
    assert (logo.status_code, logo.mimetype, logo.data) == (200, "image/png", PNG)
    assert logo.headers["Content-Disposition"] == "inline"
    assert logo.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(f"/items/{item.id}/inline/{ids['image/svg+xml']}").status_code == 404
    svg = client.get(f"/items/{item.id}/attachments/{ids['image/svg+xml']}")
    assert svg.mimetype == "application/octet-stream"
    assert svg.headers["Content-Disposition"].startswith("attachment; filename=")
    assert svg.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_inline_images_of_another_department_are_not_found(runtime: Runtime, app: Flask) -> None:
    item = _deliver(runtime, HOSTILE)
    ids = _attachment_ids(runtime, item.id)
    staff = office_client(app, runtime.sessions, "bill", role="staff", departments=["billing"])
    assert staff.get(f"/items/{item.id}/inline/{ids['image/png']}").status_code == 404
    assert staff.get(f"/items/{item.id}/attachments/{ids['image/png']}").status_code == 404
    assert staff.get(f"/items/{item.id}/inline/{ids['image/png'] + 100}").status_code == 404


def test_downloads_carry_a_safe_name_in_ascii_and_in_utf8(runtime: Runtime, client: FlaskClient) -> None:
    raw = raw_message(
        "From: ann@client.example",
        "To: sales@office.test",
        "Subject: The offer",
        "Message-ID: <offer@client.example>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b"',
        "",
        "--b",
        "Content-Type: text/plain",
        "",
        "The offer is attached.",
        "--b",
        "Content-Type: application/pdf",
        "Content-Disposition: attachment; filename*=utf-8''Angebot%20f%C3%BCr%20M%C3%BCller%3B%22x%22.pdf",
        "",
        "%PDF-1.4 not really",
        "--b--",
    )
    item = _deliver(runtime, raw)
    served = client.get(
        f"/items/{item.id}/attachments/{_attachment_ids(runtime, item.id)['application/pdf']}"
    )
    assert served.headers["Content-Disposition"] == (
        "attachment; filename=\"Angebot fur Muller_x.pdf\"; filename*=UTF-8''Angebot%20f%C3%BCr%20M%C3%BCller_x.pdf"
    )
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.data == b"%PDF-1.4 not really"


@pytest.mark.parametrize(
    ("stored", "header"),
    [
        ("plan.txt", 'attachment; filename="plan.txt"'),
        ('a"b;c|d.txt', 'attachment; filename="a_b_c_d.txt"'),
        ("..", 'attachment; filename="attachment"'),
        ("日本.pdf", "attachment; filename=\"attachment.pdf\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.pdf"),
        ("invoice\u202efdp.exe", 'attachment; filename="invoicefdp.exe"'),
        ("line\r\nbreak.txt", 'attachment; filename="line__break.txt"'),
    ],
)
def test_a_download_name_cannot_break_out_of_its_header(stored: str, header: str) -> None:
    assert content_disposition(stored) == header


def test_a_plain_mail_is_shown_as_text(runtime: Runtime, client: FlaskClient) -> None:
    item = _deliver(runtime, email_bytes(body="Hello,\r\n<b>not bold</b>\r\n"))
    page = client.get(f"/items/{item.id}").get_data(as_text=True)
    assert '<pre class="text">Hello,\n&lt;b&gt;not bold&lt;/b&gt;</pre>' in page
    assert 'class="mail-html"' not in page and "remote image" not in page


def test_the_conversation_and_the_history_read_in_order(runtime: Runtime, client: FlaskClient) -> None:
    item = _deliver(runtime, email_bytes(message_id="<first@client.example>"))
    reply = raw_message(
        "From: Ann Example <ann@client.example>",
        "To: sales@office.test",
        "Subject: Re: A question about prices",
        "Message-ID: <second@client.example>",
        "In-Reply-To: <first@client.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/html; charset=utf-8",
        "",
        "<p>And the <i>small</i> one?</p><script>alert(1)</script>",
    )
    assert runtime.deliverer.deliver(parse_email(reply)).item_id == item.id
    rita = new_person(runtime.sessions, "rita")
    with transaction(runtime.sessions) as session:
        reroute(session, item.id, rita, "billing", "asks about an invoice")
        add_note(session, item.id, rita, "She wants <b>two</b> copies")
    page = client.get(f"/items/{item.id}").get_data(as_text=True)
    assert "<h2>Conversation</h2>" in page
    first, second = (
        page.index("what does the large one cost?"),
        page.index("<p>And the <i>small</i> one?</p>"),
    )
    assert first < second and "alert(1)" not in page
    history = page[page.index('<section class="history">') :]
    assert history.index("received") < history.index("reply received") < history.index("rerouted")
    assert '· <span class="actor">rita</span> · <strong class="action">rerouted</strong>' in history
    assert "from Sales" in history and "to Billing" in history and "why asks about an invoice" in history
    assert (
        '<strong class="action">note</strong><span class="detail"> · She wants &lt;b&gt;two&lt;/b&gt; copies'
        in history
    )


def test_a_new_due_time_reads_in_the_offices_time_zone(runtime: Runtime, client: FlaskClient) -> None:
    item = _deliver(runtime, email_bytes())
    rita = new_person(runtime.sessions, "rita")
    with transaction(runtime.sessions) as session:
        # 19:00 UTC is 14:00 in the office's New York on 30 November.
        set_due(session, item.id, rita, datetime(2026, 11, 30, 19, 0, tzinfo=UTC))
    page = client.get(f"/items/{item.id}").get_data(as_text=True)
    [line] = re.findall(r'<li>.*<strong class="action">due</strong>.*</li>', page)
    assert line.endswith('<span class="detail"> · by Mon, Nov 30, 2026, 14:00</span></li>')


def test_a_text_merged_into_a_voicemail_is_shown_on_the_voicemails_page(
    runtime: Runtime, client: FlaskClient
) -> None:
    """The voicemail's page shows its own message as the recording and the transcript; the
    caller's text merged into it as the same request has left the queue, so it is read here."""
    call = CallFacts("CA01", "RE01", "https://api.twilio.com/rec/RE01", "+15555550123", "+15555550100")
    transcript = Transcription("TR01", "completed", "The boiler in flat four is leaking.")
    desk = VoicemailDesk(runtime.deliverer, transcribe=True)
    called = desk.record(Voicemail(voicemail(""), call, "RE01.wav"), transcription=transcript).item_id
    texted = runtime.deliverer.deliver(sms("Please call me back after five.")).item_id
    merged = client.post(f"/api/v1/items/{texted}/merge", json={"into": str(called)})
    assert merged.get_json()["status"] == "merged"
    page = client.get(f"/items/{called}").get_data(as_text=True)
    assert "Please call me back after five." in page
    assert page.count("The boiler in flat four is leaking.") == 1  # the transcript, not again below it
    assert "<h3>Conversation</h3>" in page


def test_event_details_read_as_words_and_leave_out_nested_records() -> None:
    names = {"sales": "Sales", "billing": "Billing"}
    received = {"department": "sales", "reason": "sent to sales@", "other_departments": ["billing", "gone"]}
    assert event_details(received, names) == [
        ("to", "Sales"),
        ("also for", "Billing, gone"),
        ("why", "sent to sales@"),
    ]
    reply = {"matcher": "in-reply-to", "message": 7, "outcomes": [{"rule": "x", "matched": True}]}
    assert event_details(reply, names) == [("matched by", "in-reply-to")]
    assert event_details({"reason": {"odd": "shape"}, "note": "", "size": 0, "error": True}, names) == [
        ("bytes", "0")
    ]
    assert event_details({"text": "Call back after 3"}, names) == [("", "Call back after 3")]


def test_the_routing_trace_says_which_lines_are_built_in_steps(runtime: Runtime, client: FlaskClient) -> None:
    item = _deliver(runtime, email_bytes(to="sales@office.test"))
    page = client.get(f"/items/{item.id}").get_data(as_text=True)
    assert (
        '<li class="hit kind-step"><span class="kind">built-in step</span> <strong>recipient</strong> matched: '
        "sent to sales@office.test, which belongs to sales</li>"
    ) in page


def test_a_trace_stored_before_outcomes_had_a_kind_reads_as_the_engine_then_read_it() -> None:
    stored = [
        {"rule": "in-reply-to", "matched": False, "reason": "no In-Reply-To"},
        {"rule": "vip", "matched": True, "reason": "from bigclient.example: priority high"},
        {"rule": "recipient", "matched": True, "reason": "sent to sales@", "kind": "rule"},
        {"rule": "recipient", "matched": False, "reason": "no recipient", "kind": "step"},
    ]
    assert routing_trace(stored) == [
        TraceLine("in-reply-to", OutcomeKind.STEP, False, "no In-Reply-To"),
        TraceLine("vip", OutcomeKind.RULE, True, "from bigclient.example: priority high"),
        TraceLine("recipient", OutcomeKind.RULE, True, "sent to sales@"),
        TraceLine("recipient", OutcomeKind.STEP, False, "no recipient"),
    ]
