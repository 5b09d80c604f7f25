"""The learned suggestion: a naive Bayes text classifier that learns from corrections.

It starts from the config (each department's description and keywords) and grows with
every text a person confirms, such as a receptionist's reroute: `learn()` adds that
text's word counts to the database in the same transaction. The model is only counts,
so learning is incremental and every process reads the same model.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from config.settings import Settings
from routing.store.models import LearnedDepartment, LearnedWord

# A keyword in the config counts as this many sightings of the word.
KEYWORD_WEIGHT = 5
MAX_WORD_LENGTH = 64
# Lidstone smoothing: small, because the seeds are a handful of words per department.
SMOOTHING = 0.1
_WORD = re.compile(r"[^\W\d_]{2,}")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "do",
        "for",
        "from",
        "had",
        "has",
        "have",
        "hello",
        "hi",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "please",
        "regards",
        "so",
        "that",
        "the",
        "their",
        "them",
        "there",
        "this",
        "to",
        "thanks",
        "thank",
        "was",
        "we",
        "were",
        "what",
        "when",
        "which",
        "who",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)


def tokens(text: str) -> list[str]:
    """The words the classifier counts: lower-case, no digits, no common filler."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) <= MAX_WORD_LENGTH]


@dataclass(frozen=True)
class Suggestion:
    department_id: str
    confidence: float


class Classifier:
    """Suggests a department for a text from the config's seeds and the learned counts."""

    def __init__(self, settings: Settings) -> None:
        self.departments = [d.id for d in settings.departments]
        self.seeds: dict[str, Counter[str]] = {}
        for department in settings.departments:
            seed = Counter(tokens(f"{department.name} {department.description}"))
            for keyword in department.keywords:
                seed.update({word: KEYWORD_WEIGHT for word in tokens(keyword)})
            self.seeds[department.id] = seed
        self.seed_vocabulary = set().union(*self.seeds.values())
        self.seed_totals = {d: sum(seed.values()) for d, seed in self.seeds.items()}

    def suggest(self, text: str, session: Session | None = None) -> Suggestion | None:
        """The likeliest department and its probability; None if no word is known."""
        words = tokens(text)
        # Only the message's own words matter: count those, seeds plus what was learned.
        counts = {d: Counter({w: seed[w] for w in words if w in seed}) for d, seed in self.seeds.items()}
        totals = dict(self.seed_totals)
        vocabulary = len(self.seed_vocabulary)
        if session is not None:
            # Seed and learned words overlap a little; counting both barely moves the smoothing.
            vocabulary += _add_learned(session, set(words), counts, totals)
        # A word no department has seen says nothing, but would favour the least-trained one.
        words = [w for w in words if any(w in counts[d] for d in self.departments)]
        if not words:
            return None
        scores = {
            d: sum(math.log((counts[d][w] + SMOOTHING) / (totals[d] + SMOOTHING * vocabulary)) for w in words)
            for d in self.departments
        }
        best = max(scores, key=lambda d: scores[d])
        total = sum(math.exp(score - scores[best]) for score in scores.values())
        return Suggestion(best, 1.0 / total)


def _add_learned(
    session: Session, words: set[str], counts: dict[str, Counter[str]], totals: dict[str, int]
) -> int:
    """Add the database's counts for these words; return the learned vocabulary's size."""
    for department_id, learned in session.execute(
        select(LearnedDepartment.department_id, LearnedDepartment.words)
    ):
        if department_id in totals:
            totals[department_id] += learned
    if words:
        rows = session.execute(select(LearnedWord).where(LearnedWord.word.in_(sorted(words))))
        for (row,) in rows:
            if row.department_id in counts:
                counts[row.department_id][row.word] += row.count
    return session.scalar(select(func.count(func.distinct(LearnedWord.word)))) or 0


def learn(session: Session, text: str, department_id: str) -> None:
    """Count `text` as belonging to `department_id` (a person said so)."""
    counted = Counter(tokens(text))
    _upsert(
        session,
        LearnedDepartment,
        ["department_id"],
        [{"department_id": department_id, "documents": 1, "words": sum(counted.values())}],
    )
    rows = [{"department_id": department_id, "word": w, "count": n} for w, n in sorted(counted.items())]
    if rows:
        _upsert(session, LearnedWord, ["department_id", "word"], rows)


def _upsert(
    session: Session,
    model: type[LearnedWord] | type[LearnedDepartment],
    keys: list[str],
    rows: list[dict[str, object]],
) -> None:
    """Insert rows or add to the counts already there, in one statement."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(model).values(rows)
    table = model.__table__
    added = {
        name: table.c[name] + statement.excluded[name]
        for name in ("count", "documents", "words")
        if name in table.c
    }
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=added))
