"""Invitation rules: who is invited and why not, no one twice, places and waitlist, deadlines, check-in."""
import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.errors import ValidationFailed
from crm.events.invitations import (
    Answer, Exclusion, check_in, closed_reason, fill_from_waitlist, invite, places_taken, preview_recipients, respond,
)  # fmt: skip
from crm.events.links import find_invitation, rsvp_token, token_digest
from crm.events.models import EventStatus, Invitation, InvitationStatus
from crm.events.participants import waitlist_position
from crm.extensions import db, utcnow
from crm.mail.models import Delivery, Suppression, SuppressionReason
from crm.security import TokenInvalid, load_token

ACCEPT, DECLINE, MAYBE = InvitationStatus.accepted, InvitationStatus.declined, InvitationStatus.tentative


def invitations(event) -> dict[int, Invitation]:
    db.session.expire_all()
    return {i.person_id: i for i in db.session.scalars(sa.select(Invitation).where(Invitation.event_id == event.id))}


@pytest.fixture()
def people(make):
    """One person for each way of (not) being invited."""
    group = make.segment(filters={"q": "Rathaus"})
    people = {
        "yes": make.person(last_name="Rathaus-Ja", invitation_consent=True),
        "no_email": make.person(last_name="Rathaus-OhneMail", email=None, invitation_consent=True),
        "no_consent": make.person(last_name="Rathaus-Nie"),
        "withdrawn": make.person(last_name="Rathaus-Widerruf", invitation_consent=False),
        "suppressed": make.person(last_name="Rathaus-Gesperrt", email="gesperrt@example.org", invitation_consent=True),
        "invited": make.person(last_name="Rathaus-Schon", invitation_consent=True),
        "single": make.person(last_name="Einzeln", invitation_consent=True),
    }
    db.session.add(Suppression(email="gesperrt@example.org", reason=SuppressionReason.hard_bounce))
    return group, people


def test_preview_names_who_is_invited_and_why_others_are_not(make, people):
    segment, p = people
    event = make.event()
    make.invitation(event=event, person=p["invited"])

    preview = preview_recipients(event, segment, [p["single"].id, p["yes"].id])

    assert [x.id for x in preview.invited] == [p["single"].id, p["yes"].id]
    assert preview.invited_total == 2
    assert {person.id: reason for person, reason in preview.excluded} == {
        p["no_email"].id: Exclusion.no_email, p["no_consent"].id: Exclusion.no_consent,
        p["withdrawn"].id: Exclusion.no_consent, p["suppressed"].id: Exclusion.suppressed,
        p["invited"].id: Exclusion.already_invited,
    }  # fmt: skip
    assert preview.excluded_counts[Exclusion.no_consent] == 2 and preview.excluded_total == 5
    assert Exclusion.suppressed.label.startswith("Adresse gesperrt")


def test_invite_creates_invitations_and_deliveries_once_even_if_started_twice(make, people):
    segment, p = people
    event = make.event()
    office = make.user(role="office")

    assert invite(event, segment=segment, person_ids=[p["single"].id], actor=office) == 3  # yes, invited (not yet), single
    assert invite(event, segment=segment, person_ids=[p["single"].id], actor=office) == 0

    rows = invitations(event)
    assert set(rows) == {p["yes"].id, p["invited"].id, p["single"].id}
    assert {i.status for i in rows.values()} == {InvitationStatus.planned}
    assert all(i.token_digest == token_digest(event, i.person_id) for i in rows.values())
    deliveries = db.session.scalars(sa.select(Delivery).where(Delivery.subject_id == event.id)).all()
    assert sorted(d.person_id for d in deliveries) == sorted(rows) and {d.mailing for d in deliveries} == {"event_invitation"}
    audit = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "invitations")).all()
    assert len(audit) == 3 and {a.actor_label for a in audit} == {office.email}
    assert f"Einladung Kim Einzeln – {event.title}" in {a.entity_label for a in audit}


def test_invite_needs_a_choice_and_an_open_event(make):
    event = make.event()
    with pytest.raises(ValidationFailed, match="Segment oder einzelne Personen"):
        invite(event, segment=None, person_ids=[], actor=None)
    event.status = EventStatus.cancelled
    with pytest.raises(ValidationFailed, match="abgesagt"):
        invite(event, segment=None, person_ids=[make.person().id], actor=None)
    past = make.event(starts_at=utcnow() - timedelta(days=2))
    with pytest.raises(ValidationFailed, match="vorbei"):
        invite(past, segment=None, person_ids=[make.person().id], actor=None)


# --- tokens -----------------------------------------------------------------------------------------------------


def test_the_token_reveals_nothing_and_finds_its_invitation(make):
    invitation = make.invitation()
    token = rsvp_token(invitation)
    secret = load_token("rsvp", token, 60)  # all the link carries: a random-looking secret
    assert isinstance(secret, str) and len(secret) == 32
    assert invitation.person.last_name not in secret and invitation.person.email not in secret
    assert invitation.token_digest == hashlib.sha256(secret.encode()).hexdigest()  # only its digest is stored
    assert find_invitation(token) == invitation
    other = make.invitation(event=invitation.event)
    assert rsvp_token(other) != token


@pytest.mark.parametrize("mangle", [lambda t: t[:-5] + ("A" if t[-5] != "A" else "B") + t[-4:], lambda t: "x" + t, lambda t: "", lambda t: t.replace(".", "", 1)])
def test_tampered_tokens_are_refused(make, mangle):
    token = rsvp_token(make.invitation())
    with pytest.raises(TokenInvalid):
        find_invitation(mangle(token) or "leer")


def test_a_token_of_an_erased_digest_or_another_purpose_is_refused(make):
    from crm.security import make_token

    invitation = make.invitation()
    token = rsvp_token(invitation)
    invitation.token_digest = "0" * 64  # as erasure does
    with pytest.raises(TokenInvalid):
        find_invitation(token)
    with pytest.raises(TokenInvalid):
        find_invitation(make_token("password", "irgendwas"))


# --- answers, capacity, waitlist ----------------------------------------------------------------------------------


def test_accepting_counts_companions_against_capacity_and_then_waitlists(make):
    event = make.event(capacity=4)
    first, second, third = (make.invitation(event=event) for _ in range(3))

    respond(first, Answer(ACCEPT, companions=2))
    respond(second, Answer(ACCEPT, companions=1))  # needs 2, only 1 free
    respond(third, Answer(ACCEPT))

    assert (first.status, second.status, third.status) == (ACCEPT, InvitationStatus.waitlisted, ACCEPT)
    assert places_taken(event) == 4
    assert second.waitlisted_at is not None and waitlist_position(second) == 1


def test_declining_moves_the_first_in_line_up_and_mails_them(make):
    event = make.event(capacity=2)
    a, x, b, c, d = (make.invitation(event=event) for _ in range(5))
    respond(a, Answer(ACCEPT))
    respond(x, Answer(ACCEPT))
    respond(b, Answer(ACCEPT))
    respond(c, Answer(ACCEPT))
    b.waitlisted_at -= timedelta(minutes=1)  # b asked first
    assert [waitlist_position(b), waitlist_position(c)] == [1, 2]

    promoted = respond(a, Answer(DECLINE))

    assert promoted == [b]
    assert (b.status, b.waitlisted_at, c.status) == (ACCEPT, None, InvitationStatus.waitlisted)
    assert waitlist_position(c) == 1
    mails = db.session.scalars(sa.select(Delivery.person_id).where(Delivery.mailing == "event_waitlist_promoted")).all()
    assert mails == [b.person_id]
    assert respond(d, Answer(DECLINE)) == []  # nothing freed, nobody moves


def test_a_group_that_does_not_fit_keeps_its_place_while_someone_smaller_moves_up(make):
    event = make.event(capacity=2)
    holder, group, single = (make.invitation(event=event) for _ in range(3))
    respond(holder, Answer(ACCEPT, companions=1))
    respond(group, Answer(ACCEPT, companions=2))
    respond(single, Answer(ACCEPT))
    respond(holder, Answer(ACCEPT, companions=0))  # one place frees up

    assert (group.status, single.status) == (InvitationStatus.waitlisted, ACCEPT)


def test_more_companions_than_places_are_refused_for_someone_already_accepted(make):
    event = make.event(capacity=3)
    a, b = make.invitation(event=event), make.invitation(event=event)
    respond(a, Answer(ACCEPT))
    respond(b, Answer(ACCEPT))
    with pytest.raises(ValidationFailed, match="höchstens 1 Begleitperson anmelden") as refused:
        respond(a, Answer(ACCEPT, companions=2))
    assert refused.value.field == "companions"


def test_raising_the_capacity_lets_the_waitlist_move_up(make):
    event = make.event(capacity=1)
    a, b = make.invitation(event=event), make.invitation(event=event)
    respond(a, Answer(ACCEPT))
    respond(b, Answer(ACCEPT))
    event.capacity = 2
    assert fill_from_waitlist(event) == [b]


def test_declining_forgets_companions_deputy_and_needs(make):
    invitation = make.invitation()
    respond(invitation, Answer(ACCEPT, companions=2, companion_names="A, B", deputy_name="Dora Deputy",
                               deputy_email="Dora@Example.org", needs="vegan", note="Komme später"))  # fmt: skip
    assert invitation.deputy_email == "dora@example.org"
    respond(invitation, Answer(DECLINE, companions=2, needs="vegan", note="Leider krank"))
    assert (invitation.companions, invitation.deputy_name, invitation.needs, invitation.note) == (0, None, None, "Leider krank")


@pytest.mark.parametrize(("answer", "field", "message"), [
    (Answer(ACCEPT, companions=9), "companions", "zwischen 0 und 5"),
    (Answer(ACCEPT, deputy_name="Dora"), "deputy_email", "Name und E-Mail-Adresse der Vertretung"),
    (Answer(ACCEPT, deputy_email="dora@example.org"), "deputy_name", "Name und E-Mail-Adresse der Vertretung"),
    (Answer(ACCEPT, deputy_name="Dora", deputy_email="kein-at"), "deputy_email", "gültige E-Mail-Adresse"),
    (Answer(InvitationStatus.cancelled), "status", "Bitte wählen Sie eine Antwort"),
])  # fmt: skip
def test_invalid_answers_are_refused_in_german(make, answer, field, message):
    with pytest.raises(ValidationFailed, match=message) as refused:
        respond(make.invitation(), answer)
    assert refused.value.field == field


def test_no_changes_after_the_deadline_or_the_event_but_the_office_may(make):
    event = make.event(rsvp_deadline=utcnow() - timedelta(hours=1))
    invitation = make.invitation(event=event)
    with pytest.raises(ValidationFailed, match="Anmeldefrist ist am .* abgelaufen"):
        respond(invitation, Answer(ACCEPT))
    office = make.user(role="office")
    respond(invitation, Answer(ACCEPT), actor=office)
    assert invitation.status == ACCEPT

    event.rsvp_deadline = None
    event.starts_at, event.ends_at = utcnow() - timedelta(hours=3), utcnow() - timedelta(hours=1)
    assert closed_reason(event) == "Die Veranstaltung ist vorbei. Antworten sind nicht mehr möglich."
    event.status = EventStatus.cancelled
    assert closed_reason(event) == "Diese Veranstaltung wurde abgesagt."
    with pytest.raises(ValidationFailed, match="abgesagt"):
        respond(invitation, Answer(DECLINE), actor=office)


def test_a_withdrawn_invitation_cannot_be_answered_by_link(make):
    invitation = make.invitation(status=InvitationStatus.cancelled)
    with pytest.raises(ValidationFailed, match="zurückgezogen"):
        respond(invitation, Answer(ACCEPT))


def test_answers_are_audited_without_health_data(make):
    invitation = make.invitation()
    respond(invitation, Answer(ACCEPT, needs="vegan; Sonstiges: Diabetes"))
    office = make.user(role="office")
    respond(invitation, Answer(MAYBE, needs="vegan"), actor=office)
    entries = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.entity_type == "invitations", AuditLog.entity_id == invitation.id).order_by(AuditLog.id)
    ).all()
    assert [e.actor_label for e in entries] == ["über den persönlichen Link", office.email]
    assert entries[0].changes["status"] == ["sent", "accepted"]
    assert entries[0].changes["needs"] == [None, "angegeben"]
    assert "Diabetes" not in str([e.changes for e in entries]) and "vegan" not in str([e.changes for e in entries])


def test_check_in_and_back(make):
    invitation = make.invitation(status=ACCEPT)
    office = make.user(role="office")
    check_in(invitation, present=True, actor=office)
    first = invitation.checked_in_at
    assert first is not None
    check_in(invitation, present=True, actor=office)
    assert invitation.checked_in_at == first  # a second tap changes nothing
    check_in(invitation, present=False, actor=office)
    assert invitation.checked_in_at is None
