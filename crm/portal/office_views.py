"""Office pages of the portal: member requests, portal accounts, invitations and erasure."""
from datetime import date

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.auth.forms import EmptyForm
from crm.auth.models import Role, User
from crm.contacts.models import Person
from crm.errors import saved
from crm.extensions import db
from crm.pagination import paginate
from crm.portal import office
from crm.portal.forms import AffiliationDecisionForm, DecisionForm, ErasureConfirmForm
from crm.portal.models import ChangeRequest, RequestKind, RequestStatus
from crm.privacy.erasure import erase_person
from crm.privacy.export import json_download, personal_data
from crm.security import roles_required

bp = Blueprint("portal_office", __name__)


@bp.get("/antraege/")
@roles_required("office")
def requests():
    status = request.args.get("status", "open")
    stmt = sa.select(ChangeRequest).options(sa.orm.joinedload(ChangeRequest.person)).order_by(ChangeRequest.created_at.desc())
    if status in RequestStatus.__members__:
        stmt = stmt.where(ChangeRequest.status == status)
    page = paginate(stmt, page=request.args.get("page", type=int), per_page=50)
    return render_template("portal/office/requests.html", page=page, status=status, statuses=RequestStatus)


def _request_or_404(request_id: int) -> ChangeRequest:
    return db.get_or_404(ChangeRequest, request_id)


def _render_request(change_request: ChangeRequest, decision: DecisionForm | None = None, affiliation=None, code=200):
    if affiliation is None and change_request.kind == RequestKind.affiliation:
        affiliation = AffiliationDecisionForm(formdata=None, data=change_request.data)
    return render_template(
        "portal/office/request.html", request_=change_request, decision=decision or DecisionForm(formdata=None),
        affiliation=affiliation,
    ), code  # fmt: skip


@bp.get("/antraege/<int:request_id>")
@roles_required("office")
def show_request(request_id: int):
    return _render_request(_request_or_404(request_id))


@bp.post("/antraege/<int:request_id>/funktion")
@roles_required("office")
def approve_affiliation(request_id: int):
    change_request = _request_or_404(request_id)
    form = AffiliationDecisionForm()
    approve = lambda: office.approve_affiliation(  # noqa: E731
        change_request, actor=current_user, organization=form.organization.data, position=form.position.data,
        new_kind=form.new_kind.data or None, note=form.note.data,
    )  # fmt: skip
    if form.validate_on_submit() and saved(form, approve):
        flash(f"Die Funktion wurde bei {change_request.person.full_name} eingetragen.", "success")
        return redirect(url_for("portal_office.requests"))
    return _render_request(change_request, affiliation=form, code=422)


DECISIONS = {
    "loeschen": (office.approve_erasure, "Die Daten wurden gelöscht. Organisation und Zahlen bleiben erhalten."),
    "ablehnen": (office.reject_request, "Der Antrag wurde abgelehnt."),
}


@bp.post("/antraege/<int:request_id>/<any(loeschen, ablehnen):decision>")
@roles_required("office")
def decide(request_id: int, decision: str):
    change_request = _request_or_404(request_id)
    form = DecisionForm()
    action, message = DECISIONS[decision]
    if form.validate_on_submit() and saved(form, lambda: action(change_request, actor=current_user, note=form.note.data)):
        flash(message, "success")
        return redirect(url_for("portal_office.requests"))
    return _render_request(change_request, decision=form, code=422)


@bp.get("/zugaenge/")
@roles_required("office")
def accounts():
    stmt = (
        sa.select(User).where(User.role == Role.member)
        .options(sa.orm.joinedload(User.person))
        .order_by(User.password_hash.is_(None).desc(), User.invited_at.desc().nulls_last(), User.email)
    )  # fmt: skip
    state = request.args.get("state", "")
    if state == "invited":
        stmt = stmt.where(User.password_hash.is_(None), User.active)
    elif state == "active":
        stmt = stmt.where(User.password_hash.is_not(None), User.active)
    page = paginate(stmt, page=request.args.get("page", type=int), per_page=50)
    return render_template("portal/office/accounts.html", page=page, state=state)


@bp.post("/personen/<int:person_id>/zugang-einladen")
@roles_required("office")
def invite(person_id: int):
    person = db.get_or_404(Person, person_id)
    form = EmptyForm()
    if form.validate_on_submit() and saved(form, lambda: office.invite_to_portal(person, actor=current_user)):
        flash(f"Die Einladung an {person.email} ist verschickt.", "success")
    else:
        flash(" ".join(form.form_errors) or "Das hat nicht geklappt.", "error")
    return redirect(url_for("people.show", person_id=person.id))


@bp.get("/personen/<int:person_id>/auskunft.json")
@roles_required("office")
def export_person(person_id: int):
    person = db.get_or_404(Person, person_id)
    return json_download(personal_data(person), f"auskunft-person-{person.id}-{date.today():%Y-%m-%d}.json")


@bp.route("/personen/<int:person_id>/daten-loeschen", methods=["GET", "POST"])
@roles_required("office")
def erase(person_id: int):
    person = db.get_or_404(Person, person_id)
    form = ErasureConfirmForm()
    if form.validate_on_submit():
        if form.confirm_name.data.casefold() != person.last_name.casefold():
            form.confirm_name.errors = ["Der Nachname stimmt nicht überein; es wurde nichts gelöscht."]
        elif saved(form, lambda: erase_person(person, actor=current_user)):
            flash("Die Daten wurden gelöscht. Organisation und Zahlen bleiben erhalten.", "success")
            return redirect(url_for("people.show", person_id=person.id))
    return render_template("portal/office/erase.html", form=form, person=person, account=office.account_of(person))
