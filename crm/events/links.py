"""Personal answer links ("/teilnahme/<token>") for invitations.

The link carries a signed secret that reveals nothing (no id, no name); only the secret's SHA-256
digest is stored in Invitation.token_digest. The secret is an HMAC of the event's calendar UID and
the person under the app's SECRET_KEY, so the same link can be written again into each reminder
without storing it, yet nobody can compute it from the database alone. Erasure overwrites the
digest, which ends the link; so does the end of the event (checked by the pages, not here).

A merge of two people keeps the links that went out: an invitation moved to the kept person keeps
its digest (made for the merged-away record), so its link is found by the merged-away person's id;
the link of an invitation that gave way to the other's (both were invited) opens the one that stayed.
"""
import base64
import hashlib
import hmac

import sqlalchemy as sa
from flask import current_app

from crm.contacts.models import PersonMerge
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


def _link_secret(invitation: Invitation) -> str:
    """The secret behind the invitation's digest: the invitee's, or that of a record merged into the invitee."""
    secret = _secret(invitation.event, invitation.person_id)
    if _digest(secret) != invitation.token_digest:
        merged_away = db.session.scalars(sa.select(PersonMerge.removed_person_id).where(
            PersonMerge.kept_person_id == invitation.person_id, PersonMerge.undone_at.is_(None)
        ))  # fmt: skip
        for person_id in merged_away:
            if _digest(other := _secret(invitation.event, person_id)) == invitation.token_digest:
                return other
    return secret


def rsvp_token(invitation: Invitation) -> str:
    return make_token(PURPOSE, _link_secret(invitation))


def rsvp_url(invitation: Invitation) -> str:
    """The absolute personal link for mails (works outside a request, too)."""
    return external_url("rsvp.show", token=rsvp_token(invitation))


def _after_merge(digest: str) -> Invitation | None:
    """The invitation that stayed when the one with this digest gave way in a merge (both were invited)."""
    from crm.contacts.merge_relations import given_way

    found = given_way("invitations", "token_digest", digest)
    if found is None or found[0].kept_person_id is None:
        return None
    merge, row = found
    return db.session.scalar(
        sa.select(Invitation).where(Invitation.event_id == row["event_id"], Invitation.person_id == merge.kept_person_id)
    )


def find_invitation(token: str) -> Invitation:
    """The invitation behind a link; raises TokenExpired or TokenInvalid (tampered, unknown, erased)."""
    secret = load_token(PURPOSE, token, current_app.config["RSVP_LINK_MAX_AGE"])
    invitation = None
    if isinstance(secret, str):
        invitation = db.session.scalar(sa.select(Invitation).where(Invitation.token_digest == _digest(secret)))
        invitation = invitation or _after_merge(_digest(secret))
    if invitation is None:
        raise TokenInvalid()
    return invitation
