"""Likely duplicates: review pairs, dismiss them, merge two people, undo a merge."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.contacts.duplicates import dismiss, likely_pairs
from crm.contacts.merge import FIELDS, merge_people, merged_values, undo_merge
from crm.contacts.merge_relations import preview
from crm.contacts.models import Person, PersonMerge
from crm.errors import ValidationFailed
from crm.extensions import db
from crm.security import roles_required

bp = Blueprint("duplicates", __name__, url_prefix="/personen/duplikate")

FIELD_LABELS = {
    "salutation": "Anrede", "title": "Titel", "first_name": "Vorname", "last_name": "Nachname", "email": "E-Mail",
    "phone": "Telefon", "mobile": "Mobil", "fax": "Fax", "language": "Sprache", "notes": "Notizen",
}  # fmt: skip


@bp.get("/")
@roles_required("office")
def index():
    return render_template("contacts/duplicates/index.html", pairs=likely_pairs())


@bp.post("/<int:a_id>/<int:b_id>/kein-duplikat")
@roles_required("office")
def dismiss_pair(a_id: int, b_id: int):
    a, b = db.get_or_404(Person, a_id), db.get_or_404(Person, b_id)
    dismiss(a, b)
    db.session.commit()
    flash(f"{a.full_name} und {b.full_name} werden nicht mehr als mögliches Duplikat vorgeschlagen.", "success")
    return redirect(url_for("duplicates.index"))


@bp.route("/<int:a_id>/<int:b_id>/zusammenfuehren", methods=["GET", "POST"])
@roles_required("office")
def merge(a_id: int, b_id: int):
    a, b = db.get_or_404(Person, a_id), db.get_or_404(Person, b_id)
    if request.method == "POST":
        keep, remove = (b, a) if request.form.get("keep") == str(b.id) else (a, b)
        choices = {name: ("remove" if request.form.get(name) == str(remove.id) else "keep") for name in FIELDS}
        try:
            merge_record = merge_people(keep, remove, choices=choices, actor=current_user)
        except ValidationFailed as error:
            db.session.rollback()
            flash(error.message, "error")
            return redirect(url_for("duplicates.merge", a_id=a_id, b_id=b_id))
        db.session.commit()
        flash(f"Die Datensätze wurden zu {keep.full_name} zusammengeführt. Rückgängig machen können Sie das im Protokoll.", "success")
        return redirect(url_for("people.show", person_id=keep.id) + f"#merge-{merge_record.id}")
    counts, held_by_both = preview(a.id, b.id)
    differing = [n for n in FIELDS if getattr(a, n) not in (None, "") and getattr(b, n) not in (None, "") and getattr(a, n) != getattr(b, n)]
    return render_template(
        "contacts/duplicates/merge.html", a=a, b=b, fields=FIELDS, labels=FIELD_LABELS, differing=differing,
        preview=merged_values(a, b, {}), counts=counts, held_by_both=held_by_both,
    )  # fmt: skip


@bp.post("/zusammenfuehrung/<int:merge_id>/rueckgaengig")
@roles_required("office")
def undo(merge_id: int):
    merge_record = db.get_or_404(PersonMerge, merge_id)
    try:
        restored, not_restored = undo_merge(merge_record, actor=current_user)
    except ValidationFailed as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("audit.index"))
    db.session.commit()
    flash(f"Die Zusammenführung wurde rückgängig gemacht; {restored.full_name} ist wieder ein eigener Datensatz.", "success")
    for note in not_restored:
        flash(note, "warning")
    return redirect(url_for("people.show", person_id=restored.id))
