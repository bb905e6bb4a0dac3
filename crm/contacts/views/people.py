"""People: list with search and filters, detail, create, edit, delete, bulk topics, export."""
from datetime import date

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload

from crm.audit.models import AuditLog
from crm.contacts.export import rows_in_batches, export_response
from crm.auth.forms import EmptyForm
from crm.contacts.filters import CONSENT_FILTERS, MEMBERSHIP_FILTERS, SORTS, PersonFilter
from crm.contacts.forms import KIND_CHOICES, STATE_CHOICES, BulkTagForm, ConsentForm, PersonForm
from crm.contacts.models import Affiliation, Consent, ConsentChannel, ConsentMethod, Person, Segment, Tag
from crm.contacts.duplicates import find_matches
from crm.contacts.services import (
    add_affiliation,
    bulk_tag,
    create_person,
    delete_person,
    get_or_create_tag,
    record_consent,
    resolve_organization,
    set_tags,
    update_person,
)
from crm.contacts.services.people import deletion_impact
from crm.errors import ValidationFailed, apply_to_form
from crm.extensions import db
from crm.members.models import Membership
from crm.pagination import paginate, window
from crm.portal.office import account_of
from crm.security import roles_required

bp = Blueprint("people", __name__, url_prefix="/personen")

EXPORT_COLUMNS = [
    ("Anrede", lambda p: p.salutation.label if p.salutation else ""),
    ("Titel", lambda p: p.title),
    ("Vorname", lambda p: p.first_name),
    ("Nachname", lambda p: p.last_name),
    ("E-Mail", lambda p: p.email),
    ("Telefon", lambda p: p.phone),
    ("Mobil", lambda p: p.mobile),
    ("Organisation", lambda p: p.primary_affiliation.organization.name if p.primary_affiliation else ""),
    ("Funktion", lambda p: p.primary_affiliation.position if p.primary_affiliation else ""),
    ("Ort", lambda p: p.primary_affiliation.organization.city if p.primary_affiliation else ""),
    ("Briefanrede", lambda p: p.letter_salutation),
    ("Themen", lambda p: ", ".join(t.name for t in p.tags)),
]


def _with_list_details(stmt):
    """Load what the list shows in a fixed number of queries (no query per row)."""
    return stmt.options(
        selectinload(Person.affiliations).joinedload(Affiliation.organization), selectinload(Person.tags)
    )


def _all_tags() -> list[Tag]:
    return db.session.scalars(sa.select(Tag).order_by(Tag.name)).all()


@bp.get("/")
@roles_required("office")
def index():
    person_filter = PersonFilter.from_args(request.args)
    number, per_page = window(request.args.get("page", 1, type=int), request.args.get("per_page", 50, type=int))
    # A filtered list counts first (a search up to a limit); the count decides how the page is
    # best read (PersonFilter.statement). An unfiltered page walks the name index.
    total, more, among = None, False, None
    if person_filter.q:
        total, more = person_filter.count_hits(db.session, page_end=number * per_page)
    elif not person_filter.is_empty:
        total, among = person_filter.found(db.session)
    page = paginate(
        _with_list_details(person_filter.statement(hits=total, among=among)),
        page=number,
        per_page=per_page,
        one_scan=False,
        total=total,
        more=more,
    )
    return render_template(
        "contacts/people/index.html",
        page=page,
        filter=person_filter,
        tags=_all_tags(),
        states=STATE_CHOICES[1:],
        kinds=KIND_CHOICES,
        sorts=SORTS,
        consent_filters=CONSENT_FILTERS,
        membership_filters=MEMBERSHIP_FILTERS,
        segments=db.session.scalars(sa.select(Segment).order_by(Segment.name)).all(),
        bulk_form=BulkTagForm(),
    )


def _export_rows(person_filter: PersonFilter):
    """The filtered people in batches, each batch loaded with its details in a few queries."""
    ids = db.session.scalars(person_filter.statement().with_only_columns(Person.id)).all()
    load = lambda batch: {p.id: p for p in db.session.scalars(_with_list_details(sa.select(Person).where(Person.id.in_(batch))))}  # noqa: E731
    return rows_in_batches(ids, load)


@bp.get("/export.<fmt>")
@roles_required("office")
def export(fmt: str):
    rows = _export_rows(PersonFilter.from_args(request.args))
    return export_response(fmt, EXPORT_COLUMNS, rows, name=f"personen-{date.today():%Y-%m-%d}", title="Personen")


@bp.post("/themen")
@roles_required("office")
def bulk_tags():
    form = BulkTagForm()
    person_filter = PersonFilter.from_args(request.form)
    back = url_for("people.index", **person_filter.to_args())
    if not form.validate_on_submit():
        flash("Bitte geben Sie ein Thema an.", "error")
        return redirect(back)
    if form.scope.data == "all":
        ids = db.session.scalars(person_filter.ids()).all()
    else:
        ids = [int(i) for i in request.form.getlist("person_ids") if i.isdigit()]
    if not ids:
        flash("Bitte wählen Sie mindestens eine Person aus.", "error")
        return redirect(back)
    tag = get_or_create_tag(form.tag.data)
    changed = bulk_tag(ids, tag, add=form.action.data == "add", actor=current_user)
    db.session.commit()
    verb = "zugeordnet" if form.action.data == "add" else "entfernt"
    flash(f"Thema „{tag.name}“ bei {changed} {'Person' if changed == 1 else 'Personen'} {verb}.", "success")
    return redirect(back)


def _tag_choices(form: PersonForm) -> None:
    form.tags.choices = [(t.name, t.name) for t in _all_tags()]


@bp.route("/neu", methods=["GET", "POST"])
@roles_required("office")
def new():
    form = PersonForm()
    _tag_choices(form)
    matches = []
    if form.validate_on_submit():
        try:
            organization = resolve_organization(form.organization.data)
            data = form.person_data()
            if not request.form.get("confirm_duplicate"):
                # The same email address is refused by create_person, right at the field.
                matches = find_matches(first_name=data["first_name"], last_name=data["last_name"], organization=organization)
            if not matches:
                person = create_person(data, actor=current_user)
                set_tags(person, form.tags.data or [], actor=current_user)
                if organization is not None:
                    add_affiliation(person, organization, actor=current_user, position=form.position.data, is_primary=True)
        except ValidationFailed as error:
            db.session.rollback()
            apply_to_form(form, error)
        else:
            if not matches:
                db.session.commit()
                flash(f"{person.full_name} wurde angelegt.", "success")
                return redirect(url_for("people.show", person_id=person.id))
    return render_template("contacts/people/form.html", form=form, person=None, matches=matches)


@bp.get("/<int:person_id>")
@roles_required("office")
def show(person_id: int):
    return _render_show(_person_with_details(person_id), ConsentForm())


def _person_with_details(person_id: int) -> Person:
    """The person with roles, organizations and topics loaded up front (no query per role)."""
    return db.first_or_404(
        _with_list_details(sa.select(Person).where(Person.id == person_id)).execution_options(populate_existing=True)
    )


def _render_show(person: Person, consent_form: ConsentForm):
    memberships = db.session.scalars(sa.select(Membership).where(Membership.person_id == person.id)).all()
    consents = db.session.scalars(
        sa.select(Consent).options(joinedload(Consent.recorded_by))
        .where(Consent.person_id == person.id).order_by(Consent.effective_at.desc(), Consent.id.desc())
    ).all()  # fmt: skip
    history = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.person_id == person.id).order_by(AuditLog.id.desc()).limit(100)
    ).all()
    return render_template(
        "contacts/people/show.html",
        person=person,
        memberships=memberships,
        consents=consents,
        history=history,
        consent_form=consent_form,
        account=account_of(person),
        empty_form=EmptyForm(),
    )


@bp.route("/<int:person_id>/bearbeiten", methods=["GET", "POST"])
@roles_required("office")
def edit(person_id: int):
    person = db.get_or_404(Person, person_id)
    # Not obj=person: WTForms would then take Tag objects and the enum instead of these values.
    form = PersonForm(
        data={name: getattr(person, name) for name in PersonForm.PERSON_FIELDS}
        | {"salutation": person.salutation.value if person.salutation else "", "tags": [t.name for t in person.tags]}
    )
    _tag_choices(form)
    if form.validate_on_submit():
        try:
            update_person(person, form.person_data(), actor=current_user)
            set_tags(person, form.tags.data or [], actor=current_user)
        except ValidationFailed as error:
            db.session.rollback()
            apply_to_form(form, error)
        else:
            db.session.commit()
            flash("Die Änderungen wurden gespeichert.", "success")
            return redirect(url_for("people.show", person_id=person.id))
    return render_template("contacts/people/form.html", form=form, person=person)


@bp.route("/<int:person_id>/loeschen", methods=["GET", "POST"])
@roles_required("office")
def delete(person_id: int):
    person = db.get_or_404(Person, person_id)
    if request.method == "POST":
        name = person.full_name
        try:
            delete_person(person, actor=current_user)
        except ValidationFailed as error:
            db.session.rollback()
            flash(error.message, "error")
            return redirect(url_for("people.show", person_id=person_id))
        db.session.commit()
        flash(f"{name} wurde gelöscht.", "success")
        return redirect(url_for("people.index"))
    return render_template("contacts/people/delete.html", person=person, impact=deletion_impact(person))


@bp.post("/<int:person_id>/einwilligung")
@roles_required("office")
def add_consent(person_id: int):
    person = _person_with_details(person_id)
    form = ConsentForm()
    if form.validate_on_submit():
        record_consent(
            person,
            actor=current_user,
            channel=ConsentChannel(form.channel.data),
            granted=form.granted.data == "yes",
            method=ConsentMethod.office,
            source=form.source.data,
        )
        db.session.commit()
        flash("Die Erklärung wurde im Einwilligungsnachweis erfasst.", "success")
        return redirect(url_for("people.show", person_id=person.id) + "#einwilligungen")
    return _render_show(person, form)
