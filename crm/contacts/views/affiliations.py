"""A person's roles in organizations: add, edit, end, delete."""
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from crm.contacts.forms import AffiliationForm
from crm.contacts.models import Affiliation, Person
from crm.contacts.services import (
    add_affiliation,
    delete_affiliation,
    end_affiliation,
    organization_labels,
    resolve_organization,
    update_affiliation,
)
from crm.errors import ValidationFailed, apply_to_form
from crm.extensions import db
from crm.security import roles_required

bp = Blueprint("affiliations", __name__, url_prefix="/personen")


def _back(person_id: int):
    return redirect(url_for("people.show", person_id=person_id) + "#funktionen")


@bp.route("/<int:person_id>/funktionen/neu", methods=["GET", "POST"])
@roles_required("office")
def new(person_id: int):
    person = db.get_or_404(Person, person_id)
    form = AffiliationForm()
    if form.validate_on_submit():
        try:
            organization = resolve_organization(form.organization.data)
            add_affiliation(person, organization, actor=current_user, **form.affiliation_data())
        except ValidationFailed as error:
            db.session.rollback()
            apply_to_form(form, error)
        else:
            db.session.commit()
            flash(f"Die Funktion bei {organization.name} wurde hinzugefügt.", "success")
            return _back(person.id)
    return render_template("contacts/affiliations/form.html", form=form, person=person, affiliation=None)


@bp.route("/funktionen/<int:affiliation_id>/bearbeiten", methods=["GET", "POST"])
@roles_required("office")
def edit(affiliation_id: int):
    affiliation = db.get_or_404(Affiliation, affiliation_id)
    form = AffiliationForm(
        data={name: getattr(affiliation, name) for name in ("position", "department", "is_primary", "start_date", "end_date")}
        | {"organization": organization_labels([affiliation.organization])[affiliation.organization_id]}
    )
    if form.validate_on_submit():
        try:
            organization = resolve_organization(form.organization.data)
            data = form.affiliation_data()
            if organization.id != affiliation.organization_id:
                data["organization_id"] = organization.id
            update_affiliation(affiliation, data, actor=current_user)
        except ValidationFailed as error:
            db.session.rollback()
            apply_to_form(form, error)
        else:
            db.session.commit()
            flash("Die Funktion wurde gespeichert.", "success")
            return _back(affiliation.person_id)
    return render_template(
        "contacts/affiliations/form.html", form=form, person=affiliation.person, affiliation=affiliation
    )


@bp.post("/funktionen/<int:affiliation_id>/beenden")
@roles_required("office")
def end(affiliation_id: int):
    affiliation = db.get_or_404(Affiliation, affiliation_id)
    try:
        end_affiliation(affiliation, actor=current_user)
    except ValidationFailed as error:
        db.session.rollback()
        flash(error.message, "error")
        return _back(affiliation.person_id)
    db.session.commit()
    flash(f"Die Funktion bei {affiliation.organization.name} endet heute; sie bleibt in der Historie.", "success")
    return _back(affiliation.person_id)


@bp.post("/funktionen/<int:affiliation_id>/loeschen")
@roles_required("office")
def delete(affiliation_id: int):
    affiliation = db.get_or_404(Affiliation, affiliation_id)
    person_id, name = affiliation.person_id, affiliation.organization.name
    delete_affiliation(affiliation, actor=current_user)
    db.session.commit()
    flash(f"Die Funktion bei {name} wurde gelöscht.", "success")
    return _back(person_id)
