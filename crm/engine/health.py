"""GET /health: does the app reach its database and its broker? For load balancers and monitoring.

Public and cheap: no login, no personal data, nothing about the failure beyond the kind of error (the
log has the details). HTTP 200 when every configured part answers, 503 otherwise.
"""
import logging

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

from crm.extensions import db
from crm.security import public

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__)

OK = "ok"
NOT_CONFIGURED = "nicht konfiguriert"
#: Seconds the broker may take to answer before it counts as down.
BROKER_TIMEOUT = 2


@bp.get("/health")
@public
def health():
    checks = {"database": database_status(), "broker": broker_status()}
    healthy = all(value in (OK, NOT_CONFIGURED) for value in checks.values())
    response = jsonify(checks)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(part: str, error: Exception) -> str:
    logger.warning("Health check: %s unreachable", part, exc_info=error)
    return f"Fehler: {type(error).__name__}"


def database_status() -> str:
    try:
        db.session.execute(sa.text("SELECT 1"))
    except Exception as error:  # any failure means the same to a load balancer: not ready
        db.session.rollback()
        return _error("database", error)
    return OK


def broker_status() -> str:
    url = current_app.config.get("CELERY_BROKER_URL")
    if not url:
        return NOT_CONFIGURED
    from kombu import Connection  # the embedded default runs without Celery's libraries loaded

    options = {"socket_timeout": BROKER_TIMEOUT, "socket_connect_timeout": BROKER_TIMEOUT}
    try:
        with Connection(url, connect_timeout=BROKER_TIMEOUT, transport_options=options) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT)
    except Exception as error:  # refused, timed out, wrong password: the workers cannot get work either
        return _error("broker", error)
    return OK
