"""Segments: save the current people filter under a name; live count and preview."""
import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from crm.contacts.filters import PersonFilter, describe
from crm.contacts.forms import SegmentForm
from crm.contacts.models import Affiliation, Person, Segment, Tag
from crm.contacts.services.segments import create_segment, delete_segment, segment_filter, update_segment
from crm.errors import ValidationFailed, apply_to_form
from crm.extensions import db
from crm.security import roles_required

bp = Blueprint("segments", __name__, url_prefix="/segmente")

PREVIEW = 20


def _tag_names() -> dict[int, str]:
    return dict(db.session.execute(sa.select(Tag.id, Tag.name)).all())


def _filter_context(person_filter: PersonFilter) -> dict:
    """The filter, in words, and how many people it means now (for the segment pages)."""
    return {
        "filter": person_filter,
        "description": describe(person_filter, _tag_names()),
        "count": person_filter.count(db.session),
    }


@bp.get("/")
@roles_required("office")
def index():
    segments = db.session.scalars(sa.select(Segment).order_by(Segment.name)).all()
    tag_names = _tag_names()
    filters = [(s, segment_filter(s)) for s in segments]
    rows = [(s, f.count(db.session), describe(f, tag_names)) for s, f in filters]
    return render_template("contacts/segments/index.html", rows=rows)


@bp.route("/neu", methods=["GET", "POST"])
@roles_required("office")
def new():
    """Save the filter given in the arguments (from the people list) as a segment."""
    person_filter = PersonFilter.from_args(request.values)
    form = SegmentForm()
    if form.validate_on_submit():
        try:
            segment = create_segment(
                name=form.name.data, description=form.description.data, filters=person_filter.to_args(), actor=current_user
            )
        except ValidationFailed as error:
            db.session.rollback()
            apply_to_form(form, error)
        else:
            db.session.commit()
            flash(f"Das Segment „{segment.name}“ wurde gespeichert.", "success")
            return redirect(url_for("segments.show", segment_id=segment.id))
    return render_template(
        "contacts/segments/form.html",
        form=form,
        segment=None,
        **_filter_context(person_filter),
    )


@bp.get("/<int:segment_id>")
@roles_required("office")
def show(segment_id: int):
    segment = db.get_or_404(Segment, segment_id)
    person_filter = segment_filter(segment)
    preview = db.session.scalars(
        person_filter.statement()
        .options(selectinload(Person.affiliations).joinedload(Affiliation.organization))
        .limit(PREVIEW)
    ).all()
    return render_template(
        "contacts/segments/show.html",
        segment=segment,
        **_filter_context(person_filter),
        preview=preview,
    )


@bp.route("/<int:segment_id>/bearbeiten", methods=["GET", "POST"])
@roles_required("office")
def edit(segment_id: int):
    segment = db.get_or_404(Segment, segment_id)
    form = SegmentForm(obj=segment)
    if form.validate_on_submit():
        try:
            update_segment(segment, {"name": form.name.data, "description": form.description.data}, actor=current_user)
        except ValidationFailed as error:
            db.session.rollback()
            apply_to_form(form, error)
        else:
            db.session.commit()
            flash("Das Segment wurde gespeichert.", "success")
            return redirect(url_for("segments.show", segment_id=segment.id))
    person_filter = segment_filter(segment)
    return render_template(
        "contacts/segments/form.html",
        form=form,
        segment=segment,
        **_filter_context(person_filter),
    )


@bp.post("/<int:segment_id>/filter-uebernehmen")
@roles_required("office")
def replace_filter(segment_id: int):
    """Give the segment the filter currently shown in the people list."""
    segment = db.get_or_404(Segment, segment_id)
    update_segment(segment, {"filters": PersonFilter.from_args(request.form).to_args()}, actor=current_user)
    db.session.commit()
    flash(f"Das Segment „{segment.name}“ verwendet jetzt den aktuellen Filter.", "success")
    return redirect(url_for("segments.show", segment_id=segment.id))


@bp.post("/<int:segment_id>/loeschen")
@roles_required("office")
def delete(segment_id: int):
    segment = db.get_or_404(Segment, segment_id)
    name = segment.name
    delete_segment(segment, actor=current_user)
    db.session.commit()
    flash(f"Das Segment „{name}“ wurde gelöscht.", "success")
    return redirect(url_for("segments.index"))
