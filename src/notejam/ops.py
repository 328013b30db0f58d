"""Operations endpoints: liveness, readiness, metrics. No sign-in, no CSRF, no session."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from notejam import database, metrics, migrate

bp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)


@bp.route("/healthz")
def healthz() -> Response:
    """The process serves requests. Deliberately no database: a DB outage must not restart pods."""
    return jsonify(status="ok")


@bp.route("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready for traffic: the database answers and its schema is at this code's head or ahead of it.

    Ahead is a release with a migration rolling out (or rolled back): the migration ran before the new pods, and
    the old ones keep serving on the expanded schema (docs/migrations.md). Behind is refused: the code would
    query columns that do not exist yet."""
    engine = database.engine(current_app)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = migrate.current_revisions(engine)
    except SQLAlchemyError as error:
        # The class name only: driver messages can carry host names, never worth a leaked detail.
        log.warning("not ready: database unreachable", extra={"error": type(error).__name__})
        return jsonify(status="unavailable", database="unreachable"), 503
    state = migrate.schema_state(current, current_app.extensions["notejam.migration_revisions"])
    if state == migrate.BEHIND:
        log.warning("not ready: migrations not at head", extra={"current": sorted(current)})
        return jsonify(status="unavailable", database="ok", migrations=state), 503
    return jsonify(status="ok", database="ok", migrations=state), 200


@bp.route("/metrics")
def prometheus_metrics() -> Response:
    return metrics.render()
