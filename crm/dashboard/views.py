"""The office start page: key figures and the latest changes."""
import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from crm.audit.models import AuditLog
from crm.contacts.models import Organization, Person
from crm.extensions import db
from crm.members.models import Membership, MembershipStatus
from crm.security import public, roles_required

bp = Blueprint("dashboard", __name__)

RECENT_CHANGES = 15


@bp.get("/")
@public
def root():
    """Send visitors to the login and users to their start page."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(url_for("dashboard.index" if current_user.is_staff else "portal.index"))


@bp.get("/start")
@roles_required("office")
def index():
    count = lambda stmt: db.session.scalar(stmt) or 0  # noqa: E731
    figures = {
        "organizations": count(sa.select(sa.func.count(Organization.id))),
        "people": count(sa.select(sa.func.count(Person.id))),
        "active_members": count(
            sa.select(sa.func.count(Membership.id)).where(Membership.status == MembershipStatus.active)
        ),
    }
    changes = db.session.scalars(
        sa.select(AuditLog).order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(RECENT_CHANGES)
    ).all()
    return render_template("dashboard/index.html", figures=figures, changes=changes)
