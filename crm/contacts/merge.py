"""Merging two records of the same person without losing anything, and undoing a merge."""
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crm.audit.models import jsonable
from crm.audit.services import record
from crm.contacts import merge_relations as relations
from crm.contacts.models import Affiliation, Consent, ConsentChannel, Person, PersonMerge, Salutation, Tag
from crm.contacts.services.people import CONSENT_CACHE, refresh_context_keys
from crm.errors import ValidationFailed
from crm.extensions import db, utcnow

FIELDS = ("salutation", "title", "first_name", "last_name", "email", "phone", "mobile", "fax", "language", "notes")


def _user_of(person_id: int):
    from crm.auth.models import User

    return db.session.scalar(sa.select(User).where(User.person_id == person_id))


def _refresh_consent_cache(person: Person) -> None:
    for channel in ConsentChannel:
        latest = db.session.scalar(
            sa.select(Consent.granted).where(Consent.person_id == person.id, Consent.channel == channel)
            .order_by(Consent.effective_at.desc(), Consent.id.desc()).limit(1)
        )  # fmt: skip
        setattr(person, CONSENT_CACHE[channel], latest)


def merged_values(keep: Person, remove: Person, choices: dict[str, str]) -> dict[str, Any]:
    """The kept person's fields after the merge: chosen values; empty fields filled from the other."""
    values = {}
    for name in FIELDS:
        mine, theirs = getattr(keep, name), getattr(remove, name)
        if name == "notes" and mine and theirs and mine != theirs:
            values[name] = f"{mine}\n\n{theirs}"
        elif choices.get(name) == "remove" and theirs not in (None, ""):
            values[name] = theirs
        elif mine in (None, ""):
            values[name] = theirs
        else:
            values[name] = mine
    return values


def merge_people(keep: Person, remove: Person, *, choices: dict[str, str], actor) -> PersonMerge:
    """Move everything of `remove` to `keep`, delete `remove`, and record how to undo it."""
    if keep.id == remove.id:
        raise ValidationFailed(None, "Eine Person kann nicht mit sich selbst zusammengeführt werden.")
    removed_user, kept_user = _user_of(remove.id), _user_of(keep.id)
    if removed_user is not None and kept_user is not None:
        raise ValidationFailed(None, "Beide Personen haben einen Benutzerzugang. Bitte zuerst einen Zugang deaktivieren und der Geschäftsstelle melden.")
    kept_before = {name: jsonable(getattr(keep, name)) for name in FIELDS}
    removed_snapshot = {name: jsonable(getattr(remove, name)) for name in FIELDS}
    removed_snapshot.update(
        full_name=remove.full_name, created_at=jsonable(remove.created_at), tags=[t.id for t in remove.tags]
    )
    values = merged_values(keep, remove, choices)
    # Earlier merges into the person now merged away follow it to the kept person (its links and
    # data export find them there) and go back to it when this merge is undone.
    earlier = db.session.scalars(sa.select(PersonMerge.id).where(PersonMerge.kept_person_id == remove.id)).all()
    moved: dict[str, Any] = {
        "affiliations": [{"id": a.id, "primary": a.is_primary} for a in remove.affiliations],
        "tags_added": [t.id for t in remove.tags if t not in keep.tags],
        "user": removed_user.id if removed_user else None,
        "merges": earlier,
        **relations.move_dismissals(keep.id, remove.id),
    }

    # Roles move over; the kept person's primary role stays the primary one.
    has_primary = any(a.is_primary for a in keep.affiliations)
    for affiliation in list(remove.affiliations):
        if has_primary and affiliation.is_primary:
            affiliation.is_primary = False
        affiliation.person = keep
    keep.tags = list({t.id: t for t in [*keep.tags, *remove.tags]}.values())
    db.session.flush()
    rows, held_by_both = relations.move(keep.id, remove.id)
    moved.update(rows)
    db.session.execute(sa.update(PersonMerge).where(PersonMerge.id.in_(earlier)).values(kept_person_id=keep.id))
    if removed_user is not None:
        removed_user.person_id = keep.id

    removed_id = remove.id
    db.session.delete(remove)
    db.session.flush()  # frees the email address before the kept person may take it
    for name, value in values.items():
        setattr(keep, name, Salutation(value) if name == "salutation" and value else value)
    _refresh_consent_cache(keep)
    refresh_context_keys([keep.id])
    merge = PersonMerge(
        kept_person_id=keep.id, removed_person_id=removed_id, removed_snapshot=removed_snapshot,
        kept_before=kept_before, moved=moved, actor_id=getattr(actor, "id", None),
    )  # fmt: skip
    db.session.add(merge)
    changes = {n: [kept_before[n], jsonable(getattr(keep, n))] for n in FIELDS if kept_before[n] != jsonable(getattr(keep, n))}
    if summary := _summary(moved):
        changes["moved"] = [None, summary]
    if held_by_both:
        changes["held_by_both"] = [None, " ".join(held_by_both)]
    record("merge", merge, actor=actor, changes={"merged": [removed_snapshot["full_name"], keep.full_name], **changes})
    return merge


def _summary(moved: dict[str, Any]) -> str:
    """ "Einladungen: 2, Mitwirkungen im Programm: 1" of what moved (the history is the person's own)."""
    return ", ".join(f"{r.label}: {len(moved[r.key])}" for r in relations.RELATIONS if moved.get(r.key) and r.key != "audit")


def _merged_on(merge: PersonMerge, keep: Person) -> bool:
    """Whether the merge's kept record was itself merged away later (its merges then follow the new
    kept person, so that links and the person's data export find them)."""
    later = db.session.scalars(sa.select(PersonMerge).where(
        PersonMerge.kept_person_id == keep.id, PersonMerge.undone_at.is_(None), PersonMerge.id != merge.id
    ))  # fmt: skip
    return any(merge.id in m.moved.get("merges", []) for m in later)


def undo_merge(merge: PersonMerge, *, actor) -> tuple[Person, list[str]]:
    """Recreate the merged-away person and give back everything that was moved; returns that person and
    what could not be given back (German, also in the audit entry)."""
    if merge.undone_at is not None:
        raise ValidationFailed(None, "Diese Zusammenführung wurde bereits rückgängig gemacht.")
    keep = db.session.get(Person, merge.kept_person_id) if merge.kept_person_id else None
    if keep is None:
        raise ValidationFailed(None, "Die behaltene Person gibt es nicht mehr; die Zusammenführung kann nicht rückgängig gemacht werden.")
    if _merged_on(merge, keep):
        raise ValidationFailed(None, f"Der behaltene Datensatz wurde danach in {keep.full_name} zusammengeführt. "
                                     "Bitte machen Sie zuerst diese spätere Zusammenführung rückgängig.")  # fmt: skip
    # Before people ids were AUTOINCREMENT on SQLite (migration c4e8a2f6b913), a merged-away id could go to a new person.
    if db.session.get(Person, merge.removed_person_id) is not None:
        raise ValidationFailed(None, f"Die Nummer {merge.removed_person_id} des zusammengeführten Datensatzes ist inzwischen "
                                     "an eine andere Person vergeben; die Zusammenführung kann nicht rückgängig gemacht werden.")  # fmt: skip
    snapshot = merge.removed_snapshot
    email = snapshot.get("email")
    if email and email != merge.kept_before.get("email"):
        other = db.session.scalar(sa.select(Person).where(Person.email == email, Person.id != keep.id))
        if other is not None:
            raise ValidationFailed(None, f"Die Adresse {email} gehört inzwischen zu {other.full_name}.")
    for name in FIELDS:  # the kept person first gives the address back
        value = merge.kept_before.get(name)
        setattr(keep, name, Salutation(value) if name == "salutation" and value else value)
    db.session.flush()
    restored = Person(id=merge.removed_person_id, **{
        name: (Salutation(snapshot[name]) if name == "salutation" and snapshot.get(name) else snapshot.get(name))
        for name in FIELDS
    })  # fmt: skip
    restored.language = restored.language or "de"
    if snapshot.get("created_at"):
        restored.created_at = datetime.fromisoformat(snapshot["created_at"])
    db.session.add(restored)
    db.session.flush()
    for item in merge.moved.get("affiliations", []):
        affiliation = db.session.get(Affiliation, item["id"])
        if affiliation is not None and affiliation.person_id == keep.id:
            affiliation.person = restored
            affiliation.is_primary = item["primary"]
    restored.tags = db.session.scalars(sa.select(Tag).where(Tag.id.in_(snapshot.get("tags", [])))).all()
    keep.tags = [t for t in keep.tags if t.id not in set(merge.moved.get("tags_added", []))]
    not_restored = relations.give_back(merge.moved, keep.id, restored.id)
    relations.give_back_dismissals(merge.moved, keep.id, restored.id)
    if merge.moved.get("merges"):
        db.session.execute(sa.update(PersonMerge).where(PersonMerge.id.in_(merge.moved["merges"])).values(kept_person_id=restored.id))
    if merge.moved.get("user"):
        from crm.auth.models import User

        user = db.session.get(User, merge.moved["user"])
        if user is not None:
            user.person_id = restored.id
    db.session.flush()
    _refresh_consent_cache(keep)
    _refresh_consent_cache(restored)
    refresh_context_keys([keep.id, restored.id])
    merge.undone_at = utcnow()
    changes = {"merged": [keep.full_name, restored.full_name]} | ({"not_restored": not_restored} if not_restored else {})
    record("merge_undone", merge, actor=actor, changes=changes)
    return restored, not_restored
