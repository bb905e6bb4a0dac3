"""Organizations and municipalities: list, detail, create, edit, delete, suggestions, export."""
from datetime import date

import sqlalchemy as sa
from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from crm.audit.models import AuditLog
from crm.contacts.export import rows_in_batches, export_response
from crm.contacts.filters import ORGANIZATION_SORTS, OrganizationFilter
from crm.contacts.forms import KIND_CHOICES, STATE_CHOICES, OrganizationForm
from crm.contacts.models import Affiliation, Organization, OrganizationKind
from crm.contacts.search import fold
from crm.contacts.search import like_escape
from crm.contacts.services import (
    create_organization,
    delete_organization,
    organization_labels,
    resolve_organization,
    update_organization,
)
from crm.contacts.services.organizations import deletion_impact
from crm.errors import ValidationFailed, apply_to_form
from crm.extensions import db
from crm.members.models import Membership
from crm.security import roles_required

bp = Blueprint("organizations", __name__, url_prefix="/organisationen")

EXPORT_COLUMNS = [
    ("Name", lambda o: o.name),
    ("Kurzname", lambda o: o.short_name),
    ("Art", lambda o: o.kind.label),
    ("AGS", lambda o: o.ags),
    ("Kreisschlüssel", lambda o: o.kreisschluessel),
    ("Bundesland", lambda o: o.state_name),
    ("Einwohner", lambda o: o.population),
    ("Straße", lambda o: o.street),
    ("PLZ", lambda o: o.postal_code),
    ("Ort", lambda o: o.city),
    ("Website", lambda o: o.website),
    ("E-Mail", lambda o: o.email),
    ("Telefon", lambda o: o.phone),
]


def _people_counts(ids: list[int]) -> dict[int, int]:
    """Current people per organization, for a page of organizations, in one query."""
    rows = db.session.execute(
        sa.select(Affiliation.organization_id, sa.func.count())
        .where(Affiliation.organization_id.in_(ids), Affiliation.is_current)
        .group_by(Affiliation.organization_id)
    )
    return dict(rows.all())


@bp.get("/")
@roles_required("office")
def index():
    organization_filter = OrganizationFilter.from_args(request.args)
    page = db.paginate(
        organization_filter.statement(),
        page=request.args.get("page", 1, type=int),
        per_page=request.args.get("per_page", 50, type=int),
        max_per_page=200,
        error_out=False,
    )
    return render_template(
        "contacts/organizations/index.html",
        page=page,
        filter=organization_filter,
        people_counts=_people_counts([o.id for o in page.items]),
        kinds=KIND_CHOICES,
        states=STATE_CHOICES[1:],
        sorts=ORGANIZATION_SORTS,
    )


@bp.get("/export.<fmt>")
@roles_required("office")
def export(fmt: str):
    ids = db.session.scalars(OrganizationFilter.from_args(request.args).statement().with_only_columns(Organization.id)).all()
    load = lambda batch: {o.id: o for o in db.session.scalars(sa.select(Organization).where(Organization.id.in_(batch)))}  # noqa: E731
    rows = rows_in_batches(ids, load)
    name = f"organisationen-{date.today():%Y-%m-%d}"
    return export_response(fmt, EXPORT_COLUMNS, rows, name=name, title="Organisationen")


@bp.get("/vorschlaege")
@roles_required("office")
def suggest():
    """Up to 10 organizations matching what was typed, for the autocomplete of organization fields."""
    terms = fold(request.args.get("q", "")).split()
    if not terms:
        return jsonify([])
    matches = db.session.scalars(
        sa.select(Organization)
        .where(*[Organization.search_key.like(f"%{like_escape(t)}%", escape="\\") for t in terms])
        .order_by(sa.func.length(Organization.name), Organization.name)
        .limit(10)
    ).all()
    labels = organization_labels(matches)
    return jsonify([{"value": labels[o.id], "label": f"{o.name}{f' ({o.city})' if o.city else ''}"} for o in matches])


def _form_data(form: OrganizationForm) -> dict:
    data = form.organization_data()
    data["kind"] = OrganizationKind(data["kind"])
    parent = resolve_organization(form.parent.data, field="parent")
    data["parent_id"] = parent.id if parent else None
    return data


@bp.route("/neu", methods=["GET", "POST"])
@roles_required("office")
def new():
    form = OrganizationForm()
    if form.validate_on_submit():
        try:
            organization = create_organization(_form_data(form), actor=current_user)
        except ValidationFailed as error:
            db.session.rollback()
            apply_to_form(form, error)
        else:
            db.session.commit()
            flash(f"{organization.name} wurde angelegt.", "success")
            return redirect(url_for("organizations.show", organization_id=organization.id))
    return render_template("contacts/organizations/form.html", form=form, organization=None)


@bp.get("/<int:organization_id>")
@roles_required("office")
def show(organization_id: int):
    organization = db.get_or_404(Organization, organization_id)
    affiliations = db.session.scalars(
        sa.select(Affiliation).options(joinedload(Affiliation.person))
        .where(Affiliation.organization_id == organization.id)
        .order_by(Affiliation.end_date.is_not(None), Affiliation.is_primary.desc())
    ).all()  # fmt: skip
    memberships = db.session.scalars(sa.select(Membership).where(Membership.organization_id == organization.id)).all()
    history = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.organization_id == organization.id).order_by(AuditLog.id.desc()).limit(100)
    ).all()
    return render_template(
        "contacts/organizations/show.html",
        organization=organization,
        current=[a for a in affiliations if a.is_current],
        former=[a for a in affiliations if not a.is_current],
        memberships=memberships,
        history=history,
    )


@bp.route("/<int:organization_id>/bearbeiten", methods=["GET", "POST"])
@roles_required("office")
def edit(organization_id: int):
    organization = db.get_or_404(Organization, organization_id)
    form = OrganizationForm(
        data={name: getattr(organization, name) for name in OrganizationForm.ORGANIZATION_FIELDS}
        | {
            "kind": organization.kind.value,
            "state": organization.state or "",
            "parent": organization_labels([organization.parent])[organization.parent.id] if organization.parent else "",
        }
    )
    if form.validate_on_submit():
        try:
            update_organization(organization, _form_data(form), actor=current_user)
        except ValidationFailed as error:
            db.session.rollback()
            apply_to_form(form, error)
        else:
            db.session.commit()
            flash("Die Änderungen wurden gespeichert.", "success")
            return redirect(url_for("organizations.show", organization_id=organization.id))
    return render_template("contacts/organizations/form.html", form=form, organization=organization)


@bp.route("/<int:organization_id>/loeschen", methods=["GET", "POST"])
@roles_required("office")
def delete(organization_id: int):
    organization = db.get_or_404(Organization, organization_id)
    if request.method == "POST":
        name = organization.name
        delete_organization(organization, actor=current_user)
        db.session.commit()
        flash(f"{name} wurde gelöscht.", "success")
        return redirect(url_for("organizations.index"))
    return render_template(
        "contacts/organizations/delete.html", organization=organization, impact=deletion_impact(organization)
    )
