"""How often each rule matched: read from the routing trace stored on every item."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from routing.store.models import Item

BATCH = 1000  # rows read at a time, so a busy month is counted in bounded memory


def rule_hits(session: Session, since: datetime) -> Counter[str]:
    """Per rule name, the items received since `since` that it matched (built-in steps left out)."""
    hits: Counter[str] = Counter()
    query = select(Item.routing_hits).where(Item.received_at >= since).execution_options(yield_per=BATCH)
    for trace in session.scalars(query):
        hits.update(
            {
                str(line.get("rule"))
                for line in trace or []
                if isinstance(line, dict) and line.get("matched") and line.get("kind", "rule") == "rule"
            }
        )
    return hits
