"""The office's membership pages: member list with filters and export, detail, create, edit,
status changes and delete."""
from datetime import date
from typing import Any, Callable

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from crm.audit.models import AuditLog
from crm.contacts.export import export_response
from crm.contacts.forms import STATE_CHOICES
from crm.contacts.models import Affiliation, Organization, Person
from crm.errors import ValidationFailed, apply_to_form
from crm.extensions import db
from crm.members.export import COLUMNS, export_rows
from crm.members.filters import MEMBER_KINDS, SORTS, MembershipFilter, with_list_details, with_members
from crm.members.forms import TYPE_CHOICES, MembershipForm, NewMembershipForm, StatusForm
from crm.members.models import Membership, MembershipStatus, MembershipType
from crm.members.services import (
    change_status,
    create_membership,
    delete_membership,
    running_membership,
    update_membership,
)
from crm.pagination import paginate
from crm.security import roles_required

bp = Blueprint("memberships", __name__, url_prefix="/mitglieder")


@bp.get("/")
@roles_required("office")
def index():
    member_filter = MembershipFilter.from_args(request.args)
    page = paginate(
        with_list_details(member_filter.statement()),
        page=request.args.get("page", 1, type=int),
        per_page=request.args.get("per_page", 50, type=int),
        one_scan=not member_filter.is_empty,
    )
    counts = dict(db.session.execute(member_filter.status_counts()).all())
    return render_template(
        "members/index.html",
        page=page,
        filter=member_filter,
        status_counts=[(status, counts.get(status, 0)) for status in MembershipStatus],
        all_count=sum(counts.values()),
        status_options=[(s.value, s.label) for s in MembershipStatus],
        type_options=TYPE_CHOICES,
        kinds=MEMBER_KINDS,
        states=STATE_CHOICES[1:],
        sort_options=[(value, label) for value, (label, _) in SORTS.items()],
    )


@bp.get("/export.<fmt>")
@roles_required("office")
def export(fmt: str):
    rows = export_rows(MembershipFilter.from_args(request.args))
    return export_response(fmt, COLUMNS, rows, name=f"mitglieder-{date.today():%Y-%m-%d}", title="Mitglieder")


def _save(form, service: Callable, *args, **kwargs) -> tuple[bool, Any]:
    """Call `service` for a valid submitted form and commit; a refusal is rolled back and shown next
    to its field. Returns (saved, what the service returned)."""
    if not form.validate_on_submit():
        return False, None
    try:
        result = service(*args, **kwargs)
    except ValidationFailed as error:
        db.session.rollback()
        apply_to_form(form, error)
        return False, None
    db.session.commit()
    return True, result


def _membership(membership_id: int) -> Membership:
    """The membership with its member loaded."""
    return db.first_or_404(with_list_details(with_members(sa.select(Membership)).where(Membership.id == membership_id)))


def _render_show(membership: Membership, status_form: StatusForm):
    history = db.session.scalars(
        sa.select(AuditLog)
        .where(AuditLog.entity_type == Membership.__tablename__, AuditLog.entity_id == membership.id)
        .order_by(AuditLog.id.desc())
    ).all()
    representatives = []
    if membership.organization_id:
        representatives = db.session.scalars(
            sa.select(Affiliation).options(joinedload(Affiliation.person))
            .join(Person, Person.id == Affiliation.person_id)
            .where(Affiliation.organization_id == membership.organization_id, Affiliation.is_current)
            .order_by(Person.last_name, Person.first_name, Affiliation.id)
        ).all()  # fmt: skip
    return render_template(
        "members/show.html",
        membership=membership,
        history=history,
        representatives=representatives,
        status_form=status_form,
    )


@bp.get("/<int:membership_id>")
@roles_required("office")
def show(membership_id: int):
    membership = _membership(membership_id)
    return _render_show(membership, StatusForm(end_date=membership.end_date or date.today()))


@bp.post("/<int:membership_id>/status")
@roles_required("office")
def set_status(membership_id: int):
    membership = _membership(membership_id)
    form = StatusForm()
    saved, _ = _save(form, change_status, membership, form.status.data, actor=current_user, end_date=form.end_date.data)
    if saved:
        flash(f"Die Mitgliedschaft Nr. {membership.number} ist jetzt „{membership.status.label}“.", "success")
        return redirect(url_for("memberships.show", membership_id=membership.id))
    return _render_show(_membership(membership_id), form)


def _new(person: Person | None = None, organization: Organization | None = None):
    default_type = MembershipType.regular if person else MembershipType.institutional
    form = NewMembershipForm(data={"type": default_type.value, "status": MembershipStatus.active.value})
    saved, membership = _save(
        form, create_membership, actor=current_user, person=person, organization=organization,
        status=form.status.data, **form.membership_data(),
    )  # fmt: skip
    if saved:
        flash(f"Mitgliedschaft Nr. {membership.number} für {membership.member_name} wurde angelegt.", "success")
        return redirect(url_for("memberships.show", membership_id=membership.id))
    back = url_for("people.show", person_id=person.id) if person else url_for("organizations.show", organization_id=organization.id)
    name = person.full_name if person else organization.name
    running = running_membership(person=person, organization=organization)
    return render_template(
        "members/form.html", form=form, membership=None, member_name=name, back=back, running=running
    )


@bp.route("/neu/person/<int:person_id>", methods=["GET", "POST"])
@roles_required("office")
def new_for_person(person_id: int):
    return _new(person=db.get_or_404(Person, person_id))


@bp.route("/neu/organisation/<int:organization_id>", methods=["GET", "POST"])
@roles_required("office")
def new_for_organization(organization_id: int):
    return _new(organization=db.get_or_404(Organization, organization_id))


@bp.route("/<int:membership_id>/bearbeiten", methods=["GET", "POST"])
@roles_required("office")
def edit(membership_id: int):
    membership = _membership(membership_id)
    form = MembershipForm(data={"type": membership.type.value, "start_date": membership.start_date,
                                "end_date": membership.end_date, "notes": membership.notes})  # fmt: skip
    saved, _ = _save(form, update_membership, membership, form.membership_data(), actor=current_user)
    if saved:
        flash("Die Änderungen wurden gespeichert.", "success")
        return redirect(url_for("memberships.show", membership_id=membership.id))
    back = url_for("memberships.show", membership_id=membership.id)
    return render_template(
        "members/form.html", form=form, membership=membership, member_name=membership.member_name, back=back
    )


@bp.route("/<int:membership_id>/loeschen", methods=["GET", "POST"])
@roles_required("office")
def delete(membership_id: int):
    membership = _membership(membership_id)
    if request.method == "GET":
        return render_template("members/delete.html", membership=membership)
    number, name = membership.number, membership.member_name
    back = (
        url_for("people.show", person_id=membership.person_id) if membership.person_id
        else url_for("organizations.show", organization_id=membership.organization_id)
    )  # fmt: skip
    delete_membership(membership, actor=current_user)
    db.session.commit()
    flash(f"Die Mitgliedschaft Nr. {number} von {name} wurde gelöscht. Die Nummer wird nicht erneut vergeben.", "success")
    return redirect(back)
