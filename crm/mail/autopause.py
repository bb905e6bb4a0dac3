"""A mailing pauses itself when too many of its delivery attempts fail, and tells the office why.

A run of the pipeline keeps the outcome of its last CRM_MAIL_PAUSE_WINDOW attempts to hand a message
over. Once at least CRM_MAIL_PAUSE_MIN_ATTEMPTS are in and more than CRM_MAIL_PAUSE_ERROR_RATE of
them failed (a blocked sender, a full relay, a stale list), carrying on would only hurt the sender's
reputation: the mailing pauses with the German reason. A newsletter pauses through its status (the
kind's pause hook); other mailings (event mails) get a MailingPause row until the office resumes.
"""
import logging
from collections import deque

import sqlalchemy as sa

from crm.extensions import db
from crm.mail.models import MailingPause
from crm.mail.transports import TransportError

logger = logging.getLogger(__name__)


class ErrorWindow:
    """The outcomes of the last `size` delivery attempts of one run."""

    def __init__(self, *, size: int = 50, rate: float = 0.3, minimum: int = 20):
        self.rate = rate
        self.minimum = max(1, min(minimum, size))
        self._failed: deque[bool] = deque(maxlen=max(1, size))
        self._last: str | None = None

    @classmethod
    def from_config(cls, config) -> "ErrorWindow":
        return cls(size=config["MAIL_PAUSE_WINDOW"], rate=config["MAIL_PAUSE_ERROR_RATE"], minimum=config["MAIL_PAUSE_MIN_ATTEMPTS"])

    def succeeded(self) -> None:
        self._failed.append(False)

    def failed(self, error: TransportError) -> str | None:
        """Count a failed attempt; returns the reason to pause, in German, once too many failed."""
        self._failed.append(True)
        self._last = f"letzte Antwort des Mailservers: {error.reply}" if error.reply else f"letzter Fehler: {error}"
        attempts, failures = len(self._failed), sum(self._failed)
        if not self.rate or attempts < self.minimum or failures <= self.rate * attempts:
            return None
        return f"Automatisch angehalten: {failures} von {attempts} Zustellversuchen sind gescheitert; {self._last}"


def pause(mailing: str, subject_id: int, reason: str) -> MailingPause:
    """Pause `mailing` about `subject_id` (for kinds without a pause of their own)."""
    row = db.session.scalar(sa.select(MailingPause).where(MailingPause.mailing == mailing, MailingPause.subject_id == subject_id))
    if row is None:
        row = MailingPause(mailing=mailing, subject_id=subject_id, reason=reason)
        db.session.add(row)
    row.reason = reason
    db.session.flush()
    logger.warning("Mailing %s/%s paused: %s", mailing, subject_id, reason)
    return row


def is_paused(mailing: str, subject_id: int) -> bool:
    stmt = sa.select(MailingPause.id).where(MailingPause.mailing == mailing, MailingPause.subject_id == subject_id)
    return db.session.scalar(stmt) is not None


def pauses(subject_id: int, kinds: tuple[str, ...]) -> list[MailingPause]:
    """The paused mailings of these kinds about `subject_id` (e.g. every mail about one event)."""
    of_kind = sa.or_(*(sa.or_(MailingPause.mailing == kind, MailingPause.mailing.startswith(f"{kind}:")) for kind in kinds))
    stmt = sa.select(MailingPause).where(MailingPause.subject_id == subject_id, of_kind).order_by(MailingPause.paused_at)
    return list(db.session.scalars(stmt))


def resume(row: MailingPause) -> None:
    """Lift the pause; the caller commits and dispatches the mailing again."""
    db.session.delete(row)
    db.session.flush()
    logger.info("Mailing %s/%s resumed", row.mailing, row.subject_id)
