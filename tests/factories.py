"""Test data factories: callables that create valid records with sensible defaults."""
import itertools

from flask import current_app

from crm.auth.models import Role, User
from crm.contacts.services.people import refresh_context_keys
from crm.contacts.models import Affiliation, ImportJob, Organization, OrganizationKind, Person, Salutation, Segment

_seq = itertools.count(1)


class Factories:
    def __init__(self, db):
        self.db = db

    def person(self, **kw) -> Person:
        n = next(_seq)
        kw.setdefault("first_name", "Kim")
        kw.setdefault("last_name", f"Beispiel{n}")
        kw.setdefault("email", f"person{n}@example.org")
        kw.setdefault("salutation", Salutation.frau)
        person = Person(**kw)
        self.db.session.add(person)
        self.db.session.flush()
        return person

    def organization(self, **kw) -> Organization:
        n = next(_seq)
        kw.setdefault("name", f"Beispielverband {n}")
        kw.setdefault("kind", OrganizationKind.association)
        organization = Organization(**kw)
        self.db.session.add(organization)
        self.db.session.flush()
        return organization

    def affiliation(self, person: Person, organization: Organization, **kw) -> Affiliation:
        kw.setdefault("is_primary", not any(a.is_primary for a in person.affiliations))
        affiliation = Affiliation(person=person, organization=organization, **kw)
        self.db.session.add(affiliation)
        self.db.session.flush()
        refresh_context_keys([person.id])  # as the services keep it: the person is found by the organization
        return affiliation

    def segment(self, **kw) -> Segment:
        kw.setdefault("name", f"Segment {next(_seq)}")
        kw.setdefault("filters", {})
        segment = Segment(**kw)
        self.db.session.add(segment)
        self.db.session.flush()
        return segment

    def import_job(self, **kw) -> ImportJob:
        """A job as after an upload of a small CSV file (written to the test import directory)."""
        from pathlib import Path

        directory = Path(current_app.config["IMPORT_DIR"])
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"factory-{next(_seq)}.csv"
        path.write_text("Vorname;Nachname;E-Mail\nKim;Beispiel;kim.beispiel@example.org\n", encoding="utf-8")
        kw.setdefault("filename", "liste.csv")
        job = ImportJob(
            stored_path=str(path), file_format="csv", encoding="utf-8", delimiter=";",
            headers=["Vorname", "Nachname", "E-Mail"], mapping={"0": "first_name", "1": "last_name", "2": "email"},
            total_rows=1, **kw,
        )  # fmt: skip
        self.db.session.add(job)
        self.db.session.flush()
        return job

    def change_request(self, person: Person, kind: str = "affiliation", **kw):
        from crm.portal.models import ChangeRequest, RequestKind

        kw.setdefault("data", {"organization": "Stadt Neuhausen", "position": "Amtsleitung"} if kind == "affiliation" else {})
        request = ChangeRequest(person=person, kind=RequestKind(kind), **kw)
        self.db.session.add(request)
        self.db.session.flush()
        return request

    def membership(self, **kw):
        """A membership through the service (numbered and audited); a new person is the member by default."""
        from crm.members.services import create_membership

        if "organization" not in kw:
            kw.setdefault("person", self.person())
        kw.setdefault("type", "regular")
        kw.setdefault("status", "active")
        membership = create_membership(actor=None, **kw)
        self.db.session.flush()
        return membership

    def merge(self):
        """Two people merged into one (the undo of which the test may try)."""
        from crm.contacts.merge import merge_people

        keep, remove = self.person(last_name="Zweifach"), self.person(last_name="Zweifach", email=None)
        merge = merge_people(keep, remove, choices={}, actor=None)
        self.db.session.flush()
        return merge

    def user(self, role: str = "office", password: str | None = None, person: Person | None = None, **kw) -> User:
        person = person or self.person()
        user = User(email=kw.pop("email", person.email), role=Role(role), person=person, **kw)
        if password:
            user.set_password(password, current_app.config["PASSWORD_HASH_METHOD"])
        self.db.session.add(user)
        self.db.session.commit()
        return user

    def draft_event(self, **kw):
        """An event on 20 November 2018, 11:30–13:00 Berlin time (a draft unless `status` says otherwise)."""
        from datetime import datetime, timedelta, timezone

        from crm.events.models import Event, EventKind

        n = next(_seq)
        kw.setdefault("title", f"Zukunftsworkshop {n}")
        kw.setdefault("kind", EventKind.workshop)
        kw.setdefault("starts_at", datetime(2018, 11, 20, 10, 30, tzinfo=timezone.utc))
        kw.setdefault("ends_at", kw["starts_at"] + timedelta(minutes=90))
        kw.setdefault("ical_uid", f"event-test-{n}@crm.test")
        event = Event(**kw)
        self.db.session.add(event)
        self.db.session.flush()
        return event

    def event(self, *, agenda: bool = False, **kw):
        """A published workshop two weeks ahead; agenda=True adds two sessions, the first with a speaker."""
        import uuid
        from datetime import timedelta

        from crm.events.models import Event, EventKind, EventSession, EventStatus, SessionSpeaker
        from crm.extensions import utcnow

        starts_at = kw.pop("starts_at", utcnow().replace(second=0, microsecond=0) + timedelta(days=14))
        kw.setdefault("title", f"Werkstatt Digitale Verwaltung {next(_seq)}")
        kw.setdefault("kind", EventKind.workshop)
        kw.setdefault("status", EventStatus.published)
        kw.setdefault("ends_at", starts_at + timedelta(hours=5))
        kw.setdefault("ical_uid", f"{uuid.uuid4()}@crm.test")
        event = Event(starts_at=starts_at, **kw)
        if agenda:
            opening = EventSession(position=0, title="Begrüßung und Impuls", starts_at=starts_at, ends_at=starts_at + timedelta(minutes=30))
            opening.speakers.append(SessionSpeaker(person=self.person(first_name="Michael", last_name="Dreier"), role_text="Bürgermeister"))
            event.sessions += [opening, EventSession(position=1, title="Werkstattgespräche", starts_at=starts_at + timedelta(hours=1))]
        self.db.session.add(event)
        self.db.session.flush()
        return event

    def invitation(self, event=None, person=None, **kw):
        """An invitation whose mail went out (status sent); its link works (crm.events.links)."""
        from crm.events.links import token_digest
        from crm.events.models import Invitation, InvitationStatus

        event = event or self.event()
        person = person or self.person(invitation_consent=True)
        kw.setdefault("status", InvitationStatus.sent)
        invitation = Invitation(event=event, person=person, token_digest=token_digest(event, person.id), **kw)
        self.db.session.add(invitation)
        self.db.session.flush()
        return invitation

    def newsletter(self, *, blocks: bool = True, **kw):
        """A draft newsletter with a text block, addressed to a segment of everybody."""
        from crm.newsletters.models import BlockKind, Newsletter, NewsletterBlock
        from crm.newsletters.sending import new_web_key

        kw.setdefault("subject", f"Neues aus dem Verein {next(_seq)}")
        kw.setdefault("preheader", "Rückblick und Termine")
        if "segment" not in kw and "segment_id" not in kw:
            kw["segment"] = self.segment()
        newsletter = Newsletter(web_key=new_web_key(), **kw)
        if blocks:
            newsletter.blocks.append(
                NewsletterBlock(kind=BlockKind.text, position=0, title="Liebe Mitglieder", body="Wir berichten **kurz**.")
            )
        self.db.session.add(newsletter)
        self.db.session.flush()
        return newsletter
