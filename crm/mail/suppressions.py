"""Lifting an unsubscribe from the suppression list when a person asks for the mail again.

crm.mail.pipeline.suppress() only widens a block. The one way back is a new, proven consent for a
channel (preference centre, member portal, confirmed sign-up): then the person's own unsubscribe
for that channel no longer applies. Hard bounces, complaints and the office's manual blocks stay.
"""
import logging

import sqlalchemy as sa

from crm.contacts.models import ConsentChannel
from crm.extensions import db
from crm.mail.models import Suppression, SuppressionReason

logger = logging.getLogger(__name__)


def lift_unsubscribe(email: str | None, channel: ConsentChannel) -> bool:
    """Stop the `unsubscribed` block of `email` for `channel`; returns whether anything changed.

    A block for all bulk mail that came from unsubscribing keeps blocking the other channels.
    """
    if not email:
        return False
    row = db.session.scalar(sa.select(Suppression).where(Suppression.email == email))
    if row is None or row.reason != SuppressionReason.unsubscribed:
        return False
    if row.channel == channel:
        db.session.delete(row)
    elif row.channel is None:
        others = [c for c in ConsentChannel if c != channel]
        if len(others) != 1:  # a narrower block cannot name several channels: keep blocking them all
            return False
        row.channel = others[0]
    else:
        return False
    db.session.flush()
    logger.info("Unsubscribe of %s for %s lifted after a new consent", email, channel.value)
    return True


def suppress(email: str, reason: SuppressionReason, *, channel: ConsentChannel | None = None, note: str | None = None) -> Suppression:
    """Block `email` for bulk mail of `channel` (None: all); widens an existing block, never narrows it."""
    existing = db.session.scalar(sa.select(Suppression).where(Suppression.email == email))
    if existing is None:
        existing = Suppression(email=email, reason=reason, channel=channel, note=(note or "")[:300] or None)
        db.session.add(existing)
        logger.info("Address %s suppressed (%s)", email, reason.value)
    elif existing.channel is not None and existing.channel != channel:
        existing.channel, existing.reason = None, reason
        existing.note = (note or existing.note or "")[:300] or None
    return existing
