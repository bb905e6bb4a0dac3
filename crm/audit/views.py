"""The audit log page: who changed what, filterable by person, user, date and kind of change."""
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, render_template, request

from crm.audit.labels import ACTION_LABELS, ENTITY_LABELS
from crm.audit.models import AuditLog
from crm.extensions import db
from crm.security import roles_required

bp = Blueprint("audit", __name__, url_prefix="/protokoll")

BERLIN = ZoneInfo("Europe/Berlin")


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@bp.get("/")
@roles_required("office")
def index():
    from crm.auth.models import User
    from crm.contacts.models import Person

    args = request.args
    stmt = sa.select(AuditLog)
    for name, column in (("person", AuditLog.person_id), ("organization", AuditLog.organization_id), ("user", AuditLog.actor_id)):
        if args.get(name, type=int):
            stmt = stmt.where(column == args.get(name, type=int))
    person = db.session.get(Person, args.get("person", type=int)) if args.get("person", type=int) else None
    if args.get("action") in ACTION_LABELS:
        stmt = stmt.where(AuditLog.action == args["action"])
    if args.get("entity") in ENTITY_LABELS:
        stmt = stmt.where(AuditLog.entity_type == args["entity"])
    date_from, date_to = _day(args.get("from")), _day(args.get("to"))
    if date_from:
        stmt = stmt.where(AuditLog.created_at >= datetime.combine(date_from, time(), BERLIN))
    if date_to:
        stmt = stmt.where(AuditLog.created_at < datetime.combine(date_to + timedelta(days=1), time(), BERLIN))
    page = db.paginate(
        stmt.order_by(AuditLog.id.desc()), page=args.get("page", 1, type=int), per_page=50, error_out=False
    )
    users = db.session.scalars(sa.select(User).where(User.role != "member").order_by(User.email)).all()
    return render_template(
        "audit/index.html",
        page=page,
        person=person,
        users=users,
        invalid_dates=(args.get("from") and not date_from) or (args.get("to") and not date_to),
    )
