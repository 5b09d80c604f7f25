"""Durations are real elapsed time, whatever the office's clocks do: the conversation window
and retention across each daylight-saving change (tests/support/office_time.py)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from config.settings import RetentionSettings, Settings
from intake.cli.runtime import open_runtime
from intake.phone.sms import parse_message
from routing.contacts.retention import purge
from routing.message import InboundMessage
from routing.store.database import transaction
from routing.store.models import Item
from tests.support.office_time import MINUTE, OFFICE_ZONE, changes


def _text(sid: str, at: datetime) -> InboundMessage:
    form = {
        "MessageSid": sid,
        "AccountSid": "AC1",
        "From": "+15551234567",
        "To": "+15555550101",
        "Body": "Hi",
    }
    return parse_message(form, urlencode(form).encode(), at).message


@pytest.mark.parametrize("name", [OFFICE_ZONE, "Australia/Sydney"])
def test_the_conversation_window_and_retention_count_real_hours(settings: Settings, name: str) -> None:
    zone = ZoneInfo(name)
    opened = open_runtime(dataclasses.replace(settings, timezone=zone))
    window = timedelta(hours=opened.settings.routing.conversation_window_hours)
    kept = RetentionSettings(resolved_days=365, spam_days=30)
    try:
        for number, change in enumerate(changes(zone)):
            # Sent an hour before the clocks change: the window and the retention span it.
            first = opened.deliverer.deliver(_text(f"SM{number}a", change.at - timedelta(hours=1)))
            inside = opened.deliverer.deliver(
                _text(f"SM{number}b", change.at - timedelta(hours=1) + window - MINUTE)
            )
            assert inside.joined and inside.item_id == first.item_id, change
            with transaction(opened.sessions) as session:
                session.execute(update(Item).where(Item.id == first.item_id).values(status="resolved"))
            later = opened.deliverer.deliver(
                _text(f"SM{number}c", change.at - timedelta(hours=1) + window + MINUTE)
            )
            assert not later.joined, change
            with transaction(opened.sessions) as session:
                session.execute(update(Item).where(Item.id == later.item_id).values(spam=True))
            received = change.at - timedelta(hours=1) + window + MINUTE
            purge(opened.sessions, kept, received + timedelta(days=30) - MINUTE)
            with opened.sessions() as session:
                assert session.scalar(select(Item.id).where(Item.id == later.item_id)) == later.item_id
            purge(opened.sessions, kept, received + timedelta(days=30) + MINUTE)
            with opened.sessions() as session:
                assert session.scalar(select(Item.id).where(Item.id == later.item_id)) is None
    finally:
        opened.engine.dispose()
