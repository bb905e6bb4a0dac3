"""The member's own area: what the association stores about them, and what they can change.

Every view works on current_user's own person; ids in URLs (roles, requests) are checked against
it, so guessing an id leads to 404, never to someone else's data.
"""
from datetime import date

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.auth import tokens
from crm.auth.forms import EmptyForm
from crm.contacts.models import Consent
from crm.errors import saved
from crm.events.participants import for_person as invitations_for
from crm.extensions import db
from crm.members.models import Membership
from crm.portal import services
from crm.portal.forms import AffiliationForm, EmailChangeForm, ErasureForm, NewAffiliationForm, PreferencesForm, ProfileForm
from crm.portal.models import ChangeRequest, RequestKind
from crm.privacy.export import SECTIONS, json_download, personal_data, readable
from crm.security import public, roles_required

bp = Blueprint("portal", __name__, url_prefix="/mein-bereich")
ANY_USER = ("member", "office")  # staff have a person record and a portal of their own, too


@bp.get("/")
@roles_required(*ANY_USER)
def index():
    person = current_user.person
    memberships = db.session.scalars(sa.select(Membership).where(Membership.person_id == person.id).order_by(Membership.number)).all()
    consents = db.session.scalars(
        sa.select(Consent).where(Consent.person_id == person.id).order_by(Consent.effective_at.desc(), Consent.id.desc())
    ).all()
    requests = db.session.scalars(
        sa.select(ChangeRequest).where(ChangeRequest.person_id == person.id).order_by(ChangeRequest.created_at.desc())
    ).all()
    return render_template("portal/index.html", person=person, memberships=memberships, consents=consents,
                           requests=requests, invitations=invitations_for(person), form=EmptyForm())  # fmt: skip


def _profile_form(person, **kwargs) -> ProfileForm:
    # The salutation as its stored value: WTForms would otherwise take the enum member.
    return ProfileForm(obj=person, data={"salutation": person.salutation.value if person.salutation else ""}, **kwargs)


@bp.route("/profil", methods=["GET", "POST"])
@roles_required(*ANY_USER)
def profile():
    person = current_user.person
    form = _profile_form(person)
    if form.validate_on_submit() and saved(form, lambda: services.update_profile(current_user, form.person_data())):
        flash("Ihre Angaben wurden gespeichert.", "success")
        return redirect(url_for("portal.index"))
    return render_template("portal/profile.html", form=form, email_form=EmailChangeForm(formdata=None), person=person)


@bp.post("/email")
@roles_required(*ANY_USER)
def request_email():
    email_form = EmailChangeForm()
    if email_form.validate_on_submit() and saved(email_form, lambda: services.request_email_change(current_user, email_form.email.data)):
        flash(f"Wir haben einen Bestätigungslink an {email_form.email.data} geschickt. Erst nach der Bestätigung "
              "verwenden wir die neue Adresse.", "success")  # fmt: skip
        return redirect(url_for("portal.index"))
    person = current_user.person
    form = _profile_form(person, formdata=None)
    return render_template("portal/profile.html", form=form, email_form=email_form, person=person), 200


# Opened from the mail, perhaps in another browser: the link itself is the proof. A button
# confirms, so that mail scanners which open links do not use it up.
@bp.route("/email-bestaetigen/<token>", methods=["GET", "POST"])
@public
def confirm_email(token: str):
    row = tokens.find("email", token)
    form = EmptyForm()
    if form.validate_on_submit():
        if saved(form, lambda: services.confirm_email_change(row)):
            flash(f"Ihre E-Mail-Adresse ist jetzt {row.data['email']}.", "success")
            return redirect(url_for("portal.index" if current_user.is_authenticated else "auth.login"))
    return render_template("portal/confirm_email.html", form=form, email=row.data["email"])


@bp.route("/einstellungen", methods=["GET", "POST"])
@roles_required(*ANY_USER)
def preferences():
    person = current_user.person
    form = PreferencesForm.for_person(person)
    if form.validate_on_submit():
        changed = []
        write = lambda: changed.extend(services.set_preferences(  # noqa: E731
            current_user, newsletter=form.newsletter.data, invitations=form.invitations.data, tag_ids=form.tags.data or [],
            ip=request.remote_addr, user_agent=request.user_agent.string,
        ))  # fmt: skip
        if saved(form, write):
            flash(f"Gespeichert: {', '.join(changed)}." if changed else "Es gab nichts zu ändern.", "success")
            return redirect(url_for("portal.preferences"))
    return render_template("portal/preferences.html", form=form, person=person, wording=services.WORDING)


def _own_affiliation(affiliation_id: int):
    return services.own_affiliation(current_user, affiliation_id) or abort(404)


@bp.route("/funktionen/<int:affiliation_id>", methods=["GET", "POST"])
@roles_required(*ANY_USER)
def edit_affiliation(affiliation_id: int):
    affiliation = _own_affiliation(affiliation_id)
    form = AffiliationForm(obj=affiliation)
    data = lambda: {"position": form.position.data or None, "department": form.department.data or None}  # noqa: E731
    if form.validate_on_submit() and saved(form, lambda: services.update_own_affiliation(current_user, affiliation, data())):
        flash(f"Ihre Funktion bei {affiliation.organization.name} wurde gespeichert.", "success")
        return redirect(url_for("portal.index"))
    return render_template("portal/affiliation.html", form=form, affiliation=affiliation, end_form=EmptyForm())


@bp.post("/funktionen/<int:affiliation_id>/beenden")
@roles_required(*ANY_USER)
def end_affiliation(affiliation_id: int):
    affiliation = _own_affiliation(affiliation_id)
    form = EmptyForm()
    if form.validate_on_submit() and saved(form, lambda: services.end_own_affiliation(current_user, affiliation)):
        flash(f"Ihre Funktion bei {affiliation.organization.name} ist beendet.", "success")
    else:
        flash(" ".join(form.form_errors) or "Das hat nicht geklappt. Bitte versuchen Sie es erneut.", "error")
    return redirect(url_for("portal.index"))


@bp.route("/funktionen/neu", methods=["GET", "POST"])
@roles_required(*ANY_USER)
def new_affiliation():
    form = NewAffiliationForm()
    report = lambda: services.report_affiliation(  # noqa: E731
        current_user, organization=form.organization.data, position=form.position.data, message=form.message.data
    )
    if form.validate_on_submit() and saved(form, report):
        flash("Danke! Die Geschäftsstelle prüft Ihre Angabe und trägt sie ein.", "success")
        return redirect(url_for("portal.index"))
    return render_template("portal/new_affiliation.html", form=form)


@bp.get("/daten")
@roles_required(*ANY_USER)
def my_data():
    return render_template("portal/my_data.html", data=readable(personal_data(current_user.person)), sections=SECTIONS,
                           person=current_user.person, today=date.today())  # fmt: skip


@bp.get("/daten.json")
@roles_required(*ANY_USER)
def my_data_json():
    return json_download(personal_data(current_user.person), f"meine-daten-{date.today():%Y-%m-%d}.json")


@bp.route("/loeschen", methods=["GET", "POST"])
@roles_required(*ANY_USER)
def erasure():
    form = ErasureForm()
    pending = services.open_requests(current_user.person, RequestKind.erasure)
    write = lambda: services.request_erasure(current_user, password=form.password.data, message=form.message.data)  # noqa: E731
    if not pending and form.validate_on_submit() and saved(form, write):
        flash("Ihr Löschantrag ist bei der Geschäftsstelle eingegangen. Wir informieren Sie, sobald er bearbeitet ist.", "success")
        return redirect(url_for("portal.index"))
    return render_template("portal/erasure.html", form=form, pending=pending, has_password=bool(current_user.password_hash))


@bp.post("/antraege/<int:request_id>/zurueckziehen")
@roles_required(*ANY_USER)
def withdraw(request_id: int):
    change_request = services.own_request(current_user, request_id) or abort(404)
    form = EmptyForm()
    if form.validate_on_submit() and saved(form, lambda: services.withdraw_request(current_user, change_request)):
        flash("Ihr Antrag wurde zurückgezogen.", "success")
    else:
        flash(" ".join(form.form_errors) or "Das hat nicht geklappt.", "error")
    return redirect(url_for("portal.index"))
