"""Personal links: signed, expiring, single-use tokens backed by a row in access_tokens.

The signature (itsdangerous, with a timestamp) proves the link came from us and bounds its age;
the row makes it single-use and revocable. Using one link of a purpose uses up every other open
link of that purpose for the same user, so an older mail cannot undo a newer action.
"""
import hashlib
import secrets

import sqlalchemy as sa
from flask import current_app

from crm.auth.models import AccessToken
from crm.extensions import db, utcnow
from crm.security import TokenInvalid, load_token, make_token

#: purpose -> config key of its maximum age in seconds
MAX_AGE = {
    "password": "PASSWORD_RESET_MAX_AGE",
    "invitation": "INVITATION_MAX_AGE",
    "login": "LOGIN_LINK_MAX_AGE",
    "email": "EMAIL_CONFIRM_MAX_AGE",
}


def max_age_hours(purpose: str) -> int:
    return current_app.config[MAX_AGE[purpose]] // 3600


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(purpose: str, *, user=None, person=None, **data) -> str:
    """A new link token for `purpose`; the caller commits."""
    secret = secrets.token_urlsafe(24)
    db.session.add(AccessToken(purpose=purpose, digest=_digest(secret), user=user, person=person, data=data))
    return make_token(purpose, secret)


def find(purpose: str, token: str) -> AccessToken:
    """The open token behind a link; raises TokenExpired or TokenInvalid (tampered, used, unknown)."""
    secret = load_token(purpose, token, current_app.config[MAX_AGE[purpose]])
    row = None
    if isinstance(secret, str):
        row = db.session.scalar(
            sa.select(AccessToken).where(AccessToken.digest == _digest(secret), AccessToken.purpose == purpose)
        )
    if row is None or row.used_at is not None or (row.user is not None and not row.user.active):
        raise TokenInvalid()
    return row


def use(row: AccessToken) -> None:
    """Mark the token used, together with every other open token of its purpose and owner."""
    owner = AccessToken.user_id == row.user_id if row.user_id else AccessToken.person_id == row.person_id
    db.session.execute(
        sa.update(AccessToken)
        .where(AccessToken.purpose == row.purpose, owner, AccessToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    db.session.refresh(row)


def revoke(purpose: str, *, user) -> None:
    """Invalidate all open tokens of `purpose` for `user` (e.g. login links after a new password)."""
    db.session.execute(
        sa.update(AccessToken)
        .where(AccessToken.purpose == purpose, AccessToken.user_id == user.id, AccessToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
