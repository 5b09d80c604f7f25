"""GET /healthz: whether this process can reach its database."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from routing.database import database_answers
from web.storage import storage

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int]:
    if database_answers(storage().engine):
        return jsonify(status="ok", database="ok"), 200
    return jsonify(status="unavailable", database="not answering"), 503
