"""Bounces after acceptance: a DSN in the bounce mailbox marks its delivery bounced and may suppress the address.

The mail server that accepted a message may fail to deliver it later and mail a delivery status
notification (RFC 3464, read by crm.mail.dsn) to the envelope sender. The delivery is found by the
VERP return path the DSN was addressed to (crm.mail.verp), else by the Message-ID of the returned
original. The rules:

- Action "failed": the message did not arrive (also with a 4.x.x status: the server gave up after
  retrying). The delivery becomes `bounced`, last_error says why in German.
- Only a failed status that says the address itself does not or cannot exist (5.1.1 unknown mailbox,
  5.1.2 unknown domain, 5.1.3 bad syntax, 5.1.6 moved away, 5.1.10 recipient not found;
  handover.HARD_BOUNCE_STATUS, the same codes as for refusals while sending) suppresses the address
  for all bulk mail. A full mailbox (5.2.2), a policy refusal
  (5.7.1) or a server problem may pass, and 5.1.7/5.1.8 are about our sender, not the recipient:
  those mark the delivery bounced and the next mailing tries again.
- Action "delayed": only a note on the delivery; the status stays `sent`.
- Only the delivery's own address is ever suppressed, never another address a DSN names. If the
  receiving server forwarded the message or expanded a list (the DSN names other final
  recipients), a failure there says nothing certain about our address: the delivery counts as
  bounced only when every named recipient failed, and nothing is suppressed.

Processing the same DSN again changes nothing more. Like the pipeline's own suppression of hard
bounces, this writes no audit entries: the audit log records changes people make to records; the
delivery keeps the reason, and the suppression its note.
"""
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa

from crm.extensions import db
from crm.mail import verp
from crm.mail.dsn import RecipientStatus, Report, parse
from crm.mail.models import Delivery, DeliveryStatus, Suppression, SuppressionReason
from crm.mail.handover import HARD_BOUNCE_STATUS
from crm.mail.suppressions import suppress

logger = logging.getLogger(__name__)


@dataclass
class BounceResult:
    #: DSNs about one of our deliveries (also those that changed nothing because they came before).
    processed: int = 0
    #: Deliveries newly marked bounced.
    bounced: int = 0
    #: Addresses newly suppressed.
    suppressed: int = 0
    #: Unsubscribe requests by mail (crm.newsletters.mail_unsubscribe), also those that changed nothing.
    unsubscribed: int = 0
    #: Messages left in the mailbox: no DSN (auto-replies), or about no delivery of ours.
    skipped: int = 0

    def add(self, other: "BounceResult") -> None:
        self.processed += other.processed
        self.bounced += other.bounced
        self.suppressed += other.suppressed
        self.unsubscribed += other.unsubscribed
        self.skipped += other.skipped

    def summary(self) -> str:
        """German counts for the command line."""
        return (
            f"{self.processed} {'Unzustellbarkeitsmeldung' if self.processed == 1 else 'Unzustellbarkeitsmeldungen'} "
            f"verarbeitet, {self.suppressed} {'Adresse' if self.suppressed == 1 else 'Adressen'} gesperrt, "
            + (f"{self.unsubscribed} {'Abmeldung' if self.unsubscribed == 1 else 'Abmeldungen'} per E-Mail, " if self.unsubscribed else "")
            + f"{self.skipped} {'Nachricht' if self.skipped == 1 else 'Nachrichten'} übersprungen"
        )


@dataclass(frozen=True)
class Verdict:
    """What a DSN says about one delivery."""

    undeliverable: bool
    hard: bool
    #: The recipient block that explains it (the first failed one, else the first delayed one).
    reason: RecipientStatus | None


def process_message(data: bytes) -> BounceResult:
    """Apply the DSN in `data` to the deliveries it is about (flushed, not committed)."""
    report = parse(data)
    if report is None:
        return BounceResult(skipped=1)
    deliveries = find_deliveries(report)
    if not deliveries:
        forged = [a for a in dict.fromkeys(report.delivered_to) if verp.looks_like_return_path(a)]
        if forged:
            logger.warning("DSN to %s: no delivery of that signature; ignored", ", ".join(forged))
        return BounceResult(skipped=1)
    result = BounceResult(processed=1)
    for delivery in deliveries:
        result.add(apply_verdict(delivery, verdict_for(delivery, report.recipients)))
    db.session.flush()
    return result


def find_deliveries(report: Report) -> list[Delivery]:
    """The deliveries a DSN is about: by its signed return path, else by the original's Message-ID."""
    ids = {verp.delivery_id(address) for address in report.delivered_to} - {None}
    if ids:
        found = list(db.session.scalars(sa.select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id)))
        if found:
            return found
    if report.original_message_id:
        # A return path with a wrong signature (forged, or signed with an earlier SECRET_KEY) names
        # nothing; the Message-ID of the original cannot be guessed, so it still may.
        core = report.original_message_id.strip("<>")
        stmt = sa.select(Delivery).where(Delivery.message_id.in_((f"<{core}>", core))).order_by(Delivery.id)
        return list(db.session.scalars(stmt))
    return []


def verdict_for(delivery: Delivery, recipients: Iterable[RecipientStatus]) -> Verdict:
    """Whether the DSN's recipient blocks make `delivery` undeliverable, and whether its address is dead."""
    recipients = list(recipients)
    address = (delivery.email or "").lower()
    own = [r for r in recipients if r.final_recipient == address]
    if own:
        failed = [r for r in own if r.failed]
        hard = any(HARD_BOUNCE_STATUS.search(r.status.strip()) for r in failed)
        return Verdict(bool(failed), hard, _reason(own))
    # Forwarded or expanded by the receiving server: it failed only if it reached none of them.
    behind = [r for r in recipients if r.original_recipient == address] or recipients
    return Verdict(all(r.failed for r in behind), False, _reason(behind))


def _reason(recipients: list[RecipientStatus]) -> RecipientStatus | None:
    return next((r for r in recipients if r.failed), None) or next((r for r in recipients if r.delayed), None)


def apply_verdict(delivery: Delivery, verdict: Verdict) -> BounceResult:
    """Mark `delivery` bounced, note a delay, suppress a dead address; returns what changed."""
    result = BounceResult()
    reason = verdict.reason
    if reason is None:
        return result
    if verdict.undeliverable:
        if delivery.status == DeliveryStatus.sent:
            delivery.status = DeliveryStatus.bounced
            delivery.last_error = _text("Unzustellbar", reason, delivery)
            result.bounced = 1
            logger.info("Delivery %s of %s bounced (%s)", delivery.id, delivery.mailing, reason.status)
        if verdict.hard and delivery.email and _newly_blocked(delivery.email):
            suppress(delivery.email, SuppressionReason.hard_bounce, note=_text("Unzustellbarkeitsmeldung", reason, delivery))
            result.suppressed = 1
    elif reason.delayed and delivery.status == DeliveryStatus.sent:
        delivery.last_error = _text("Verzögert", reason, delivery) + " – der Mailserver versucht es weiter."
    return result


def _text(prefix: str, reason: RecipientStatus, delivery: Delivery) -> str:
    """ "Unzustellbar (5.1.1): smtp; 550 5.1.1 … " plus the final recipient when the server forwarded."""
    code = f" ({reason.status})" if reason.status else ""
    if delivery.email is None:  # erased (Art. 17): the server's answer would bring the address back
        return f"{prefix}{code}."
    forwarded = ""
    if reason.final_recipient and reason.final_recipient != (delivery.email or "").lower():
        forwarded = f" [weitergeleitet an {reason.final_recipient}]"
    return f"{prefix}{code}: {reason.diagnostic or 'ohne Angabe des Grundes'}{forwarded}"


def _newly_blocked(email: str) -> bool:
    """Whether suppressing `email` for all bulk mail is new (not blocked for everything already)."""
    channel_of_existing = db.session.execute(sa.select(Suppression.channel).where(Suppression.email == email)).first()
    return channel_of_existing is None or channel_of_existing[0] is not None


# --- mailboxes --------------------------------------------------------------------------------------------------


class Inbox(Protocol):
    """A mailbox with DSNs: crm.mail.bounce_inboxes (Maildir, IMAP)."""

    def messages(self) -> Iterator[tuple[object, bytes]]: ...

    def done(self, key: object) -> None: ...


#: Handlers of the other mail the mailbox receives: each takes a message and returns True when it was
#: meant for it and is dealt with (it is then filed away like a DSN). Registered by the features
#: that invite such mail (crm.newsletters: unsubscribe requests to the List-Unsubscribe mailto address).
REQUEST_HANDLERS: list[Callable[[bytes], bool]] = []


def process_one(data: bytes) -> BounceResult:
    """A DSN, else an unsubscribe request, else skipped (flushed, not committed)."""
    result = process_message(data)
    if result.skipped and any(handler(data) for handler in REQUEST_HANDLERS):
        return BounceResult(unsubscribed=1)
    return result


def process_inbox(inbox: Inbox) -> BounceResult:
    """Process every message in `inbox`; commits after each, then files it away if it was a DSN of ours.

    Committing before filing means a crash in between only leads to the same DSN being read again,
    which changes nothing. Skipped messages stay where they are for a person to read.
    """
    total = BounceResult()
    for key, data in inbox.messages():
        try:
            result = process_one(data)
        except Exception:  # one unreadable message must not stop the others
            logger.exception("Message %s of the bounce mailbox could not be processed", key)
            db.session.rollback()
            total.skipped += 1
            continue
        db.session.commit()
        if result.processed or result.unsubscribed:
            inbox.done(key)
        total.add(result)
    logger.info("Bounces: %s", total)
    return total
