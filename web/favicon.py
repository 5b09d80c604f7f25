"""GET /favicon.ico: the app's icon, which browsers ask for on every site whatever a page links.

The icon is the SVG in static/ that the pages also link; it is served at the old address so
that the browsers' own request finds it rather than a 404, and to anyone, signed in or not.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, send_from_directory

blueprint = Blueprint("favicon", __name__)

ICON = "favicon.svg"
ONE_DAY = 24 * 3600


@blueprint.get("/favicon.ico")
def icon() -> Response:
    folder = current_app.static_folder
    assert folder is not None  # the app is built with its static folder
    return send_from_directory(folder, ICON, mimetype="image/svg+xml", max_age=ONE_DAY)
