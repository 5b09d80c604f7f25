"""The admin pages for routing: the departments and rules in force with each rule's hits
over the last 30 days, and the replay of `intake rules replay` with the running config or
an uploaded candidate, as a table of what would move where. Both only read.

Admins only, as the other admin pages (web.admin).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import Blueprint, render_template, request
from flask_babel import gettext
from werkzeug.exceptions import Forbidden

from config.loading import ConfigError, settings_from_text
from config.settings import Settings
from intake.rules.replay import BadSpan, ReplayReport, parse_since
from intake.rules.replay import replay as replay_items
from routing.engine import Router
from routing.queues.rule_hits import rule_hits
from routing.store.models import utcnow
from web.access import person
from web.storage import reading, storage

blueprint = Blueprint("admin_rules", __name__, url_prefix="/admin")
HITS_DAYS = 30
MAX_CONFIG_BYTES = 1024 * 1024  # a candidate office file; the shipped sample is under 10 kB
Page = tuple[str, int]


class BadCandidate(ValueError):
    """An uploaded config that cannot be replayed; the message says why."""


@blueprint.before_request
def _admins_only() -> None:
    if person().role != "admin":
        raise Forbidden("only admins see the rules and replay them")


@blueprint.get("/rules")
def rules() -> str:
    settings = storage().settings
    with reading() as session:
        hits = rule_hits(session, utcnow() - timedelta(days=HITS_DAYS))
    return render_template(
        "admin_rules.html",
        office=settings.office_name,
        settings=settings,
        hits=hits,
        days=HITS_DAYS,
    )


@blueprint.route("/replay", methods=["GET", "POST"])
def replay() -> Page:
    since_text = request.values.get("since", "30d").strip()
    if request.method == "GET":
        return _page(since_text, None, None, 200)
    try:
        since = parse_since(since_text, utcnow(), storage().settings.timezone)
        candidate = _candidate()
    except (BadSpan, BadCandidate) as error:
        return _page(since_text, None, str(error), 400)
    # As `intake rules replay`: the candidate's rules compiled, its fixtures (files beside
    # it, which an upload does not bring) left to `intake rules test`.
    settings = candidate or storage().settings
    report = replay_items(storage().sessions, Router(settings), since)
    return _page(since_text, Replayed(report, settings, candidate is not None), None, 200)


@dataclass(frozen=True)
class Replayed:
    report: ReplayReport
    settings: Settings
    candidate: bool

    def department_name(self, department_id: str) -> str:
        found = next((d for d in self.settings.departments if d.id == department_id), None)
        return found.name if found else department_id


def _candidate() -> Settings | None:
    """The uploaded office file as settings, or None to replay under the running one."""
    upload = request.files.get("config")
    if upload is None or not upload.filename:
        return None
    content = upload.stream.read(MAX_CONFIG_BYTES + 1)
    if len(content) > MAX_CONFIG_BYTES:
        raise BadCandidate(gettext("the config is larger than %(size)s kB", size=MAX_CONFIG_BYTES // 1024))
    # Read as if it sat beside the running office's file, where it would go: its rule
    # fixtures are found there, and its errors name it by the upload's own name.
    name = Path(upload.filename).name
    try:
        return settings_from_text(content.decode("utf-8"), storage().settings.source.parent / name)
    except UnicodeDecodeError:
        raise BadCandidate(gettext("%(name)s is not UTF-8 text", name=name)) from None
    except ConfigError as error:
        raise BadCandidate(str(error).replace(str(storage().settings.source.parent / name), name)) from None


def _page(since: str, result: Replayed | None, error: str | None, status: int) -> Page:
    html = render_template(
        "admin_replay.html",
        office=storage().settings.office_name,
        since=since,
        result=result,
        error=error,
        max_config_kb=MAX_CONFIG_BYTES // 1024,
    )
    return html, status
