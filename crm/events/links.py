"""Personal answer links ("/teilnahme/<token>") for invitations.

The link carries a signed secret that reveals nothing (no id, no name); only the secret's SHA-256
digest is stored in Invitation.token_digest. The secret is an HMAC of the event's calendar UID and
the person under the app's SECRET_KEY, so the same link can be written again into each reminder
without storing it, yet nobody can compute it from the database alone. Erasure overwrites the
digest, which ends the link; so does the end of the event (checked by the pages, not here).
"""
import base64
import hashlib
import hmac

import sqlalchemy as sa
from flask import current_app

from crm.events.models import Event, Invitation
from crm.extensions import db
from crm.mail.services import external_url
from crm.security import TokenInvalid, load_token, make_token

PURPOSE = "rsvp"


def _secret(event: Event, person_id: int) -> str:
    key = f"crm.rsvp-secret:{current_app.config['SECRET_KEY']}".encode()
    mac = hmac.new(key, f"{event.ical_uid}:{person_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_digest(event: Event, person_id: int) -> str:
    """What Invitation.token_digest holds for this person's link to this event."""
    return _digest(_secret(event, person_id))


def rsvp_token(invitation: Invitation) -> str:
    return make_token(PURPOSE, _secret(invitation.event, invitation.person_id))


def rsvp_url(invitation: Invitation) -> str:
    """The absolute personal link for mails (works outside a request, too)."""
    return external_url("rsvp.show", token=rsvp_token(invitation))


def find_invitation(token: str) -> Invitation:
    """The invitation behind a link; raises TokenExpired or TokenInvalid (tampered, unknown, erased)."""
    secret = load_token(PURPOSE, token, current_app.config["RSVP_LINK_MAX_AGE"])
    invitation = None
    if isinstance(secret, str):
        invitation = db.session.scalar(sa.select(Invitation).where(Invitation.token_digest == _digest(secret)))
    if invitation is None:
        raise TokenInvalid()
    return invitation
