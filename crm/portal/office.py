"""The office side of the portal: inviting people, deciding member requests."""
import sqlalchemy as sa

from crm.audit.services import apply_changes, record, snapshot
from crm.auth.models import Role, User
from crm.auth.services import send_password_link
from crm.contacts.models import OrganizationKind, Person
from crm.contacts.services import add_affiliation, create_organization, resolve_organization
from crm.errors import ValidationFailed
from crm.extensions import db, utcnow
from crm.portal.models import ChangeRequest, RequestKind, RequestStatus
from crm.privacy.erasure import erase_person


def account_of(person: Person) -> User | None:
    return db.session.scalar(sa.select(User).where(User.person_id == person.id))


def invite_to_portal(person: Person, *, actor) -> User:
    """Create a member login for `person` (or renew an unanswered invitation) and mail the link."""
    if not person.email:
        raise ValidationFailed(None, "Ohne E-Mail-Adresse kann niemand eingeladen werden.")
    if person.erased_at is not None:
        raise ValidationFailed(None, "Die Daten dieser Person wurden gelöscht.")
    user = account_of(person)
    if user is not None and not user.active:
        raise ValidationFailed(None, "Der Zugang ist deaktiviert; bitte aktivieren Sie ihn zuerst in der Benutzerverwaltung.")
    if user is not None and user.password_hash:
        raise ValidationFailed(None, f"{person.full_name} hat bereits einen Zugang.")
    owner = db.session.scalar(sa.select(User).where(User.email == person.email))
    if owner is not None and owner is not user:
        raise ValidationFailed(None, f"Die Adresse {person.email} gehört bereits zu einem anderen Zugang.")
    if user is None:
        user = User(email=person.email, role=Role.member, person=person, active=True)
        db.session.add(user)
        record("create", user, actor=actor, changes=snapshot(user, User.AUDITED_FIELDS))
    elif user.email != person.email:
        # The address was corrected since the last invitation: the login follows the person.
        record("update", user, actor=actor, changes=apply_changes(user, {"email": person.email}))
    send_password_link(user, actor=actor, welcome=True)
    return user


def _decide(request: ChangeRequest, status: RequestStatus, *, actor, note: str | None) -> None:
    if request.status != RequestStatus.open:
        raise ValidationFailed(None, "Dieser Antrag ist bereits entschieden.")
    request.status, request.decided_at, request.decided_by, request.decision_note = status, utcnow(), actor, note or None
    record("update", request, actor=actor, changes={"status": ["open", status.value], "decision_note": [None, note or None]})


def reject_request(request: ChangeRequest, *, actor, note: str | None) -> None:
    _decide(request, RequestStatus.rejected, actor=actor, note=note)


def approve_affiliation(request: ChangeRequest, *, actor, organization: str, position: str | None,
                        new_kind: str | None = None, note: str | None = None) -> None:  # fmt: skip
    """Give the member the reported role, at an existing organization or a new one (new_kind given)."""
    if request.kind != RequestKind.affiliation:
        raise ValidationFailed(None, "Dieser Antrag betrifft keine Funktion.")
    if new_kind:
        if new_kind not in OrganizationKind.__members__:
            raise ValidationFailed("new_kind", "Bitte wählen Sie eine gültige Art.")
        target = create_organization({"name": organization, "kind": OrganizationKind(new_kind)}, actor=actor)
    else:
        target = resolve_organization(organization)
        if target is None:
            raise ValidationFailed("organization", "Bitte geben Sie eine Organisation an.")
    _decide(request, RequestStatus.approved, actor=actor, note=note)
    add_affiliation(request.person, target, actor=actor, position=position or None)


def approve_erasure(request: ChangeRequest, *, actor, note: str | None = None) -> None:
    if request.kind != RequestKind.erasure:
        raise ValidationFailed(None, "Dieser Antrag betrifft keine Löschung.")
    _decide(request, RequestStatus.approved, actor=actor, note=note)
    erase_person(request.person, actor=actor)


def open_request_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).where(ChangeRequest.status == RequestStatus.open)) or 0
