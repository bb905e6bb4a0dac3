"""A person with something in every table that can hold personal data."""
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from crm.auth.models import LoginAttempt
from crm.auth import tokens
from crm.contacts.merge import merge_people
from crm.contacts.models import ConsentChannel, ConsentMethod, DuplicateDismissal, ImportRowResult
from crm.contacts.services import record_consent, set_tags, update_person
from crm.events.models import Event, EventKind, EventSession, Invitation, InvitationStatus, SessionSpeaker
from crm.mail.models import Delivery, DeliveryStatus
from crm.members.services import create_membership
from tests.conftest import PASSWORD

NAME, EMAIL = "Quastenberg", "quirin.quastenberg@example.org"


@pytest.fixture()
def rich_person(db, make, mailbox):
    """Quirin Quastenberg: role, membership, consents, topics, login, links, requests, merge, history."""
    organization = make.organization(name="Gemeinde Quellental", city="Quellental")
    person = make.person(first_name="Quirin", last_name=NAME, email=EMAIL, phone="030 1234567", notes="Ruft gern abends an.")
    make.affiliation(person, organization, position="Bürgermeister", department="Hauptamt")
    user = make.user(role="member", password=PASSWORD, person=person)
    office = make.user(role="office", password=PASSWORD)
    update_person(person, {"mobile": "0171 2345678"}, actor=office)
    set_tags(person, ["Digitalisierung"], actor=user)
    record_consent(person, actor=user, channel=ConsentChannel.newsletter, granted=True, method=ConsentMethod.portal,
                   source="Mitgliederbereich", request_ip="192.0.2.7", user_agent="Firefox")  # fmt: skip
    create_membership(actor=office, type="regular", status="active", person=person, notes="Beitrag per Lastschrift")
    db.session.add(LoginAttempt(email=EMAIL, ip="192.0.2.7", succeeded=True))
    tokens.issue("login", user=user)
    make.change_request(person, message="Bitte neue Funktion eintragen, Quirin Quastenberg")
    twin = make.person(first_name="Quirin", last_name=NAME, email="q.quastenberg.alt@example.org")
    merge_people(person, twin, choices={}, actor=office)
    other = make.person(last_name="Anders")
    low, high = sorted((person.id, other.id))
    db.session.add(DuplicateDismissal(person_a_id=low, person_b_id=high))
    job = make.import_job()
    db.session.add(ImportRowResult(job_id=job.id, row=2, action="create", message=f"Neue Person {EMAIL}", label=f"Quirin {NAME}"))
    event = Event(title="Zukunftswerkstatt", kind=EventKind.workshop, starts_at=datetime(2026, 12, 1, 9, tzinfo=UTC),
                  ends_at=datetime(2026, 12, 1, 12, tzinfo=UTC), ical_uid="erasure-test@example.org")  # fmt: skip
    session = EventSession(event=event, title="Impuls")
    db.session.add_all([event, session, SessionSpeaker(session=session, person=person, role_text="Bürgermeister von Quellental")])
    db.session.add(Invitation(event=event, person=person, token_digest="0" * 64, status=InvitationStatus.accepted, companions=1,
                              companion_names="Quintus Quastenberg", note="Komme mit dem Zug", deputy_name="Quentin Quastenberg",
                              deputy_email="quentin@example.org", needs="vegetarisch"))  # fmt: skip
    db.session.add(Delivery(mailing="event_invitation", subject_id=1, person=person, email=EMAIL, status=DeliveryStatus.sent))
    db.session.commit()
    return db.session.get(type(person), person.id)


def dump_all(db) -> str:
    """Every row of every table as text: what a copy of the database would reveal."""
    parts = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)):
            parts.append(repr(tuple(row)))
    return "\n".join(parts)
