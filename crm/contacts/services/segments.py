"""Segments: named, saved people filters."""
from typing import Any

import sqlalchemy as sa

from crm.audit.services import apply_changes, record, snapshot
from crm.contacts.filters import PersonFilter
from crm.contacts.models import Segment
from crm.contacts.validation import clean
from crm.errors import ValidationFailed
from crm.extensions import db


def _check_name(name: str | None, segment: Segment | None = None) -> None:
    if not name:
        raise ValidationFailed("name", "Bitte geben Sie einen Namen an.")
    other = db.session.scalar(sa.select(Segment).where(sa.func.lower(Segment.name) == name.lower()))
    if other is not None and other is not segment:
        raise ValidationFailed("name", f"Ein Segment „{other.name}“ gibt es bereits.")


def create_segment(*, name: str, description: str | None, filters: dict[str, Any], actor) -> Segment:
    data = clean({"name": name, "description": description})
    _check_name(data["name"])
    segment = Segment(
        **data, filters=PersonFilter.from_args(filters).to_args(with_sort=False), created_by=actor
    )
    db.session.add(segment)
    record("create", segment, actor=actor, changes=snapshot(segment, Segment.AUDITED_FIELDS))
    return segment


def update_segment(segment: Segment, data: dict[str, Any], *, actor) -> dict:
    data = clean(data)
    if "name" in data:
        _check_name(data["name"], segment)
    if "filters" in data:
        data["filters"] = PersonFilter.from_args(data["filters"]).to_args(with_sort=False)
    changes = apply_changes(segment, data)
    if changes:
        record("update", segment, actor=actor, changes=changes)
    return changes


def delete_segment(segment: Segment, *, actor) -> None:
    record("delete", segment, actor=actor, changes=snapshot(segment, Segment.AUDITED_FIELDS))
    db.session.delete(segment)


def segment_filter(segment: Segment) -> PersonFilter:
    """The segment's filter; evaluated now, so it always means the current people."""
    return PersonFilter.from_args(segment.filters)
