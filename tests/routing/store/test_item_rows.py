"""The rows every message writes, a batch's at once: raw bytes and attachments as blobs."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from config.settings import DatabaseSettings
from routing.store import item_rows
from routing.store.database import make_engine, make_session_factory, transaction
from routing.store.models import Blob


def test_each_content_gets_the_id_of_a_blob_holding_it_equal_contents_included(database_url: str) -> None:
    sessions = make_session_factory(make_engine(DatabaseSettings(url=database_url)))
    contents = [b"first", b"second", b"first", b"", b"third", b"second", b"first"]
    with transaction(sessions) as session:
        blob_ids = item_rows.insert_blobs(session, contents)
    with transaction(sessions, write=False) as session:
        stored = {row.id: row.content for row in session.execute(select(Blob.id, Blob.content))}
    assert [stored[blob_id] for blob_id in blob_ids] == contents
    assert len(set(blob_ids)) == len(contents)  # a blob a content, equal ones too


def test_contents_past_a_statement_s_bytes_take_several_statements_in_order(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(item_rows, "BLOB_BYTES_PER_STATEMENT", 100)
    sessions = make_session_factory(make_engine(DatabaseSettings(url=database_url)))
    contents = [bytes([n % 7]) * (n % 7 * 20) for n in range(40)]  # equal ones in each statement and across
    with transaction(sessions) as session:
        blob_ids = item_rows.insert_blobs(session, contents)
    with transaction(sessions, write=False) as session:
        stored = {row.id: row.content for row in session.execute(select(Blob.id, Blob.content))}
    assert [stored[blob_id] for blob_id in blob_ids] == contents
