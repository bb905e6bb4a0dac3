"""The suppression list: addresses that get no bulk mail.

suppress() only widens a block. The way back from an unsubscribe is a new, proven consent for a
channel (preference centre, member portal, confirmed sign-up): then the person's own unsubscribe
for that channel no longer applies. Hard bounces, complaints and manual blocks stay until the office
lifts them on the list (an address that bounced may work again); the office cannot lift an
unsubscribe, which only the person can take back. The office's blocks and lifts are audited.
"""
import logging

import sqlalchemy as sa

from crm.audit.services import record
from crm.contacts.models import Consent, ConsentChannel, ConsentMethod
from crm.contacts.validation import email_error, normalize_email
from crm.errors import ValidationFailed
from crm.extensions import db
from crm.mail.models import Suppression, SuppressionReason

logger = logging.getLogger(__name__)

REASON_LABELS = {
    SuppressionReason.unsubscribed: "abgemeldet",
    SuppressionReason.hard_bounce: "unzustellbar",
    SuppressionReason.complaint: "Beschwerde",
    SuppressionReason.manual: "von der Geschäftsstelle gesperrt",
}


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


def block(email: str | None, note: str | None, *, actor) -> Suppression:
    """The office blocks an address for all bulk mail (e.g. someone asked by phone to get none)."""
    email = normalize_email(email)
    if not email:
        raise ValidationFailed("email", "Bitte eine E-Mail-Adresse angeben.")
    if message := email_error(email):
        raise ValidationFailed("email", message)
    existing = db.session.scalar(sa.select(Suppression).where(Suppression.email == email))
    if existing is not None and existing.channel is None:
        raise ValidationFailed("email", f"{email} ist bereits gesperrt.")
    row = suppress(email, SuppressionReason.manual, note=(note or "").strip() or "von der Geschäftsstelle gesperrt")
    record("create", row, actor=actor, changes={"email": email, "reason": REASON_LABELS[row.reason], "note": row.note})
    return row


def lift(row: Suppression, *, actor) -> list[ConsentChannel]:
    """The office lifts a block that is not a person's own unsubscribe; returns the channels the address
    stays blocked for because its owner unsubscribed from them.

    A bounce or manual block for all mail may have widened an unsubscribe (suppress() keeps one row per
    address): the consent ledger still shows that withdrawal, and the narrower block comes back from it.
    """
    if row.reason == SuppressionReason.unsubscribed:
        raise ValidationFailed(None, "Eine Abmeldung kann nur die Person selbst zurücknehmen (über die Einstellungen "
                                     "im Newsletter oder im Mitgliederbereich).")  # fmt: skip
    record("delete", row, actor=actor, changes={"email": row.email, "reason": REASON_LABELS[row.reason], "note": row.note})
    db.session.delete(row)
    db.session.flush()
    logger.info("Suppression of %s (%s) lifted", row.email, row.reason.value)
    kept = unsubscribed_channels(row.email)
    for channel in kept:
        suppress(row.email, SuppressionReason.unsubscribed, channel=channel, note="Abmeldung (laut Einwilligungshistorie)")
    return kept


def unsubscribed_channels(email: str) -> list[ConsentChannel]:
    """The channels whose latest entry in the consent ledger for `email` is its owner's unsubscribe."""
    found = []
    for channel in ConsentChannel:
        latest = db.session.execute(
            sa.select(Consent.granted, Consent.method).where(Consent.email == email, Consent.channel == channel)
            .order_by(Consent.effective_at.desc(), Consent.id.desc()).limit(1)
        ).first()  # fmt: skip
        if latest is not None and not latest.granted and latest.method == ConsentMethod.unsubscribe:
            found.append(channel)
    return found
