"""Subscribing and unsubscribing without an account: double opt-in sign-up, one-click unsubscribe, and
the preference centre behind a personal link.

The proof of a sign-up (DSGVO Art. 7 (1), BGH I ZR 164/09) is kept in two places: the Signup row
holds the request (time, IP, user agent, wording and version), the confirmation mail (time, Message-ID,
the digest of the link's secret) and the confirmation (time, IP); the consent ledger row written on
confirmation repeats what it needs, so it stays provable after the sign-up row is gone.
"""
import hashlib
import logging
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from crm.contacts.models import ConsentChannel, ConsentMethod, Person, Tag
from crm.contacts.services import create_person, find_person_by_email, record_consent, set_tags
from crm.contacts.services.people import CONSENT_CACHE
from crm.contacts.services.preferences import set_preferences
from crm.contacts.validation import email_error, normalize_email
from crm.errors import ValidationFailed
from crm.extensions import db, utcnow
from crm.mail.models import Suppression, SuppressionReason, blocking
from crm.mail.pipeline import suppress
from crm.mail.services import external_url, send_mail
from crm.mail.suppressions import lift_unsubscribe
from crm.mail.transports import TransportError
from crm.newsletters.models import Signup
from crm.security import TokenExpired, TokenInvalid, load_token, make_token

logger = logging.getLogger(__name__)

SIGNUP_PURPOSE = "newsletters.signup"
SIGNUP_WORDING_VERSION = "anmeldung-2026-11"
SIGNUP_SOURCE = "Newsletter-Anmeldeformular"
#: A second sign-up of the same address within this time sends no second mail (the form cannot be
#: used to flood someone's mailbox); the visitor sees the same page either way.
RESEND_INTERVAL = timedelta(minutes=10)

PREFERENCES_WORDING = {
    ConsentChannel.newsletter: "Ich möchte den Newsletter per E-Mail erhalten. Abmeldung jederzeit über den Link in "
    "jeder Ausgabe oder auf dieser Seite.",
    ConsentChannel.event_invitation: "Ich möchte Einladungen zu Veranstaltungen per E-Mail erhalten. Abmeldung jederzeit "
    "über den Link in jeder Einladung oder auf dieser Seite.",
}
PREFERENCES_WORDING_VERSION = "einstellungen-2026-11"
PREFERENCES_SOURCE = "Einstellungsseite"

#: Where a withdrawal came from: the mail program's one-click request (RFC 8058), or the page's button.
ONE_CLICK_SOURCE = "List-Unsubscribe (One-Click im E-Mail-Programm)"
PAGE_SOURCE = "Abmeldeseite (Link in der E-Mail)"


def signup_wording() -> str:
    """The consent text next to the sign-up checkbox; stored with the sign-up as what was agreed to."""
    name = current_app.config["ORGANIZATION_NAME"]
    return (
        f"Ja, ich möchte den Newsletter von {name} per E-Mail erhalten: Nachrichten aus dem Netzwerk, Rückblicke auf "
        "Veranstaltungen und Hinweise auf kommende Termine. Meine Einwilligung kann ich jederzeit widerrufen, "
        "über den Abmeldelink in jeder Ausgabe oder per E-Mail an die Geschäftsstelle."
    )


def mask_email(email: str | None) -> str:
    """ "k***@example.org": enough for the owner to recognise, little for anyone else."""
    if not email:
        return ""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


# --- double opt-in sign-up ------------------------------------------------------------------------------------


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _mail_blocked(email: str) -> bool:
    """Hard bounces, complaints and the office's blocks: no mail at all, not even a confirmation request."""
    not_by_choice = Suppression.reason != SuppressionReason.unsubscribed
    return db.session.scalar(sa.select(sa.exists().where(Suppression.email == email, blocking(None), not_by_choice)))


def _recently_requested(email: str, now) -> bool:
    return db.session.scalar(
        sa.select(sa.exists().where(
            Signup.email == email, Signup.confirmed_at.is_(None), Signup.requested_at > now - RESEND_INTERVAL,
        ))
    )  # fmt: skip


def request_signup(*, email: str, first_name: str | None, last_name: str | None, tag_ids: list[int], ip: str | None,
                   user_agent: str | None) -> Signup | None:  # fmt: skip
    """Store a sign-up and mail its confirmation link now; None when no mail goes out (see _mail_blocked,
    RESEND_INTERVAL). The visitor is told the same either way, so the form reveals no address."""
    email = normalize_email(email)
    if not email or (message := email_error(email)):
        raise ValidationFailed("email", message or "Bitte geben Sie Ihre E-Mail-Adresse an.")
    now = utcnow()
    if _mail_blocked(email) or _recently_requested(email, now):
        logger.info("Sign-up of %s: no confirmation mail (blocked or just sent)", email)
        return None
    known_tags = db.session.scalars(sa.select(Tag.id).where(Tag.id.in_(tag_ids))).all() if tag_ids else []
    secret = secrets.token_urlsafe(24)
    signup = Signup(
        email=email, first_name=first_name or None, last_name=last_name or None, topics=sorted(known_tags),
        token_digest=_digest(secret), wording=signup_wording(), wording_version=SIGNUP_WORDING_VERSION,
        requested_at=now, request_ip=ip, user_agent=(user_agent or "")[:500] or None,
        expires_at=now + timedelta(seconds=current_app.config["SIGNUP_CONFIRM_MAX_AGE"]),
    )  # fmt: skip
    db.session.add(signup)
    db.session.flush()
    _send_confirmation(signup, make_token(SIGNUP_PURPOSE, secret))
    return signup


def _send_confirmation(signup: Signup, token: str) -> None:
    # The names typed into the form stay out of the mail: spammers use sign-up forms that repeat them
    # to send their text to strangers under our name.
    try:
        signup.message_id = send_mail(
            to_email=signup.email, to_name=None, subject="Bitte bestätigen Sie Ihre Anmeldung zum Newsletter",
            template="newsletter_confirm", signup=signup, link=external_url("subscription.confirm", token=token),
            hours=current_app.config["SIGNUP_CONFIRM_MAX_AGE"] // 3600,
        )  # fmt: skip
    except TransportError as error:
        logger.warning("Confirmation mail to %s failed: %s", signup.email, error)
        message = (
            "An diese Adresse können wir keine E-Mail zustellen. Bitte prüfen Sie die Schreibweise." if error.permanent
            else "Die Bestätigungs-E-Mail konnte gerade nicht versandt werden. "
                 "Bitte versuchen Sie es in einigen Minuten erneut."
        )  # fmt: skip
        raise ValidationFailed("email" if error.permanent else None, message) from error
    signup.mail_sent_at = utcnow()


def find_signup(token: str) -> Signup:
    """The sign-up behind a confirmation link (also when already confirmed); raises TokenExpired or TokenInvalid."""
    secret = load_token(SIGNUP_PURPOSE, token, current_app.config["SIGNUP_CONFIRM_MAX_AGE"])
    signup = None
    if isinstance(secret, str):
        signup = db.session.scalar(sa.select(Signup).where(Signup.token_digest == _digest(secret)))
    if signup is None:
        raise TokenExpired()  # a well-signed link whose sign-up is gone was purged after it expired
    if signup.confirmed_at is None and signup.expires_at <= utcnow():
        raise TokenExpired()
    return signup


def confirm_signup(signup: Signup, *, ip: str | None) -> Person:
    """Confirm the double opt-in: the person (found by address or created), the consent, the topics."""
    now = utcnow()
    # Claim the sign-up first: of two confirmations racing each other only one gets the row.
    claimed = db.session.execute(
        sa.update(Signup).where(Signup.id == signup.id, Signup.confirmed_at.is_(None)).values(confirmed_at=now, confirmed_ip=ip)
        .execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip
    if not claimed:
        raise TokenInvalid()
    person = find_person_by_email(signup.email)
    if person is None:
        person = create_person({
            "first_name": signup.first_name, "last_name": signup.last_name or signup.email, "email": signup.email,
            "notes": None if signup.last_name else "Über die Newsletter-Anmeldung angelegt; der Name wurde nicht angegeben.",
        }, actor=None)  # fmt: skip
    record_consent(
        person, actor=None, channel=ConsentChannel.newsletter, granted=True, method=ConsentMethod.form, source=SIGNUP_SOURCE,
        wording=signup.wording, wording_version=signup.wording_version, requested_at=signup.requested_at,
        request_ip=signup.request_ip, user_agent=signup.user_agent, confirmed_at=now, confirmed_ip=ip, effective_at=now,
    )  # fmt: skip
    chosen = db.session.scalars(sa.select(Tag).where(Tag.id.in_(signup.topics or []))).all()
    if any(tag not in person.tags for tag in chosen):  # topics are added, never taken away by a sign-up
        set_tags(person, [t.name for t in {*person.tags, *chosen}], actor=None)
    lift_unsubscribe(person.email, ConsentChannel.newsletter)
    signup.confirmed_at, signup.confirmed_ip, signup.person_id = now, ip, person.id
    db.session.flush()
    # Other open links of this address would only repeat the consent: they end here.
    db.session.execute(sa.delete(Signup).where(Signup.email == signup.email, Signup.confirmed_at.is_(None)))
    logger.info("Newsletter sign-up %s confirmed for person %s", signup.id, person.id)
    return person


def purge_expired(now=None) -> int:
    """Delete unconfirmed sign-ups whose link has expired; returns how many."""
    stmt = sa.delete(Signup).where(Signup.confirmed_at.is_(None), Signup.expires_at <= (now or utcnow()))
    return db.session.execute(stmt.execution_options(synchronize_session=False)).rowcount


# --- unsubscribe and preferences -------------------------------------------------------------------------------


def is_subscribed(person: Person, channel: ConsentChannel) -> bool:
    """Whether an unsubscribe would still change something (consent not yet withdrawn, or no block yet)."""
    if getattr(person, CONSENT_CACHE[channel]) is not False:
        return True
    if not person.email:
        return False
    return not db.session.scalar(sa.select(sa.exists().where(Suppression.email == person.email, blocking(channel))))


def unsubscribe(person: Person, channel: ConsentChannel, *, source: str, note: str = "Abmeldelink", ip: str | None = None,
                user_agent: str | None = None, requested_at: datetime | None = None) -> bool:  # fmt: skip
    """Withdraw consent for `channel` and block the address for it; returns False when that was done before.

    `source` says how the request came (ONE_CLICK_SOURCE, PAGE_SOURCE, a mail); it is the ledger's proof."""
    if not is_subscribed(person, channel):
        return False
    if getattr(person, CONSENT_CACHE[channel]) is not False:
        record_consent(
            person, actor=None, channel=channel, granted=False, method=ConsentMethod.unsubscribe, source=source[:300],
            requested_at=requested_at or utcnow(), request_ip=ip, user_agent=(user_agent or "")[:500] or None,
        )  # fmt: skip
    if person.email:
        suppress(person.email, SuppressionReason.unsubscribed, channel=channel, note=note)
    logger.info("Person %s unsubscribed from %s", person.id, channel.value)
    return True


def save_preferences(person: Person, *, newsletter: bool, invitations: bool, tag_ids: list[int], ip: str | None,
                     user_agent: str | None) -> list[str]:  # fmt: skip
    """The preference centre's form: changed choices into the ledger, topics audited; returns what changed."""
    return set_preferences(
        person, actor=None, method=ConsentMethod.link, source=PREFERENCES_SOURCE, wording=PREFERENCES_WORDING,
        wording_version=PREFERENCES_WORDING_VERSION, tag_ids=tag_ids, ip=ip, user_agent=user_agent,
        wanted={ConsentChannel.newsletter: newsletter, ConsentChannel.event_invitation: invitations},
    )  # fmt: skip
