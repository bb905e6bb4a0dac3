"""The suppression list page: which addresses get no bulk mail and why; the office blocks and lifts."""
import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.errors import ValidationFailed
from crm.extensions import db
from crm.mail.models import Suppression, SuppressionReason
from crm.mail.suppressions import REASON_LABELS, block, lift
from crm.security import roles_required

bp = Blueprint("suppressions", __name__, url_prefix="/sperrliste")


def _listing(errors: dict | None = None, form: dict | None = None, status: int = 200):
    args = request.args
    query = (args.get("q") or "").strip().lower()
    reason = args.get("reason") if args.get("reason") in {r.value for r in SuppressionReason} else None
    stmt = sa.select(Suppression)
    if query:
        stmt = stmt.where(Suppression.email.contains(query, autoescape=True))
    if reason:
        stmt = stmt.where(Suppression.reason == SuppressionReason(reason))
    page = db.paginate(
        stmt.order_by(Suppression.created_at.desc(), Suppression.id.desc()), page=args.get("page", 1, type=int), error_out=False
    )  # fmt: skip
    filters = {k: v for k, v in (("q", query), ("reason", reason)) if v}
    return render_template(
        "mail/suppressions.html", page=page, filters=filters, labels=REASON_LABELS, errors=errors or {}, form=form or {}
    ), status  # fmt: skip


@bp.get("/")
@roles_required("office")
def index():
    return _listing()


@bp.post("/")
@roles_required("office")
def add():
    try:
        row = block(request.form.get("email"), request.form.get("note"), actor=current_user)
    except ValidationFailed as error:
        db.session.rollback()
        return _listing({error.field: error.message}, request.form, 422)
    db.session.commit()
    flash(f"{row.email} bekommt keine Rundschreiben mehr.", "success")
    return redirect(url_for("suppressions.index"))


@bp.post("/<int:suppression_id>/aufheben")
@roles_required("office")
def remove(suppression_id: int):
    row = db.session.get(Suppression, suppression_id) or abort(404)
    try:
        kept = lift(row, actor=current_user)
    except ValidationFailed as error:
        flash(error.message, "error")
        return redirect(url_for("suppressions.index"))
    db.session.commit()
    staying = f"; die eigene Abmeldung ({' und '.join(c.label for c in kept)}) bleibt bestehen" if kept else ""
    flash(f"Die Sperre für {row.email} ist aufgehoben{staying}.", "success")
    return redirect(url_for("suppressions.index"))
