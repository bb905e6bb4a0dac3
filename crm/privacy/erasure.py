"""Erasure (Art. 17 DSGVO): a person's data is anonymized everywhere, aggregates stay.

The person row stays as "Gelöschte Person" so that organizations, membership numbers, consent
counts and history keep adding up; everything that names or reaches the person goes. ERASERS
lists one step per table with personal data; a test fails when a model with a person reference
is added without one (and without a reader in export.py).
"""
import secrets
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from crm.audit.models import AuditLog
from crm.audit.services import record
from crm.auth.models import AccessToken, LoginAttempt, User
from crm.contacts.models import (
    Affiliation, Consent, ConsentChannel, ConsentMethod, DuplicateDismissal, ImportJob, ImportRowResult, ImportStatus,
    Person, PersonMerge, person_tags,
)  # fmt: skip
from crm.contacts.models.consents import REDACTABLE_COLUMNS
from crm.contacts.services import record_consent
from crm.contacts.services.people import CONSENT_CACHE, refresh_context_keys
from crm.errors import ValidationFailed
from crm.events.models import Invitation, SessionSpeaker, Statement
from crm.extensions import db, utcnow
from crm.mail.models import Delivery
from crm.members.models import Membership, MembershipStatus
from crm.newsletters.models import Signup
from crm.portal.models import ChangeRequest

ERASED_NAME = "Gelöschte Person"
REDACTED = "[gelöscht]"


class Erasure:
    """One erasure: what is known about the person before, and the steps that remove it."""

    def __init__(self, person: Person, actor):
        self.person, self.actor = person, actor
        self.user = db.session.scalar(sa.select(User).where(User.person_id == person.id))
        self.emails = {e for e in (person.email, self.user.email if self.user else None) if e}
        self.names = {n for n in (person.full_name, f"{person.first_name or ''} {person.last_name}".strip()) if n}

    def consents(self) -> None:
        # A withdrawal for every channel still granted, then the addresses and IPs go; that
        # consent existed and ended stays provable.
        for channel in ConsentChannel:
            if getattr(self.person, CONSENT_CACHE[channel]):
                record_consent(self.person, actor=self.actor, channel=channel, granted=False, method=ConsentMethod.office,
                               source="Löschung nach Art. 17 DSGVO")  # fmt: skip
        db.session.flush()
        db.session.execute(
            sa.update(Consent).where(Consent.person_id == self.person.id).values(**dict.fromkeys(REDACTABLE_COLUMNS, None))
        )

    def affiliations(self) -> None:
        today = date.today()
        for affiliation in db.session.scalars(sa.select(Affiliation).where(Affiliation.person_id == self.person.id)):
            affiliation.position = affiliation.department = None
            affiliation.is_primary = False
            if affiliation.is_current:
                affiliation.end_date = max(today, affiliation.start_date or today)
            affiliation.refresh_search_key()

    def memberships(self) -> None:
        for membership in db.session.scalars(sa.select(Membership).where(Membership.person_id == self.person.id)):
            membership.notes = None
            if membership.status != MembershipStatus.ended:
                membership.status = MembershipStatus.ended
                membership.end_date = max(date.today(), membership.start_date or date.today())

    def topics(self) -> None:
        db.session.execute(sa.delete(person_tags).where(person_tags.c.person_id == self.person.id))

    def account(self) -> None:
        if self.user is None:
            return
        # What the person did as a user stays in the log, without their address.
        db.session.execute(sa.update(AuditLog).where(AuditLog.actor_id == self.user.id).values(actor_label="Gelöschter Zugang"))
        db.session.delete(self.user)

    def login_attempts(self) -> None:
        db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.email.in_(self.emails)))

    def links(self) -> None:
        db.session.execute(sa.delete(AccessToken).where(AccessToken.person_id == self.person.id))

    def requests(self) -> None:
        db.session.execute(
            sa.update(ChangeRequest).where(ChangeRequest.person_id == self.person.id).values(data={}, message=None, decision_note=None)
        )

    def duplicates(self) -> None:
        pair = sa.or_(DuplicateDismissal.person_a_id == self.person.id, DuplicateDismissal.person_b_id == self.person.id)
        db.session.execute(sa.delete(DuplicateDismissal).where(pair))

    def merges(self) -> None:
        # The snapshots are the person's data; without them a merge can no longer be undone.
        db.session.execute(sa.delete(PersonMerge).where(PersonMerge.kept_person_id == self.person.id))

    def history(self) -> None:
        for entry in db.session.scalars(sa.select(AuditLog).where(AuditLog.person_id == self.person.id)):
            entry.changes = dict.fromkeys(entry.changes or {}, REDACTED)  # which fields changed, not to what
            entry.entity_label = ERASED_NAME if entry.entity_type == "people" else REDACTED

    def import_reports(self) -> None:
        terms = self.emails | self.names
        mentions = sa.or_(*[c.contains(t, autoescape=True) for t in terms for c in (ImportRowResult.label, ImportRowResult.message)])
        for row in db.session.scalars(sa.select(ImportRowResult).where(mentions)):
            row.label, row.message = REDACTED, _redact(row.message, terms)
        # Uploaded files of finished imports are no longer needed; those naming the person go.
        finished = sa.select(ImportJob).where(ImportJob.status.in_([ImportStatus.done, ImportStatus.failed]))
        for job in db.session.scalars(finished):
            _remove_if_mentions(Path(job.stored_path), self.emails)

    def outbox(self) -> None:
        """Mails kept as files (the embedded default's outbox) that were sent to the person."""
        directory = Path(current_app.config["MAIL_OUTBOX_DIR"])
        if current_app.config["MAIL_BACKEND"] == "file" and directory.is_dir():
            for path in directory.glob("*.eml"):
                _remove_if_mentions(path, self.emails)

    def invitations(self) -> None:
        # Status and companions stay for the event's figures; the link stops working.
        for invitation in db.session.scalars(sa.select(Invitation).where(Invitation.person_id == self.person.id)):
            invitation.note = invitation.companion_names = invitation.needs = None
            invitation.deputy_name = invitation.deputy_email = None
            invitation.token_digest = secrets.token_hex(32)

    def speaking(self) -> None:
        db.session.execute(sa.delete(SessionSpeaker).where(SessionSpeaker.person_id == self.person.id))

    def statements(self) -> None:
        # Written about the person's talk: without the person, it goes with the programme entry.
        db.session.execute(sa.delete(Statement).where(Statement.person_id == self.person.id))

    def signups(self) -> None:
        # The consent ledger keeps that and when consent was given; the request details go.
        mine = Signup.person_id == self.person.id
        if self.emails:
            mine = sa.or_(mine, Signup.email.in_(self.emails))
        db.session.execute(sa.delete(Signup).where(mine))

    def deliveries(self) -> None:
        # Counted as sent, without the address.
        db.session.execute(sa.update(Delivery).where(Delivery.person_id == self.person.id).values(email=None, last_error=None))

    def person_row(self) -> None:
        person = self.person
        for name in ("salutation", "title", "first_name", "email", "phone", "mobile", "fax", "notes"):
            setattr(person, name, None)
        person.last_name = ERASED_NAME
        person.erased_at = utcnow()
        person.refresh_search_key()
        db.session.flush()
        refresh_context_keys([person.id])


#: table -> step; the order matters (consents before the address goes, the person row last).
ERASERS = {
    "consents": Erasure.consents,
    "affiliations": Erasure.affiliations,
    "memberships": Erasure.memberships,
    "person_tags": Erasure.topics,
    "users": Erasure.account,
    "login_attempts": Erasure.login_attempts,
    "access_tokens": Erasure.links,
    "change_requests": Erasure.requests,
    "duplicate_dismissals": Erasure.duplicates,
    "person_merges": Erasure.merges,
    "audit_log": Erasure.history,
    "import_row_results": Erasure.import_reports,
    "invitations": Erasure.invitations,
    "session_speakers": Erasure.speaking,
    "statements": Erasure.statements,
    "newsletter_signups": Erasure.signups,
    "deliveries": Erasure.deliveries,
    "people": Erasure.person_row,
}


def _redact(text: str | None, terms: set[str]) -> str | None:
    for term in terms:
        text = text.replace(term, REDACTED) if text else text
    return text


def _remove_if_mentions(path: Path, emails: set[str]) -> None:
    try:
        content = path.read_bytes().lower()
    except OSError:
        return
    if any(e.encode() in content for e in emails):
        path.unlink(missing_ok=True)


def erase_person(person: Person, *, actor) -> None:
    """Anonymize `person` everywhere; the caller commits."""
    if person.erased_at is not None:
        raise ValidationFailed(None, "Die Daten dieser Person wurden bereits gelöscht.")
    erasure = Erasure(person, actor)
    for step in ERASERS.values():
        step(erasure)
    erasure.outbox()
    db.session.flush()
    record("erase", person, actor=actor, changes={"erased_at": [None, person.erased_at.isoformat()]})
