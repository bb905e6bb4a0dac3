"""What members do in their own area: profile, email change, preferences, roles, requests.

Every write goes through the contact services, so it is validated and audited like an office
change, with the member as the actor.
"""
from crm.audit.services import record, snapshot
from crm.auth import tokens
from crm.auth.models import AccessToken, User
from crm.contacts.models import Affiliation, ConsentChannel, ConsentMethod, Person
from crm.contacts.services import email_error, end_affiliation, find_person_by_email, normalize_email
from crm.contacts.services import update_affiliation, update_person
from crm.contacts.services import preferences
from crm.errors import ValidationFailed
from crm.extensions import db, utcnow
from crm.mail.services import external_url, send_mail
from crm.portal.models import ChangeRequest, RequestKind, RequestStatus

#: The wording members agree to; stored with each consent as proof of what they saw.
WORDING = {
    ConsentChannel.newsletter: "Ich möchte den Newsletter per E-Mail erhalten. Abmeldung jederzeit im Mitgliederbereich "
    "oder über den Link in jeder Ausgabe.",
    ConsentChannel.event_invitation: "Ich möchte Einladungen zu Veranstaltungen per E-Mail erhalten. Abmeldung jederzeit "
    "im Mitgliederbereich.",
}
WORDING_VERSION = "portal-2026-11"
SOURCE = "Mitgliederbereich"


def update_profile(user: User, data: dict) -> dict:
    return update_person(user.person, data, actor=user)


# --- email address -----------------------------------------------------------------------------


def _address_taken(email: str, person: Person) -> bool:
    other = find_person_by_email(email)
    owner = db.session.scalar(db.select(User).where(User.email == email))
    return (other is not None and other is not person) or (owner is not None and owner.person_id != person.id)


def request_email_change(user: User, new_email: str) -> None:
    """Mail a confirmation link to the new address; nothing changes until it is opened."""
    email = normalize_email(new_email)
    if message := email_error(email):
        raise ValidationFailed("email", message)
    if email == user.email:
        raise ValidationFailed("email", "Das ist bereits Ihre E-Mail-Adresse.")
    if _address_taken(email, user.person):
        raise ValidationFailed("email", "Diese E-Mail-Adresse wird bereits verwendet. Bitte wenden Sie sich an die Geschäftsstelle.")
    link = external_url("portal.confirm_email", token=tokens.issue("email", user=user, person=user.person, email=email))
    send_mail(
        to_email=email,
        to_name=user.person.full_name,
        subject="Bitte bestätigen Sie Ihre neue E-Mail-Adresse",
        template="email_change",
        person=user.person,
        link=link,
        hours=tokens.max_age_hours("email"),
    )
    record("email_change_requested", user, actor=user, changes={"email": [user.email, f"{email} (unbestätigt)"]})


def confirm_email_change(token: AccessToken) -> str:
    """Switch person and login to the confirmed address; returns it."""
    user, email = token.user, token.data["email"]
    if _address_taken(email, user.person):
        raise ValidationFailed("email", "Diese E-Mail-Adresse wird inzwischen von einem anderen Zugang verwendet.")
    update_person(user.person, {"email": email}, actor=user)
    old = user.email
    user.email = email
    record("update", user, actor=user, changes={"email": [old, email]})
    tokens.use(token)
    return email


# --- preferences -------------------------------------------------------------------------------


def set_preferences(user: User, *, newsletter: bool, invitations: bool, tag_ids: list[int], ip: str | None,
                    user_agent: str | None) -> list[str]:  # fmt: skip
    """Record changed communication choices in the consent ledger and set the topics; returns what changed."""
    return preferences.set_preferences(
        user.person, actor=user, method=ConsentMethod.portal, source=SOURCE, wording=WORDING, wording_version=WORDING_VERSION,
        wanted={ConsentChannel.newsletter: newsletter, ConsentChannel.event_invitation: invitations}, tag_ids=tag_ids,
        ip=ip, user_agent=user_agent,
    )  # fmt: skip


# --- roles and requests ------------------------------------------------------------------------


def own_affiliation(user: User, affiliation_id: int) -> Affiliation | None:
    """A current role of this member, or None: members never reach other people's records by id,
    and ended roles stay as they were (they are history)."""
    affiliation = db.session.get(Affiliation, affiliation_id)
    mine = affiliation is not None and affiliation.person_id == user.person_id
    return affiliation if mine and affiliation.is_current else None


def update_own_affiliation(user: User, affiliation: Affiliation, data: dict) -> dict:
    return update_affiliation(affiliation, data, actor=user)


def end_own_affiliation(user: User, affiliation: Affiliation) -> dict:
    return end_affiliation(affiliation, actor=user)


def own_request(user: User, request_id: int) -> ChangeRequest | None:
    request = db.session.get(ChangeRequest, request_id)
    return request if request is not None and request.person_id == user.person_id else None


def open_requests(person: Person, kind: RequestKind | None = None) -> list[ChangeRequest]:
    stmt = db.select(ChangeRequest).where(ChangeRequest.person_id == person.id, ChangeRequest.status == RequestStatus.open)
    if kind:
        stmt = stmt.where(ChangeRequest.kind == kind)
    return db.session.scalars(stmt.order_by(ChangeRequest.created_at)).all()


def _create_request(user: User, kind: RequestKind, data: dict, message: str | None) -> ChangeRequest:
    request = ChangeRequest(person=user.person, kind=kind, data=data, message=message or None)
    db.session.add(request)
    record("create", request, actor=user, changes=snapshot(request, ChangeRequest.AUDITED_FIELDS))
    return request


def report_affiliation(user: User, *, organization: str, position: str | None, message: str | None) -> ChangeRequest:
    """A new organization or role the office checks before it appears in the member's record."""
    return _create_request(user, RequestKind.affiliation, {"organization": organization, "position": position}, message)


def request_erasure(user: User, *, password: str | None, message: str | None) -> ChangeRequest:
    if user.password_hash and not user.check_password(password or ""):
        raise ValidationFailed("password", "Das Passwort ist nicht richtig.")
    if open_requests(user.person, RequestKind.erasure):
        raise ValidationFailed(None, "Ihr Löschantrag liegt der Geschäftsstelle bereits vor.")
    return _create_request(user, RequestKind.erasure, {}, message)


def withdraw_request(user: User, request: ChangeRequest) -> None:
    if request.status != RequestStatus.open:
        raise ValidationFailed(None, "Dieser Antrag ist bereits entschieden.")
    request.status = RequestStatus.withdrawn
    request.decided_at = utcnow()
    record("update", request, actor=user, changes={"status": ["open", "withdrawn"]})
