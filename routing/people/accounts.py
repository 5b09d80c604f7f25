"""People and their access: users with roles and departments, API tokens, the first admin.

Passwords are hashed with werkzeug's scrypt; API tokens are random and only their
SHA-256 is kept. The web reads a signed-in user as a `Person`, detached from any session.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

from config.languages import PAGE_LANGUAGES
from routing.store.database import transaction
from routing.store.models import (
    MAX_ID,
    AdminEvent,
    ApiToken,
    Department,
    LoginAttempt,
    Membership,
    User,
    WebSecret,
    utcnow,
)

ROLES = ("admin", "receptionist", "staff")
EVERY_QUEUE = ("admin", "receptionist")
MIN_PASSWORD_LENGTH = 10
FIRST_ADMIN = "admin"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# Checked when the name is unknown, so that a wrong name takes as long as a wrong password.
_UNKNOWN_USER_HASH = generate_password_hash(secrets.token_hex(16))


class PeopleError(ValueError):
    """A user or token request that cannot be done; the message says why."""


@dataclass(frozen=True)
class Person:
    """Who is asking, and which queues they may see."""

    id: int
    name: str
    role: str
    departments: frozenset[str]
    # Changes with the password and at sign-out, ending the sessions signed in before.
    stamp: str
    # The pages' language they chose, or None for the office's.
    language: str | None = None

    @property
    def sees_every_queue(self) -> bool:
        return self.role in EVERY_QUEUE

    def may_see(self, department_id: str) -> bool:
        return self.sees_every_queue or department_id in self.departments


def person_of(user: User) -> Person:
    return _person(user, (m.department_id for m in user.memberships))


def _person(user: User, departments: Iterable[str]) -> Person:
    stamp = hashlib.sha256(f"{user.password_hash}\0{user.session_epoch}".encode()).hexdigest()[:16]
    return Person(user.id, user.name, user.role, frozenset(departments), stamp, user.language)


def add_user(session: Session, name: str, role: str, password: str, departments: Iterable[str] = ()) -> User:
    chosen = check_new_user(session, name, role, departments)
    user = User(name=name, role=role, password_hash=_hash(password))
    user.memberships = [Membership(department_id=d) for d in chosen]
    session.add(user)
    try:
        session.flush()
    except IntegrityError:  # added elsewhere since the check: the name's unique index says so
        raise PeopleError(f"there is already a user {name!r}") from None
    return user


def check_new_user(session: Session, name: str, role: str, departments: Iterable[str]) -> list[str]:
    """Refuse a user that could not be added, before anyone types a password for them;
    the departments they would work in."""
    if not _NAME.fullmatch(name):  # fullmatch: "$" would let a trailing line break through
        raise PeopleError(f"{name!r} is not a user name: lower-case letters, digits, '.', '_' or '-'")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise PeopleError(f"there is already a user {name!r}")
    return _role_departments(session, role, departments)


def set_role(session: Session, name: str, role: str, departments: Iterable[str] = ()) -> User:
    """Give a user another role, or staff other departments; seen from their next request.
    The last active admin keeps the role."""
    if role != "admin":
        keep_an_admin(session, name)
    user = find_user(session, name)
    chosen = _role_departments(session, role, departments)
    user.role = role
    user.memberships = [Membership(department_id=d) for d in chosen]
    session.flush()
    return user


def _role_departments(session: Session, role: str, departments: Iterable[str]) -> list[str]:
    """The departments a user of `role` works in: staff name at least one, others none."""
    if role not in ROLES:
        raise PeopleError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    chosen = sorted(set(departments))
    if role == "staff" and not chosen:
        raise PeopleError("staff see their departments only: name at least one with --department")
    if role != "staff" and chosen:
        raise PeopleError(f"{role} sees every queue: --department is for staff only")
    _check_departments(session, chosen)
    return chosen


def keep_an_admin(session: Session, name: str) -> None:
    """Refuse to take the admin role, or the right to sign in, from the last active admin:
    nobody could then manage people and access on the admin pages."""
    user = find_user(session, name)
    if user.role != "admin" or not user.active:
        return
    # The active admins' rows stay locked until the change commits: two admins disabling
    # each other at once would otherwise each see the other active, and leave none.
    admins = select(User.id).where(User.role == "admin", User.active).order_by(User.id).with_for_update()
    if list(session.scalars(admins)) == [user.id]:
        raise PeopleError(f"{name!r} is the last active admin: make another user an admin first")


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def disable_user(session: Session, name: str) -> None:
    """Ends the user's sessions and tokens; their name stays on what they did. The last
    active admin is kept, on the admin pages and on the command line alike."""
    keep_an_admin(session, name)
    find_user(session, name).active = False


def enable_user(session: Session, name: str) -> None:
    """Let a disabled user sign in again with their password. What the disable ended stays
    ended: the sessions from before it (a new session epoch, so a copy of an old cookie is
    refused) and their API tokens, revoked now."""
    user = find_user(session, name)
    if user.active:  # enabling again would end the sessions and tokens they use
        raise PeopleError(f"{name!r} is not disabled")
    user.active = True
    user.session_epoch = secrets.token_hex(16)
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def reset_password(session: Session, name: str, password: str) -> User:
    """Set a new password and end the user's sessions. The failed sign-ins counted for the
    name are forgotten, as a sign-in would: the person locked out by them, and given the
    new password, signs in at once, and a guesser faces a password none has tried."""
    user = find_user(session, name)
    user.password_hash = _hash(password)
    user.session_epoch = secrets.token_hex(16)
    session.execute(delete(LoginAttempt).where(LoginAttempt.name == name))
    return user


def end_sessions(session: Session, user_id: int) -> None:
    """Sign the user out everywhere: every session cookie issued so far stops working."""
    user = session.get(User, user_id)
    if user is not None:
        user.session_epoch = secrets.token_hex(16)


def set_language(session: Session, user_id: int, code: str) -> None:
    """Remember the pages' language a person chose, one of those shipped."""
    if code not in PAGE_LANGUAGES:
        raise PeopleError(
            f"the pages are not translated into {code!r} (shipped: {', '.join(PAGE_LANGUAGES)})"
        )
    user = session.get(User, user_id)
    if user is None:
        raise PeopleError(f"there is no user {user_id}")
    user.language = code


def find_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise PeopleError(f"there is no user {name!r}")
    return user


def authenticate(session: Session, name: str, password: str) -> Person | None:
    """The person with this name and password, if they may sign in."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        check_password_hash(_UNKNOWN_USER_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return person_of(user)


def active_person(session: Session, user_id: int) -> Person | None:
    user = session.get(User, user_id)
    return person_of(user) if user is not None and user.active else None


def create_token(session: Session, name: str) -> str:
    """A new API token for the user; only its hash is stored, so it is shown once."""
    user = find_user(session, name)
    if not user.active:
        raise PeopleError(f"user {name!r} is disabled")
    token = "intake_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_token_hash(token)))
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int) -> None:
    token = session.get(ApiToken, token_id) if 0 < token_id <= MAX_ID else None
    if token is None:
        raise PeopleError(f"there is no token {token_id}")
    token.revoked_at = token.revoked_at or utcnow()


def person_for_token(session: Session, token: str) -> Person | None:
    """The active person a token that is not revoked belongs to. Asked at every API
    request: the user and their memberships in one query (a row per membership, one with
    none for a user without), without loading the token's row."""
    rows = session.execute(
        select(User, Membership.department_id)
        .join(ApiToken, ApiToken.user_id == User.id)
        .outerjoin(Membership, Membership.user_id == User.id)
        .where(ApiToken.token_hash == _token_hash(token), ApiToken.revoked_at.is_(None), User.active)
    ).all()
    if not rows:
        return None
    return _person(rows[0][0], (department for _, department in rows if department is not None))


def ensure_first_admin(sessions: sessionmaker[Session]) -> tuple[str, str] | None:
    """On a database without users, make an admin; its name and password, or None."""
    password = secrets.token_urlsafe(12)
    try:
        with transaction(sessions) as session:
            if session.scalar(select(User.id).limit(1)) is not None:
                return None
            add_user(session, FIRST_ADMIN, "admin", password)
    except PeopleError:  # add_user's word for the name's unique index
        return None  # another process made it first and has shown its password
    return FIRST_ADMIN, password


def record(session: Session, actor: str, action: str, detail: dict[str, object]) -> None:
    """Keep what an admin did to people or access in the admins' trail, in the same unit of work."""
    session.add(AdminEvent(actor=actor, action=action, detail=detail))


def admin_trail(session: Session, limit: int) -> list[AdminEvent]:
    """The admins' latest actions, newest first."""
    return list(session.scalars(select(AdminEvent).order_by(AdminEvent.id.desc()).limit(limit)))


def session_secret(session: Session) -> str:
    """The key the web signs sessions with, made once by the migration."""
    secret = session.get(WebSecret, "session")
    if secret is None:
        raise LookupError("the web_secrets table has no session key; run `intake db upgrade`")
    return secret.value


def _check_departments(session: Session, chosen: list[str]) -> None:
    known = set(session.scalars(select(Department.id).where(Department.active)))
    unknown = [d for d in chosen if d not in known]
    if unknown:
        raise PeopleError(f"unknown department {unknown[0]!r} (known: {', '.join(sorted(known))})")


def _hash(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PeopleError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return generate_password_hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
