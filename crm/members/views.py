"""The member's own area: what the association stores about them."""
import sqlalchemy as sa
from flask import Blueprint, render_template
from flask_login import current_user

from crm.contacts.models import Consent
from crm.extensions import db
from crm.members.models import Membership
from crm.security import roles_required

bp = Blueprint("portal", __name__, url_prefix="/mein-bereich")


@bp.get("/")
@roles_required("member", "office")
def index():
    person = current_user.person
    memberships = db.session.scalars(
        sa.select(Membership).where(Membership.person_id == person.id).order_by(Membership.start_date)
    ).all()
    consents = db.session.scalars(
        sa.select(Consent).where(Consent.person_id == person.id).order_by(Consent.effective_at.desc())
    ).all()
    return render_template("members/portal.html", person=person, memberships=memberships, consents=consents)
