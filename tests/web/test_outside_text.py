"""Text from outside as the receptionist reads it: on the pages, in a download's name and in
a person's export. Each field a sender controls (their name and address, a subject, the
text, a file name, a text's or a caller's number, a transcript, a contact's name) carries
every bidi control and invisible character; none may reorder or hide what is shown, each
field keeps to itself (<bdi>), lists stay short, and Arabic, Hebrew and Persian still read
right. Items are delivered through the office's deliver(), on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from intake.cli.runtime import Runtime
from routing.message import Attachment, InboundMessage
from routing.store.database import transaction
from routing.store.models import Item, VoiceCall
from tests.support.people import office_client
from web.display import FIRST_LINE, NAME_IN_LIST
from web.files import content_disposition

# Embeddings, overrides and isolates: they reorder whatever follows them.
BIDI_CONTROLS = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
# Marks: right-to-left writers place punctuation with them; in words they stay.
BIDI_MARKS = ["\u200e", "\u200f", "\u061c"]
# Characters that show nothing: zero-width ones, the joiners, the soft hyphen, tags.
INVISIBLE = [
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    *map(chr, (0xE0001, 0xE0041, 0xE007F)),
]
EVERY = BIDI_CONTROLS + BIDI_MARKS + INVISIBLE
CONTROLS = ["\r", "\n", "\t", "\x1b", "\x7f"]
# Each character between two ASCII letters, where none of them belongs.
LACED = "".join(f"x{char}" for char in EVERY) + "x"
PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "I want": the joiner keeps its two halves apart, as Persian writes it
HEBREW = "שלום!\u200f"  # the mark keeps the "!" at the end of the Hebrew word
NAME = f"Bank{LACED * 2}"
SUBJECT = f"Payment{LACED * 3}"


def written(char: str) -> str:
    return f"[U+{ord(char):04X}]"


def shown(text: str, strict: bool) -> str:
    """`text` as a page must show it: in names of things (strict) every such character
    written out, in words all but the bidi marks."""
    return "".join(written(c) if c in EVERY and (strict or c not in BIDI_MARKS) else c for c in text)


def _deliver(runtime: Runtime, channel: str = "email", **fields: object) -> int:
    values: dict[str, object] = {
        "channel": channel,
        "sender": "mallory@client.example",
        "recipients": ("sales@office.test",),
        "subject": "An order",
        "text": "Hello",
        "idempotency_key": hashlib.sha256(repr(fields).encode()).hexdigest(),
        "received_at": datetime.now(UTC),
        "raw": repr(fields).encode(),
        "raw_content_type": "message/rfc822",
        **fields,
    }
    return runtime.deliverer.deliver(InboundMessage(**values)).item_id  # type: ignore[arg-type]


def _page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


@pytest.fixture
def laced(runtime: Runtime) -> int:
    """An email whose every field from outside is laced with each character."""
    return _deliver(
        runtime,
        sender_name=NAME,
        subject=SUBJECT,
        text=f"Pay to{LACED}\nsecond line",
        attachments=(Attachment(f"invoice{LACED}.pdf", "application/pdf", b"%PDF"),),
    )


def _no_hidden_characters(page: str) -> None:
    hidden = [f"U+{ord(c):04X}" for c in BIDI_CONTROLS + INVISIBLE if c in page]
    assert not hidden, f"shown as they are: {hidden}"


def test_the_item_page_writes_out_what_would_reorder_or_hide_text(
    runtime: Runtime, client: FlaskClient, laced: int
) -> None:
    page = _page(client, f"/items/{laced}")
    _no_hidden_characters(page)
    assert f"<h1><bdi>{escape(shown(SUBJECT, strict=False))}</bdi></h1>" in page
    name = escape(shown(NAME, strict=False))
    assert f"<dd><bdi>{name}</bdi> &lt;<bdi>mallory@client.example</bdi>&gt;</dd>" in page
    assert f'<pre class="text">{escape(shown(f"Pay to{LACED}", strict=False))}\nsecond line</pre>' in page
    assert f">{escape(shown(f'invoice{LACED}.pdf', strict=True))}</bdi></a>" in page
    title = page[page.index("<title>") : page.index("</title>")]
    assert shown(SUBJECT, strict=False)[:100] in title and "<bdi>" not in title


def test_the_queue_and_the_front_desk_show_each_field_apart(
    runtime: Runtime, client: FlaskClient, laced: int
) -> None:
    for path in ("/departments/sales", "/"):
        page = _page(client, path)
        _no_hidden_characters(page)
    row = _page(client, "/departments/sales")
    # Cut to a list's length, then written out.
    assert f"<bdi>{escape(shown(NAME[:NAME_IN_LIST], strict=False))}…</bdi>" in row
    assert '<span class="address"><bdi>mallory@client.example</bdi></span>' in row
    assert f"<bdi>{escape(shown(SUBJECT[:FIRST_LINE], strict=False))}…</bdi>" in row


def test_a_file_name_and_a_number_show_every_such_character(runtime: Runtime, client: FlaskClient) -> None:
    for char in EVERY:
        item_id = _deliver(
            runtime,
            channel="sms",
            sender=f"+1555{char}0100",
            recipients=("+15555550101",),
            subject="",
            attachments=(Attachment(f"photo{char}gpj.exe", "image/jpeg", b"\xff\xd8"),),
        )
        page = _page(client, f"/items/{item_id}")
        if char not in BIDI_MARKS:  # a mark may stay in words: the routing's reason quoting the number
            assert char not in page, written(char)
        assert f"<bdi>photo{written(char)}gpj.exe</bdi></a>" in page
        assert f"<bdi>+1555{written(char)}0100</bdi>" in page


def test_a_voicemail_shows_its_caller_and_transcript_unreordered(
    runtime: Runtime, client: FlaskClient
) -> None:
    for char in BIDI_CONTROLS + INVISIBLE:
        item_id = _deliver(
            runtime, channel="voicemail", sender=f"+1555000{ord(char)}", recipients=("+15555550101",)
        )
        with transaction(runtime.sessions) as session:
            session.add(
                VoiceCall(
                    item_id=item_id,
                    call_sid=f"CA{ord(char):x}",
                    caller=f"+1555{char}0100",
                    called="+15555550101",
                    transcript_status="completed",
                    transcript=f"Please pay to account 12{char}34",
                )
            )
        page = _page(client, f"/items/{item_id}")
        assert char not in page, written(char)
        assert f"<dd><bdi>+1555{written(char)}0100</bdi></dd>" in page
        assert f'<p class="transcript">Please pay to account 12{written(char)}34</p>' in page


def test_arabic_hebrew_and_persian_names_read_as_written(runtime: Runtime, client: FlaskClient) -> None:
    item_id = _deliver(runtime, sender_name=PERSIAN, subject=HEBREW, text=f"{PERSIAN}\n{HEBREW}")
    page = _page(client, f"/items/{item_id}")
    assert f"<h1><bdi>{HEBREW}</bdi></h1>" in page
    assert f"<dd><bdi>{PERSIAN}</bdi> &lt;<bdi>mallory@client.example</bdi>&gt;</dd>" in page
    assert f'<pre class="text">{PERSIAN}\n{HEBREW}</pre>' in page
    row = _page(client, "/departments/sales")
    assert f"<bdi>{PERSIAN}</bdi>" in row and f"<bdi>{HEBREW}</bdi>" in row


@pytest.mark.parametrize(
    "name",
    ["Intake <alerts@office.test>", "Front desk", "reception@office.test", "Sales"],
)
def test_a_name_that_imitates_the_office_shows_where_it_came_from(
    runtime: Runtime, client: FlaskClient, name: str
) -> None:
    _deliver(runtime, sender_name=name)
    row = _page(client, "/departments/sales")
    assert f'<bdi>{escape(name)}</bdi> <span class="address"><bdi>mallory@client.example</bdi></span>' in row


def test_a_subject_of_many_lines_and_marks_stays_on_its_line(runtime: Runtime, client: FlaskClient) -> None:
    zalgo = "Z" + "\u0301\u0302\u0303" * 30 + "algo"
    _deliver(runtime, subject="line one\nline two\r\n" + "x" * 10_000, sender_name=zalgo)
    row = _page(client, "/departments/sales")
    assert f"<bdi>{'line one line two ' + 'x' * (FIRST_LINE - 18)}…</bdi>" in row
    assert "x" * (FIRST_LINE + 1) not in row
    assert "<bdi>Z\u0301\u0302\u0303algo</bdi>" in row


@pytest.mark.parametrize(
    ("stored", "saved"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ann\\invoice.pdf", "invoice.pdf"),
        ("invoice.pdf.exe", "invoice_pdf.exe"),
        ("invoice.jpg" + " " * 300 + ".exe", "invoice_jpg .exe"),
        ("invoice.jpg" + "_" * 300 + ".exe", "invoice_jpg" + "_" * 185 + ".exe"),
        *((f"invoice{char}gpj.exe", "invoicegpj.exe") for char in EVERY),
        *((f"report{char}2024.pdf", "report_2024.pdf") for char in CONTROLS),
    ],
)
def test_a_downloaded_file_is_saved_under_its_own_extension_only(stored: str, saved: str) -> None:
    header = content_disposition(stored)
    assert header.startswith(f'attachment; filename="{saved}"')
    for char in EVERY + CONTROLS:
        assert char not in header and quote(char) not in header


@pytest.fixture
def admin(app: Flask, runtime: Runtime) -> Iterator[FlaskClient]:
    with office_client(app, runtime.sessions, name="ada", role="admin") as signed_in:
        yield signed_in


def test_the_persons_export_shows_hidden_characters_as_escapes(
    runtime: Runtime, admin: FlaskClient, laced: int
) -> None:
    with transaction(runtime.sessions, write=False) as session:
        contact_id = session.get_one(Item, laced).contact_id
    response = admin.get(f"/contacts/{contact_id}/export")
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    [attachment] = [name for name in archive.namelist() if "/attachments/" in name]
    assert attachment.endswith(f"-invoice{'x' * (LACED.count('x'))}.pdf")
    document = archive.read("contact.json").decode()
    _no_hidden_characters(document)
    for char in BIDI_CONTROLS + INVISIBLE:
        assert json.dumps(char)[1:-1] in document  # \u202e: the same string to a program
    [item] = json.loads(document)["items"]
    assert (item["sender_name"], item["subject"]) == (NAME, SUBJECT)
