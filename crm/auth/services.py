"""Accounts: login with throttling, creating and changing users, password links."""
import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from crm.audit.services import apply_changes, record, snapshot
from crm.auth import tokens
from crm.auth.models import AccessToken, LoginAttempt, Role, User
from crm.contacts.services import create_person, email_error, find_person_by_email, normalize_email
from crm.errors import ValidationFailed
from crm.extensions import db, utcnow
from crm.mail.services import external_url, send_mail

logger = logging.getLogger(__name__)


class LoginRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


WRONG_CREDENTIALS = "E-Mail-Adresse oder Passwort ist falsch."


def find_user_by_email(email: str | None) -> User | None:
    email = normalize_email(email)
    return db.session.scalar(sa.select(User).where(User.email == email)) if email else None


def throttle_wait_minutes(email: str, ip: str | None) -> int:
    """Minutes until the next try is allowed for this address or IP (0: allowed now)."""
    config = current_app.config
    window = timedelta(seconds=config["LOGIN_THROTTLE_WINDOW"])
    since = utcnow() - window
    last_success = db.session.scalar(
        sa.select(sa.func.max(LoginAttempt.created_at)).where(LoginAttempt.email == email, LoginAttempt.succeeded)
    )
    failed = sa.select(sa.func.count(), sa.func.min(LoginAttempt.created_at)).where(
        ~LoginAttempt.succeeded, LoginAttempt.created_at > max(since, last_success or since)
    )
    by_email = db.session.execute(failed.where(LoginAttempt.email == email)).one()
    # An IP may fail more often (an office behind one NAT), but not endlessly.
    by_ip = db.session.execute(failed.where(LoginAttempt.ip == ip)).one() if ip else (0, None)
    limit = config["LOGIN_THROTTLE_LIMIT"]
    for (count, oldest), allowed in ((by_email, limit), (by_ip, limit * 4)):
        if count >= allowed:
            remaining = (oldest + window - utcnow()).total_seconds()
            return max(1, int(remaining // 60) + 1)
    return 0


def authenticate(email: str, password: str, *, ip: str | None) -> User:
    """The user for these credentials; raises LoginRefused with a German message."""
    email = normalize_email(email) or ""
    minutes = throttle_wait_minutes(email, ip)
    if minutes:
        raise LoginRefused(
            f"Zu viele fehlgeschlagene Anmeldeversuche. Bitte versuchen Sie es in {minutes} Minuten erneut."
        )
    user = find_user_by_email(email)
    ok = user is not None and user.check_password(password)
    db.session.add(LoginAttempt(email=email, ip=ip, succeeded=ok))
    if not ok:
        raise LoginRefused(WRONG_CREDENTIALS)
    if not user.active:
        raise LoginRefused("Ihr Zugang ist deaktiviert. Bitte wenden Sie sich an die Geschäftsstelle.")
    user.last_login_at = utcnow()
    return user


def password_error(password: str) -> str | None:
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        return f"Das Passwort muss mindestens {minimum} Zeichen lang sein."
    return None


def create_user(
    *, email: str, role: str, actor, first_name=None, last_name=None, salutation=None, password=None
) -> User:
    """Create a login linked to the person with this email (created if there is none)."""
    email = normalize_email(email)
    if not email or (message := email_error(email)):
        raise ValidationFailed("email", message or "Bitte geben Sie eine E-Mail-Adresse an.")
    if role not in Role.__members__:
        raise ValidationFailed("role", "Bitte wählen Sie eine gültige Rolle.")
    if find_user_by_email(email) is not None:
        raise ValidationFailed("email", "Für diese E-Mail-Adresse gibt es bereits einen Zugang.")
    person = find_person_by_email(email)
    if person is None:
        person = create_person(
            {
                "email": email,
                "first_name": first_name,
                "last_name": last_name or email.split("@")[0],
                "salutation": salutation or None,
            },
            actor=actor,
        )
    elif db.session.scalar(sa.select(User).where(User.person_id == person.id)) is not None:
        raise ValidationFailed("email", f"{person.full_name} hat bereits einen Zugang.")
    user = User(email=email, role=Role(role), person=person, active=True)
    if password is not None:
        if message := password_error(password):
            raise ValidationFailed("password", message)
        user.set_password(password, current_app.config["PASSWORD_HASH_METHOD"])
    db.session.add(user)
    record("create", user, actor=actor, changes=snapshot(user, User.AUDITED_FIELDS))
    logger.info("User %s (%s) created by %s", email, role, getattr(actor, "email", "system"))
    return user


def _active_admin_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).where(User.role == Role.admin, User.active)) or 0


def update_user(user: User, *, actor, role: str | None = None, active: bool | None = None) -> dict:
    """Change role or active flag; refuses to lock out the acting admin or the last admin."""
    data = {}
    if role is not None:
        if role not in Role.__members__:
            raise ValidationFailed("role", "Bitte wählen Sie eine gültige Rolle.")
        data["role"] = Role(role)
    if active is not None:
        data["active"] = active
    loses_admin = user.role == Role.admin and user.active and (
        data.get("role", Role.admin) != Role.admin or data.get("active", True) is False
    )
    if loses_admin and user.id == getattr(actor, "id", None):
        raise ValidationFailed("role", "Sie können sich nicht selbst die Administration entziehen oder deaktivieren.")
    if loses_admin and _active_admin_count() <= 1:
        raise ValidationFailed("role", "Es muss mindestens eine aktive Administration geben.")
    changes = apply_changes(user, data)
    if changes.get("active") == [True, False]:
        user.end_sessions()
    if changes:
        record("update", user, actor=actor, changes=changes)
    return changes


def send_password_link(user: User, *, actor, welcome: bool = False) -> None:
    """Mail a link to set a new password, or for a new account (welcome) the first one."""
    purpose = "invitation" if welcome else "password"
    link = external_url("auth.accept_invitation" if welcome else "auth.reset_password", token=tokens.issue(purpose, user=user))
    if welcome:
        user.invited_at = utcnow()
    send_mail(
        to_email=user.email,
        to_name=user.person.full_name,
        subject=("Ihr Zugang zu " if welcome else "Neues Passwort für ") + current_app.config["ORGANIZATION_NAME"],
        template="account_welcome" if welcome else "password_reset",
        person=user.person,
        link=link,
        hours=tokens.max_age_hours(purpose),
        days=tokens.max_age_hours(purpose) // 24,
        is_member=user.role == Role.member,
    )
    note = "Einladung zum Zugang versandt" if welcome else "Link zum Setzen des Passworts versandt"
    record("invitation" if welcome else "password_link", user, actor=actor, changes={"mail": [None, note]})


def request_password_reset(email: str) -> None:
    """Send a reset link if an active account exists; says nothing either way (no enumeration)."""
    user = find_user_by_email(email)
    if user is not None and user.active:
        send_password_link(user, actor=None)


def reset_password(token: AccessToken, password: str) -> None:
    """Set the password from a mailed link, which is used up with every other open password link."""
    if message := password_error(password):
        raise ValidationFailed("password", message)
    user = token.user
    user.set_password(password, current_app.config["PASSWORD_HASH_METHOD"])
    user.end_sessions()
    tokens.use(token)
    tokens.revoke("password" if token.purpose == "invitation" else "invitation", user=user)
    record("password_set", user, actor=user, changes={"password": [None, "neu gesetzt"]})



def send_login_link(email: str) -> None:
    """Mail a one-time login link if an active account exists; says nothing either way."""
    user = find_user_by_email(email)
    if user is None or not user.active:
        return
    link = external_url("auth.link_login", token=tokens.issue("login", user=user))
    send_mail(
        to_email=user.email,
        to_name=user.person.full_name,
        subject="Ihr Anmeldelink für " + current_app.config["ORGANIZATION_NAME"],
        template="login_link",
        person=user.person,
        link=link,
        minutes=current_app.config["LOGIN_LINK_MAX_AGE"] // 60,
    )


def login_with_link(token: AccessToken, *, ip: str | None) -> User:
    """The user of a one-time login link, which is used up."""
    user = token.user
    tokens.use(token)
    db.session.add(LoginAttempt(email=user.email, ip=ip, succeeded=True))
    user.last_login_at = utcnow()
    return user
