"""The learned suggestion: naive Bayes over the new words' terms, which corrections never make worse.

A message's lesson (routing.lessons) is its new words as terms, each text weighing
one in all however long it is, what it thanks for or wishes less than what it asks, and
its sender. The config seeds each department (routing.seeds: its name, description and
keywords) and keeps at least SEED_FLOOR of the say however many corrections pile up, so a
few long emails never drown it. A term every department uses says nothing and weighs
nothing. The sender counts apart from the words (routing.senders), and so do the words by
which a writer says who they are (a department's `writers`: "owner", "proprietar"). The
confidence is the posterior with the evidence scaled so that, on the project's labelled
set, 0.9 is right about nine times in ten.

The model is weights in the database: `learn()` adds a lesson in the transaction of
the correction, and every process reads it at the next message.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import (
    JSON,
    String,
    and_,
    any_,
    bindparam,
    delete,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from config.settings import Settings
from routing.lessons import Lesson
from routing.normalize import normalizer_for
from routing.seeds import ConfigSeeds
from routing.senders import UNKNOWN, SenderEvidence, judge
from routing.store.models import Base, LearnedDepartment, LearnedWord
from routing.undecided import RESTING_ON, named_words, resting_on

# Smoothing of unseen terms, in weight per term (a text weighs 1 in all).
SMOOTHING = 0.001
# The seeds' share of a department's model: SEED_DOCUMENTS / (that + corrections), never below the floor.
SEED_DOCUMENTS = 10.0
SEED_FLOOR = 0.3
# How many corrections' worth of the estimate of all corrections together a department starts from.
POOLED_DOCUMENTS = 3.0
# Scales the words' evidence and the sender's into a posterior that means what it says (module doc).
# A message's words weigh as much as FULL_EVIDENCE_TERMS distinct terms at most: one
# word is weak evidence, a long email no stronger than a few sentences.
EVIDENCE = 2.5
FULL_EVIDENCE_TERMS = 8
SENDER_EVIDENCE = 2.5
# A sender the config names is the office's own word: who writes decides before what they mention.
CONFIGURED_SENDER_EVIDENCE = 15.0
# A writer naming themselves as one department's ("sunt proprietarul", "Owner, Republicii 7"),
# in the new text or its signature, says who writes, and decides before what they mention:
# at the config's senders' 15, an owner's signature under four sentences about the rent his
# tenant paid still read as accounting's.
WRITER_EVIDENCE = 25.0
ADDRESS_EVIDENCE = 1.5
REPLY_ADDRESS_EVIDENCE = 0.5
SHOWN_TERMS = 3
# The words an office's corrections bring, for smoothing: a fixed guess rather than a
# count of the table at every message, which would cost more than the rest of routing.
LEARNED_VOCABULARY = 1000
DOMAIN = "domain:"
# A term learned from a few texts may be their writers' street, name or greeting (two
# tenants of one building name its street), or the talk of the few messages corrected so
# far (`January`, `send`): it counts from its eighth text on in a department, a word of
# the config too. From the third, as before, a third of the project's labelled set taught
# made the routing worse at two seeds of three and 70% taught by six points; from the
# eighth, no share from 10% to 70% at any seed tried is worse after the corrections, and
# a tenth taught routes as before (docs/routing.md). The sender counts at once.
MIN_SIGHTINGS = 8


@dataclass(frozen=True)
class Suggestion:
    department_id: str
    confidence: float
    # What spoke for it, as a person can check: words as written, then the sender.
    evidence: tuple[str, ...] = ()
    # How many of the text's terms spoke for it over every other department, and
    # whether the sender spoke for it too.
    terms: int = 0
    sender_agrees: bool = False
    # How many of those terms are keywords the config gives the department.
    keywords: int = 0
    # The writer named themselves as one of the department's writers.
    writer_agrees: bool = False
    # The words that read as another department's weigh as much as those that read as this one's.
    contested: bool = False

    @property
    def well_founded(self) -> bool:
        """Whether there is more to go on than one word that is not the department's keyword:
        more words for it, the sender, the writer, or a keyword the config gives it. A
        word of its name or description alone ("Not for sales", a flat's `Wohnung` in a
        call about the deposit) may route nothing, nor outweigh the address the sender chose."""
        if self.sender_agrees or self.writer_agrees:
            return True
        return not self.contested and (self.terms >= 2 or self.keywords >= 1)

    def too_little(self) -> str:
        """What the suggestion rests on when it is not well founded, as a person reads it:
        its posterior is no measure then (one word known to one department alone reads as
        100%), so the words are named instead."""
        return RESTING_ON[resting_on(self.contested)] + named_words(self.evidence)

    def describe(self) -> str:
        said = f"{self.department_id} ({self.confidence:.2f})"
        return f"learned: {', '.join(self.evidence)} -> {said}" if self.evidence else f"learned: {said}"


def _counted(lesson: Lesson, weights: dict[str, float]) -> float:
    """How many words of the new text the known terms are worth: one each, a term only
    an old subject has less (so a reply under `Re: rent payment` is not sure of rent)."""
    fresh = max(lesson.terms.values(), default=0.0)
    return sum(lesson.terms[term] for term in weights) / fresh if fresh else 0.0


class Classifier:
    """Suggests a department from the config's seeds and the corrections in the database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.departments = [d.id for d in settings.departments]
        seeds = ConfigSeeds(settings, normalizer_for(settings.languages))
        self.keywords, self.filler, self.seeds = seeds.keywords, seeds.filler, seeds.seeds
        self.seed_vocabulary, self.writers = seeds.vocabulary, seeds.writers

    def read(self, lesson: Lesson, session: Session | None) -> Learned:
        """What the database knows of the lesson's terms and sender (nothing without a session)."""
        return self.read_all([lesson], session)[0]

    def read_all(self, lessons: Sequence[Lesson], session: Session | None) -> list[Learned]:
        """read() for each lesson, from one look-up of all their terms and senders: what
        one lesson is told of another's words is never asked of it."""
        known = Learned.load(session, lessons) if session is not None else Learned()
        return [
            replace(known, sender=judge(lesson.sender, self.settings, known.senders)) for lesson in lessons
        ]

    def suggest(
        self, lesson: Lesson, learned: Learned, addressed: str | None = None, *, reply: bool = False
    ) -> Suggestion | None:
        """The likeliest department, its confidence and why; None when nothing is known.

        `addressed` is the department whose address or number the message was sent to;
        `reply` says the message answers an earlier one, so that address says less.
        """
        sender = learned.sender
        weights = self._weights(lesson, learned)
        writer = self._writer(lesson)
        if not weights and sender.department_id is None and writer is None:
            return None
        # log P(term | department), worked out once for the score and the explanation.
        logs = self._logs(weights, learned)
        strength = EVIDENCE * min(_counted(lesson, weights), FULL_EVIDENCE_TERMS)
        scores = {d: strength * sum(w * logs[d][t] for t, w in weights.items()) for d in self.departments}
        if sender.department_id in scores:
            scores[sender.department_id] += (
                CONFIGURED_SENDER_EVIDENCE if sender.configured else SENDER_EVIDENCE
            )
        if writer is not None:
            scores[writer[0]] += WRITER_EVIDENCE
        if addressed in scores:
            scores[addressed] += REPLY_ADDRESS_EVIDENCE if reply else ADDRESS_EVIDENCE
        best = max(scores, key=lambda d: scores[d])
        confidence = 1.0 / sum(math.exp(score - scores[best]) for score in scores.values())
        speaking = self._speaking(best, weights, logs)
        evidence = self._evidence(best, lesson, speaking, sender)
        if writer is not None and writer[0] == best:
            evidence += (f"writes as {writer[1]}",)
        keywords = len(self.keywords[best].intersection(weights))
        agrees = sender.department_id == best
        return Suggestion(
            best,
            confidence,
            evidence,
            len(speaking),
            agrees,
            keywords,
            writer is not None and writer[0] == best,
            self._contested(best, speaking, weights, logs),
        )

    def _contested(
        self, best: str, speaking: list[str], weights: dict[str, float], logs: dict[str, dict[str, float]]
    ) -> bool:
        """Whether one word of the config reads as `best`'s (of the `speaking` terms) and
        another department has one that weighs as much (each word given to the department it
        reads likeliest for): one word against one is a toss-up, whichever department's
        list is the shorter."""
        ours = [term for term in speaking if term in self.seed_vocabulary]
        if len(ours) != 1:  # most messages: worked out without reading the others' words
            return False
        said: dict[str, float] = defaultdict(float)
        for term, weight in weights.items():
            if term in self.seed_vocabulary and term not in speaking:
                said[max(self.departments, key=lambda d: logs[d][term])] += weight
        return any(weight >= weights[ours[0]] for weight in said.values())

    def _writer(self, lesson: Lesson) -> tuple[str, str] | None:
        """The first department whose writer word or phrase the new text's opening
        sentences or its signature have (its terms together, in any form), with that word as
        written; None when the writer says nothing of who they are."""
        for department_id, terms in self.writers:
            if lesson.signs_as(terms):
                return department_id, " ".join(lesson.words.get(term, term) for term in terms)
        return None

    def _weights(self, lesson: Lesson, learned: Learned) -> dict[str, float]:
        """The lesson's terms that some but not every department knows, weighted by rarity."""
        count = len(self.departments)
        weights = {}
        for term, weight in lesson.terms.items():
            if term in self.filler:
                continue
            known = sum(1 for d in self.departments if term in self.seeds[d] or learned.words[d].get(term))
            if 0 < known < count:
                weights[term] = weight * math.log((1 + count) / (1 + known))
        total = sum(weights.values())
        return {t: w / total for t, w in weights.items()} if total else {}

    def _logs(self, terms: Iterable[str], learned: Learned) -> dict[str, dict[str, float]]:
        """log P(term | department): the seeds' estimate mixed with the corrections'.

        The seeds' share is the same for every department, from the corrections per
        department, and never below its floor: were it each department's own, correcting
        a message into one would thin out that department's seeds and send the next
        messages elsewhere. A department with few corrections borrows the estimate of all
        corrections for common talk (`_shared`), so that a greeting taught to two
        departments says nothing against the other four.
        """
        vocabulary = len(self.seed_vocabulary) + LEARNED_VOCABULARY
        everywhere = sum(learned.documents.values())
        share = max(SEED_FLOOR, SEED_DOCUMENTS / (SEED_DOCUMENTS + everywhere / len(self.departments)))
        logs: dict[str, dict[str, float]] = {d: {} for d in self.departments}
        for term in terms:
            pooled = (self._shared(term, learned) + SMOOTHING) / (everywhere + SMOOTHING * vocabulary)
            for department in self.departments:
                seeded = (self.seeds[department].get(term, 0.0) + SMOOTHING) / (1.0 + SMOOTHING * vocabulary)
                documents = learned.documents.get(department, 0.0)
                taught = (learned.words[department].get(term, 0.0) + POOLED_DOCUMENTS * pooled) / (
                    documents + POOLED_DOCUMENTS
                )
                logs[department][term] = math.log(share * seeded + (1.0 - share) * taught)
        return logs

    def _shared(self, term: str, learned: Learned) -> float:
        """The corrections' weight of a word several departments were taught and the config
        does not name: common talk, which departments without corrections borrow. A word
        one department alone was taught is its evidence, and lent to none."""
        weights = [w[term] for w in learned.words.values() if term in w]
        return sum(weights) if len(weights) > 1 and term not in self.seed_vocabulary else 0.0

    def _speaking(self, best: str, weights: dict[str, float], logs: dict[str, dict[str, float]]) -> list[str]:
        """The terms that speak for `best` over every other department, the strongest first.
        Only they found a suggestion: a word that other departments know as well is no
        second word for it (a correction teaching `konto` elsewhere makes a call about
        the deposit that names a `Wohnung` no surer of leasing)."""
        others = [d for d in self.departments if d != best]
        lead = {t: w * (logs[best][t] - max(logs[d][t] for d in others)) for t, w in weights.items()}
        return sorted((t for t in weights if lead[t] > 0), key=lambda t: lead[t], reverse=True)

    def _evidence(
        self, best: str, lesson: Lesson, speaking: list[str], sender: SenderEvidence
    ) -> tuple[str, ...]:
        """The words that spoke most for `best` over the runner-up departments, then the sender."""
        shown = [lesson.words.get(t, t) for t in speaking[:SHOWN_TERMS]]
        if sender.department_id == best:
            shown.append(sender.reason)
        return tuple(shown)


@dataclass
class Learned:
    """The part of the database's model that one message needs, and what it says of the sender."""

    words: defaultdict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    # Sender features (this sender's, and every learned domain) -> department -> weight.
    senders: dict[str, dict[str, float]] = field(default_factory=dict)
    documents: dict[str, float] = field(default_factory=dict)
    sender: SenderEvidence = UNKNOWN

    @classmethod
    def load(cls, session: Session, lessons: Sequence[Lesson]) -> Learned:
        """What was learned of the lessons' terms (each from its MIN_SIGHTINGS-th text) and senders."""
        learned = cls()
        wanted = sorted({word for lesson in lessons for word in (*lesson.terms, *lesson.senders)})
        statement = _LEARNED[session.get_bind().dialect.name]
        # All rows at once: read one by one, each is a call into the driver (with a hundred
        # rows a message, a tenth of the time or more).
        for department_id, word, weight, documents in session.execute(statement, {"words": wanted}).all():
            if word is None:  # the department's own row: how many corrections it had
                learned.documents[department_id] = float(documents)
            elif word.startswith(("from:", DOMAIN)):
                learned.senders.setdefault(word, {})[department_id] = weight
            elif documents >= MIN_SIGHTINGS:
                learned.words[department_id][word] = weight
        return learned


# What Learned.load reads, built once over the tables, as plain rows in one statement
# (this runs for every message): each department's corrections, as rows with no word,
# then the learned words the message has. The message's words are one value, a JSON
# array on SQLite and an array on PostgreSQL, rather than one value each: the statement
# is then the same for every message, and is neither written out anew for each (which
# took a sixth of the time on SQLite) nor planned anew by PostgreSQL, which prepares it.
_DEPARTMENTS = LearnedDepartment.__table__
_WORDS = LearnedWord.__table__
_WANTED = {
    "sqlite": _WORDS.c.word.in_(
        select(literal_column("value")).select_from(func.json_each(bindparam("words", type_=JSON)))
    ),
    "postgresql": _WORDS.c.word == any_(bindparam("words", type_=postgresql.ARRAY(String))),
}
_LEARNED = {
    dialect: union_all(
        select(
            _DEPARTMENTS.c.department_id,
            null().label("word"),
            null().label("weight"),
            _DEPARTMENTS.c.documents,
        ),
        select(_WORDS.c.department_id, _WORDS.c.word, _WORDS.c.weight, _WORDS.c.documents).where(
            or_(
                wanted,
                # Every learned domain, for the lookalike check: a range the word index answers.
                and_(_WORDS.c.word >= DOMAIN, _WORDS.c.word < DOMAIN[:-1] + ";"),
            )
        ),
    )
    for dialect, wanted in _WANTED.items()
}


def learn(session: Session, lesson: Lesson, department_id: str) -> None:
    """Count the lesson as belonging to `department_id` (a person said so)."""
    _upsert(session, LearnedDepartment, ["department_id"], [{"department_id": department_id, "documents": 1}])
    weights = {**lesson.terms, **dict.fromkeys(lesson.senders, 1.0)}
    rows = [
        {"department_id": department_id, "word": w, "weight": n, "documents": 1}
        for w, n in sorted(weights.items())
    ]
    if rows:
        _upsert(session, LearnedWord, ["department_id", "word"], rows)


def _upsert(
    session: Session,
    model: type[LearnedWord] | type[LearnedDepartment],
    keys: list[str],
    rows: list[dict[str, object]],
) -> None:
    """Insert rows or add to the weights already there, in one statement."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(model).values(rows)
    table = model.__table__
    added = {
        name: table.c[name] + statement.excluded[name] for name in ("weight", "documents") if name in table.c
    }
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=added))


def unlearn(session: Session, lesson: Lesson, department_id: str) -> None:
    """Take back a lesson learned for `department_id` (its text was erased): each term and
    sender weighs and counts less by what the lesson added, and what is left at no
    text at all is deleted, so that nothing of the text stays in the model."""
    weights = {**lesson.terms, **dict.fromkeys(lesson.senders, 1.0)}
    taught = Base.metadata.tables[LearnedWord.__tablename__]
    if weights:
        rows = [{"w": word, "n": weight} for word, weight in sorted(weights.items())]
        session.execute(
            update(taught)
            .where(taught.c.department_id == department_id, taught.c.word == bindparam("w"))
            .values(weight=taught.c.weight - bindparam("n"), documents=taught.c.documents - 1),
            rows,
        )
        session.execute(
            delete(LearnedWord).where(
                LearnedWord.department_id == department_id,
                LearnedWord.word.in_(sorted(weights)),
                LearnedWord.documents <= 0,
            )
        )
    session.execute(
        update(LearnedDepartment)
        .where(LearnedDepartment.department_id == department_id, LearnedDepartment.documents > 0)
        .values(documents=LearnedDepartment.documents - 1)
    )
