"""Invitations to events: who is invited (and who not, and why), answers with capacity and waitlist,
answers on someone's behalf, check-in at the door, and the health data that must go after the event.

Services validate, audit and flush; they never commit. Mails are only queued here (crm.mail.pipeline);
the caller commits and then lets crm.events.sending deliver them.
"""
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.audit.services import actor_label, apply_changes, record
from crm.contacts.models import ConsentChannel, Person, Segment
from crm.contacts.services.segments import segment_filter
from crm.contacts.validation import clean, email_error, normalize_email
from crm.errors import ValidationFailed
from crm.events.links import token_digest
from crm.events.models import Event, EventStatus, Invitation, InvitationStatus
from crm.extensions import db, utcnow
from crm.mail.models import suppressed
from crm.mail.pipeline import insert_skipping_duplicates, queue
from crm.templating import datetime_de

INVITATION = "event_invitation"
WAITLIST_PROMOTED = "event_waitlist_promoted"
MAX_COMPANIONS = 5
#: Answers an invited person can give; the office can also reopen or withdraw an invitation.
ANSWERS = (InvitationStatus.accepted, InvitationStatus.tentative, InvitationStatus.declined)
OFFICE_ANSWERS = (InvitationStatus.sent, *ANSWERS, InvitationStatus.cancelled)
#: Statuses of people who still count on the event: they hear about changes and a cancellation.
CONCERNED = (InvitationStatus.accepted, InvitationStatus.tentative, InvitationStatus.waitlisted)
LINK_LABEL = "über den persönlichen Link"


class Exclusion(StrEnum):
    already_invited = "already_invited"
    no_email = "no_email"
    no_consent = "no_consent"
    suppressed = "suppressed"

    @property
    def label(self) -> str:
        return {
            "already_invited": "bereits eingeladen", "no_email": "keine E-Mail-Adresse",
            "no_consent": "keine Einwilligung für Einladungen", "suppressed": "Adresse gesperrt (abgemeldet oder unzustellbar)",
        }[self.value]  # fmt: skip


# --- who is invited ---------------------------------------------------------------------------------------------


def candidates(segment: Segment | None, person_ids: list[int]) -> sa.Select | None:
    """SELECT of the ids of everyone chosen: the segment's current people and the people picked one by one."""
    parts = []
    if segment is not None:
        parts.append(segment_filter(segment).ids())
    if person_ids:
        parts.append(sa.select(Person.id).where(Person.id.in_(person_ids)))
    return sa.union(*parts) if len(parts) > 1 else (parts[0] if parts else None)


def _exclusion(event: Event):
    """Why a person is not invited (first reason that applies), or NULL when they are."""
    invited = sa.select(Invitation.id).where(Invitation.event_id == event.id, Invitation.person_id == Person.id)
    return sa.case(
        (sa.exists(invited), Exclusion.already_invited.value),
        (Person.email.is_(None), Exclusion.no_email.value),
        (Person.invitation_consent.is_not(True), Exclusion.no_consent.value),
        (suppressed(Person.email, ConsentChannel.event_invitation), Exclusion.suppressed.value),
        else_=None,
    )


@dataclass
class RecipientPreview:
    invited: list[Person] = field(default_factory=list)
    invited_total: int = 0
    excluded: list[tuple[Person, Exclusion]] = field(default_factory=list)
    #: How many are left out, per reason.
    excluded_counts: dict[Exclusion, int] = field(default_factory=dict)

    @property
    def excluded_total(self) -> int:
        return sum(self.excluded_counts.values())


def preview_recipients(event: Event, segment: Segment | None, person_ids: list[int], *, limit: int = 100) -> RecipientPreview:
    """Who would be invited and who not (with the reason); lists are cut at `limit`, counts are complete."""
    chosen = candidates(segment, person_ids)
    if chosen is None:
        return RecipientPreview()
    reason = _exclusion(event).label("reason")
    scope = Person.id.in_(chosen)
    reasons = sa.select(reason).where(scope).subquery()
    counts = dict(db.session.execute(sa.select(reasons.c.reason, sa.func.count()).group_by(reasons.c.reason)).all())
    order = (Person.last_name, Person.first_name, Person.id)
    invited = db.session.scalars(
        sa.select(Person).where(scope, _exclusion(event).is_(None)).order_by(*order).limit(limit)
    ).all()
    excluded_rows = db.session.execute(
        sa.select(Person, reason).where(scope, _exclusion(event).is_not(None)).order_by(*order).limit(limit)
    ).all()
    return RecipientPreview(
        invited=list(invited), invited_total=counts.pop(None, 0),
        excluded=[(person, Exclusion(why)) for person, why in excluded_rows],
        excluded_counts={Exclusion(why): number for why, number in sorted(counts.items())},
    )  # fmt: skip


def is_over(event: Event, now: datetime | None = None) -> bool:
    """Ended (or marked done): answers stop, and the personal links with them."""
    return event.status == EventStatus.done or event.ends_at <= (now or utcnow())


def check_open_for_invitations(event: Event) -> None:
    if event.status == EventStatus.cancelled:
        raise ValidationFailed(None, "Die Veranstaltung ist abgesagt; es kann nicht mehr eingeladen werden.")
    if is_over(event):
        raise ValidationFailed(None, "Die Veranstaltung ist vorbei; es kann nicht mehr eingeladen werden.")


def invite(event: Event, *, segment: Segment | None, person_ids: list[int], actor, chunk: int = 1000) -> int:
    """Create the invitations of everyone eligible and queue their mails; returns how many are new.

    Running it twice (a double click, two tabs) adds nobody twice: the unique key of invitations and
    of deliveries both skip what exists.
    """
    check_open_for_invitations(event)
    chosen = candidates(segment, person_ids)
    if chosen is None:
        raise ValidationFailed(None, "Bitte wählen Sie ein Segment oder einzelne Personen aus.")
    ids = db.session.scalars(sa.select(Person.id).where(Person.id.in_(chosen), _exclusion(event).is_(None))).all()
    created = 0
    for start in range(0, len(ids), chunk):
        created += _create_invitations(event, ids[start : start + chunk], actor)
    queue(INVITATION, event.id, sa.select(Invitation.person_id).where(
        Invitation.event_id == event.id, Invitation.status == InvitationStatus.planned
    ))  # fmt: skip
    return created


def _create_invitations(event: Event, person_ids: list[int], actor) -> int:
    now = utcnow()
    rows = [
        {"event_id": event.id, "person_id": pid, "status": InvitationStatus.planned, "token_digest": token_digest(event, pid),
         "companions": 0, "created_at": now, "updated_at": now}
        for pid in person_ids
    ]  # fmt: skip
    stmt = insert_skipping_duplicates(Invitation.__table__).returning(Invitation.id, Invitation.person_id)
    inserted = db.session.execute(stmt, rows).all()
    if not inserted:
        return 0
    names = {
        row.id: " ".join(p for p in (row.title, row.first_name, row.last_name) if p)
        for row in db.session.execute(
            sa.select(Person.id, Person.title, Person.first_name, Person.last_name).where(Person.id.in_([p for _, p in inserted]))
        )
    }
    # One audit row per invitation, written in one statement.
    db.session.execute(sa.insert(AuditLog), [
        {"person_id": person_id, "actor_id": getattr(actor, "id", None), "actor_label": actor_label(actor),
         "action": "create", "entity_type": Invitation.__tablename__, "entity_id": invitation_id,
         "entity_label": f"Einladung {names[person_id]} – {event.title}"[:300], "changes": {"status": [None, "planned"]}}
        for invitation_id, person_id in inserted
    ])  # fmt: skip
    return len(inserted)


# --- answers ----------------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: InvitationStatus
    companions: int = 0
    companion_names: str | None = None
    note: str | None = None
    deputy_name: str | None = None
    deputy_email: str | None = None
    #: Dietary or access needs as written by format_needs() (Art. 9 DSGVO health data).
    needs: str | None = None


def closed_reason(event: Event, now: datetime | None = None) -> str | None:
    """Why an invited person can no longer answer or change their answer (German), or None."""
    now = now or utcnow()
    if event.status == EventStatus.cancelled:
        return "Diese Veranstaltung wurde abgesagt."
    if is_over(event, now):
        return "Die Veranstaltung ist vorbei. Antworten sind nicht mehr möglich."
    if event.rsvp_deadline is not None and event.rsvp_deadline <= now:
        return (f"Die Anmeldefrist ist am {datetime_de(event.rsvp_deadline)} abgelaufen. "
                "Für Änderungen wenden Sie sich bitte an die Geschäftsstelle.")  # fmt: skip
    return None


def places_taken(event: Event, *, excluding: Invitation | None = None) -> int:
    """Places held by accepted invitations: each person plus their companions."""
    stmt = sa.select(sa.func.coalesce(sa.func.sum(1 + Invitation.companions), 0)).where(
        Invitation.event_id == event.id, Invitation.status == InvitationStatus.accepted
    )
    if excluding is not None and excluding.id is not None:
        stmt = stmt.where(Invitation.id != excluding.id)
    return db.session.scalar(stmt)


def free_places(event: Event) -> int | None:
    return None if event.capacity is None else max(event.capacity - places_taken(event), 0)


def _lock(event: Event) -> None:
    """Serialize answers to one event (PostgreSQL row lock), so that two last places are not both given away."""
    db.session.execute(sa.select(Event.id).where(Event.id == event.id).with_for_update())


def _clean_answer(answer: Answer, allowed: tuple) -> Answer:
    if answer.status not in allowed:
        raise ValidationFailed("status", "Bitte wählen Sie eine Antwort aus.")
    data = {**clean(asdict(answer)), "status": answer.status}  # clean() would turn the StrEnum into a plain str
    data["deputy_email"] = normalize_email(data["deputy_email"])
    if not 0 <= (data["companions"] or 0) <= MAX_COMPANIONS:
        raise ValidationFailed("companions", f"Bitte geben Sie zwischen 0 und {MAX_COMPANIONS} Begleitpersonen an.")
    if bool(data["deputy_name"]) != bool(data["deputy_email"]):
        field_name = "deputy_email" if data["deputy_name"] else "deputy_name"
        raise ValidationFailed(field_name, "Bitte geben Sie Name und E-Mail-Adresse der Vertretung an.")
    if error := email_error(data["deputy_email"]):
        raise ValidationFailed("deputy_email", error)
    if data["status"] == InvitationStatus.declined:
        # Nobody comes: no companions, no deputy, and no health data kept for nothing.
        data.update(companions=0, companion_names=None, deputy_name=None, deputy_email=None, needs=None)
    data["companions"] = data["companions"] or 0
    return Answer(**data)


def _place(invitation: Invitation, companions: int) -> InvitationStatus:
    """Accepted if the person and companions fit; otherwise the waitlist (or a refusal for more companions)."""
    event = invitation.event
    if event.capacity is None:
        return InvitationStatus.accepted
    free = event.capacity - places_taken(event, excluding=invitation)
    if 1 + companions <= free:
        return InvitationStatus.accepted
    if invitation.status == InvitationStatus.accepted:
        most = max(free - 1, 0)
        raise ValidationFailed(
            "companions",
            f"Leider sind nicht mehr genug Plätze frei: Sie können höchstens {most} "
            f"{'Begleitperson' if most == 1 else 'Begleitpersonen'} anmelden.",
        )
    return InvitationStatus.waitlisted


def _audit(invitation: Invitation, action: str, changes: dict, actor) -> None:
    if "needs" in changes:  # health data stays out of the audit log (it would outlive the deletion)
        changes["needs"] = ["angegeben" if v else None for v in changes["needs"]]
    entry = record(action, invitation, actor=actor, changes=changes)
    if actor is None:
        entry.actor_label = LINK_LABEL


def respond(invitation: Invitation, answer: Answer, *, actor=None) -> list[Invitation]:
    """Record an answer; by the invited person (actor None: the link, within the deadline) or by staff.

    Returns the invitations that moved up from the waitlist because places became free; their mails are queued.
    """
    event = invitation.event
    by_office = actor is not None
    if not by_office and (reason := closed_reason(event)):
        raise ValidationFailed(None, reason)
    if not by_office and invitation.status == InvitationStatus.cancelled:
        raise ValidationFailed(None, "Diese Einladung wurde zurückgezogen. Bitte wenden Sie sich an die Geschäftsstelle.")
    if by_office and event.status == EventStatus.cancelled:
        raise ValidationFailed(None, "Die Veranstaltung ist abgesagt.")
    answer = _clean_answer(answer, OFFICE_ANSWERS if by_office else ANSWERS)
    _lock(event)
    status = _place(invitation, answer.companions) if answer.status == InvitationStatus.accepted else answer.status
    data = {**asdict(answer), "status": status}
    if status == InvitationStatus.waitlisted:
        data["waitlisted_at"] = invitation.waitlisted_at or utcnow()
    else:
        data["waitlisted_at"] = None
    changes = apply_changes(invitation, data)
    invitation.responded_at = utcnow()
    if changes:
        _audit(invitation, "update", {k: v for k, v in changes.items() if k != "waitlisted_at"}, actor)
    return fill_from_waitlist(event, actor=actor)


def fill_from_waitlist(event: Event, *, actor=None) -> list[Invitation]:
    """Move people up from the waitlist, first come first served, while they (with companions) fit."""
    if event.status == EventStatus.cancelled or is_over(event):
        return []
    waiting = db.session.scalars(
        sa.select(Invitation).where(Invitation.event_id == event.id, Invitation.status == InvitationStatus.waitlisted)
        .order_by(Invitation.waitlisted_at, Invitation.id)
    ).all()  # fmt: skip
    if not waiting:
        return []
    free = None if event.capacity is None else event.capacity - places_taken(event)
    promoted = []
    for invitation in waiting:
        needed = 1 + invitation.companions
        if free is not None and needed > free:
            continue  # a group that does not fit keeps its place in line; someone smaller may fit
        if free is not None:
            free -= needed
        invitation.status, invitation.waitlisted_at = InvitationStatus.accepted, None
        _audit(invitation, "update", {"status": ["waitlisted", "accepted"]}, actor)
        promoted.append(invitation)
    if promoted:
        queue(WAITLIST_PROMOTED, event.id, [i.person_id for i in promoted])
    return promoted


def check_in(invitation: Invitation, *, present: bool, actor) -> None:
    """Record (or take back) that the person came; at the door, so also after the answer deadline."""
    if (invitation.checked_in_at is not None) == present:
        return
    changes = apply_changes(invitation, {"checked_in_at": utcnow() if present else None})
    _audit(invitation, "update", changes, actor)


def status_counts(event: Event) -> dict[InvitationStatus, int]:
    rows = db.session.execute(
        sa.select(Invitation.status, sa.func.count()).where(Invitation.event_id == event.id).group_by(Invitation.status)
    ).all()
    found = dict(rows)
    return {status: found.get(status, 0) for status in InvitationStatus}
