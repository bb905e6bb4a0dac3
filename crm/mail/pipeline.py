"""The delivery pipeline of every bulk mailing: invitations and reminders now, newsletters later.

queue() writes one Delivery row per recipient in one set-based statement; the unique key
(mailing, subject_id, person_id) means nobody is queued twice, however often sending is started.

dispatch() works through the queued rows batch by batch: it claims a batch (claimed_until) and
renders each message with the renderer registered for the mailing's kind, commits, sends over one
reused connection with no transaction open (on SQLite an open transaction would lock the web app
out), then records what happened and commits again. Memory stays constant: one batch at a time.
An exception while sending records what went out and releases the rest, so the next run sends
each remaining message once; a crashed worker's claim runs out after MAIL_CLAIM_SECONDS. A hard
kill between handing over and recording leaves the hand-over journal (crm.mail.journal), which
the next run on that machine replays before it claims anything: nothing is sent twice.

A mailing is named "<kind>" or "<kind>:<variant>" ("event_changed:3": one notice per change); the
kind picks the renderer.
"""
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Callable, Iterable

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from crm.contacts.models import Person
from crm.extensions import db, utcnow
from crm.contacts.models import ConsentChannel
from crm.mail import autopause, journal
from crm.mail.models import Delivery, DeliveryStatus, Suppression, SuppressionReason, blocking, suppressed
from crm.mail.ratelimit import Limits, limits as configured_limits
from crm.mail.transports import Envelope, TransportError, envelope, get_transport
from crm.mail.verp import return_path
from crm.tasks import run_in_background

logger = logging.getLogger(__name__)

#: Builds the message of one delivery: an EmailMessage, or its finished wire form.
Renderer = Callable[[Delivery], EmailMessage | Envelope]
OnSent = Callable[[str, int, list[int]], None]

QUEUE_CHUNK = 1000
#: Enhanced status codes (RFC 3463) of a recipient address that does not exist or cannot exist (5.1.1
#: mailbox, 5.1.2 domain, 5.1.3 syntax, 5.1.6 moved away, 5.1.10 null MX): the address is suppressed,
#: whether a server refuses it (HARD_BOUNCE, a reply) or reports it later (HARD_BOUNCE_STATUS, a DSN).
_HARD_BOUNCE_CODES = r"5\.1\.(?:1|2|3|6|10)"
HARD_BOUNCE = re.compile(rf"^5\d\d {_HARD_BOUNCE_CODES}\b")
HARD_BOUNCE_STATUS = re.compile(rf"^{_HARD_BOUNCE_CODES}$")
#: The same said in words by a server that gives no enhanced status code.
HARD_BOUNCE_TEXT = re.compile(r"^55[03] (?!\d\.)(.*\b)?(user unknown|unknown user|no such user|mailbox not found)", re.IGNORECASE)
#: A run waits for messages held back by a domain's rate only this long; later ones wait for the next run.
DEFER_WAIT_SECONDS = 60


class SkipDelivery(Exception):
    """Raised by a renderer when the message no longer applies; the German reason is recorded."""


@dataclass(frozen=True)
class MailingKind:
    render: Renderer
    #: The consent channel its mail belongs to: a suppression for that channel (an unsubscribe) blocks it.
    channel: ConsentChannel | None = None
    #: Called once per batch with (mailing, subject_id, ids of the people just sent to), before the commit.
    on_sent: OnSent | None = None
    #: Asked with the subject id before each batch: False pauses sending (the rest stays queued).
    active: Callable[[int], bool] | None = None
    #: Called with the subject id after each dispatch run (e.g. to mark a newsletter sent).
    finished: Callable[[int], None] | None = None
    #: Pauses sending with the German reason when too many attempts fail (then `active` says False);
    #: without it the pipeline keeps the pause itself (crm.mail.autopause.MailingPause).
    pause: Callable[[int, str], None] | None = None
    #: Called with (subject id, batch) before a batch is rendered: load what its messages need at once.
    prepare: Callable[[int, list[Delivery]], None] | None = None


_KINDS: dict[str, MailingKind] = {}


def register(
    kind: str, render: Renderer, *, channel: ConsentChannel | None = None, on_sent: OnSent | None = None,
    active: Callable[[int], bool] | None = None, finished: Callable[[int], None] | None = None,
    pause: Callable[[int, str], None] | None = None,
    prepare: Callable[[int, list[Delivery]], None] | None = None,
) -> None:
    """Make `render(delivery)` build every message of mailings of `kind`."""
    _KINDS[kind] = MailingKind(render, channel, on_sent, active, finished, pause, prepare)


def kind_of(mailing: str) -> str:
    return mailing.partition(":")[0]


# --- queueing ---------------------------------------------------------------------------------------------------


def insert_skipping_duplicates(table: sa.Table):
    """INSERT that leaves out rows violating a unique key (ON CONFLICT DO NOTHING on SQLite and PostgreSQL)."""
    dialect = db.session.get_bind().dialect.name
    module = {"postgresql": postgresql, "sqlite": sqlite}.get(dialect)
    # Elsewhere the NOT EXISTS conditions of the callers still keep out what was there before.
    return module.insert(table).on_conflict_do_nothing() if module else sa.insert(table)


def queue(mailing: str, subject_id: int, people: Iterable[int] | sa.Select) -> int:
    """Queue `mailing` about `subject_id` for `people` (ids or a SELECT of ids); returns the new rows.

    People without an address, suppressed addresses and people already queued for this mailing are
    left out in the same statement; the unique key catches a second start running at the same time.
    """
    db.session.flush()  # a Core INSERT does not autoflush: rows added in this transaction must count
    if isinstance(people, sa.Select):
        return _queue(mailing, subject_id, people)
    ids = list(people)
    return sum(_queue(mailing, subject_id, ids[i : i + QUEUE_CHUNK]) for i in range(0, len(ids), QUEUE_CHUNK))


def _queue(mailing: str, subject_id: int, ids) -> int:
    table = Delivery.__table__
    already = sa.select(Delivery.id).where(
        Delivery.mailing == mailing, Delivery.subject_id == subject_id, Delivery.person_id == Person.id
    )
    channel = _KINDS[kind_of(mailing)].channel if kind_of(mailing) in _KINDS else None
    rows = sa.select(
        sa.literal(mailing, table.c.mailing.type), sa.literal(subject_id, table.c.subject_id.type), Person.id,
        Person.email, sa.literal(DeliveryStatus.queued, table.c.status.type), sa.literal(0, table.c.attempts.type),
        sa.literal(utcnow(), table.c.queued_at.type),
    ).where(Person.id.in_(ids), Person.email.is_not(None), ~sa.exists(already), ~suppressed(Person.email, channel))  # fmt: skip
    columns = ["mailing", "subject_id", "person_id", "email", "status", "attempts", "queued_at"]
    stmt = insert_skipping_duplicates(table).from_select(columns, rows)
    return db.session.execute(stmt.execution_options(preserve_rowcount=True)).rowcount


def dispatch_later(mailing: str, subject_id: int) -> None:
    """Send the queued rows in the background (at once in tests)."""
    run_in_background(dispatch, mailing, subject_id)


# --- dispatching ------------------------------------------------------------------------------------------------


@dataclass
class DispatchResult:
    sent: int = 0
    failed: int = 0
    retry: int = 0
    #: Held back by the rate limit of their recipient's domain: still queued, due again soon.
    deferred: int = 0
    #: Why dispatch stopped early (the mail server could not be reached); the rest waits for a later run.
    stopped: str | None = None
    #: Why the mailing paused itself (too many failed attempts), in German for the office.
    paused: str | None = None


@dataclass
class _Prepared:
    """A rendered message and what sending it needs of its row, read before the commit expires the row
    (reading an expired attribute would cost a query per message)."""

    delivery_id: int
    person_id: int | None
    email: str
    attempts: int
    envelope: Envelope


def _due(now: datetime):
    return sa.or_(Delivery.claimed_until.is_(None), Delivery.claimed_until <= now)


def _claim(mailing: str, subject_id: int, size: int, now: datetime) -> list[Delivery]:
    """Claim up to `size` due rows for this worker; other workers skip them until the claim runs out."""
    mine = sa.and_(
        Delivery.mailing == mailing, Delivery.subject_id == subject_id, Delivery.status == DeliveryStatus.queued, _due(now)
    )
    # Two steps, not UPDATE … WHERE id IN (SELECT … LIMIT n): PostgreSQL may rescan such a subquery and
    # claim more than n rows. FOR UPDATE SKIP LOCKED lets PostgreSQL workers take different rows; the
    # repeated conditions in the UPDATE make a SQLite worker that read the same rows claim none of them.
    candidates = db.session.scalars(
        sa.select(Delivery.id).where(mine).order_by(Delivery.id).limit(size).with_for_update(skip_locked=True)
    ).all()
    if not candidates:
        return []
    until = now + timedelta(seconds=current_app.config["MAIL_CLAIM_SECONDS"])
    stmt = sa.update(Delivery).where(Delivery.id.in_(candidates), mine).values(claimed_until=until).returning(Delivery.id)
    ids = db.session.scalars(stmt.execution_options(synchronize_session=False)).all()
    if not ids:
        return []
    return list(
        db.session.scalars(
            sa.select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id).execution_options(populate_existing=True)
        )
    )


class _Ledger:
    """What happened to each delivery of a batch, written before the commit with one executemany UPDATE
    per kind of change (the ORM's flush would send one UPDATE per row: 0.7 ms a message on SQLite)."""

    def __init__(self):
        self.rows: dict[int, dict] = {}

    def finish(self, delivery_id: int, attempts: int, status: DeliveryStatus, error: str | None, *,
               until: datetime | None = None, sent_at: datetime | None = None, message_id: str | None = None) -> None:  # fmt: skip
        self.rows[delivery_id] = {"id": delivery_id, "attempts": attempts, "status": status, "last_error": error,
                                  "claimed_until": until, "sent_at": sent_at, "message_id": message_id}  # fmt: skip

    def release(self, delivery_id: int, until: datetime | None) -> None:
        """Back into the queue, due at `until` (None: at once), nothing else changed."""
        self.rows.setdefault(delivery_id, {"id": delivery_id})["claimed_until"] = until

    def write(self) -> None:
        groups: dict[tuple, list[dict]] = {}
        for row in self.rows.values():
            groups.setdefault(tuple(sorted(row)), []).append(row)
        for rows in groups.values():
            db.session.execute(sa.update(Delivery), rows)
        self.rows = {}


def _render(kind: MailingKind, batch: list[Delivery], result: DispatchResult, ledger: _Ledger) -> list[_Prepared]:
    if kind.prepare and batch:
        kind.prepare(batch[0].subject_id, batch)
    emails = {d.email for d in batch if d.email}
    blocked = set(db.session.scalars(sa.select(Suppression.email).where(Suppression.email.in_(emails), blocking(kind.channel))))
    prepared = []
    for delivery in batch:
        try:
            if not delivery.email or delivery.email in blocked:
                raise SkipDelivery("Keine oder eine gesperrte Adresse.")
            message = envelope(kind.render(delivery), sender=return_path(delivery))
        except SkipDelivery as skip:
            ledger.finish(delivery.id, delivery.attempts, DeliveryStatus.failed, f"Entfallen: {skip}")
            result.failed += 1
            continue
        except Exception as exc:  # one recipient's broken data must not stop everybody else's mail
            logger.exception("Delivery %s of %s could not be rendered", delivery.id, delivery.mailing)
            ledger.finish(delivery.id, delivery.attempts + 1, DeliveryStatus.failed, f"Die Nachricht konnte nicht erstellt werden: {exc}")
            result.failed += 1
            continue
        prepared.append(_Prepared(delivery.id, delivery.person_id, delivery.email, delivery.attempts, message))
    return prepared


def _hold_back(batch: list[Delivery], limits: Limits, now: datetime, result: DispatchResult, ledger: _Ledger) -> list[Delivery]:
    """The deliveries whose recipient domain has a token now; the others go back into the queue until
    their domain's computed turn (no attempt counted), so one slow domain does not stall the rest."""
    ready = []
    for delivery in batch:
        wait = limits.hold(delivery.email)
        if wait:
            ledger.release(delivery.id, now + timedelta(seconds=wait))
            result.deferred += 1
        else:
            ready.append(delivery)
    return ready


def _wait_for_held_back(mailing: str, subject_id: int, limits: Limits) -> bool:
    """Sleep until the next waiting message of the mailing is due (one held back for its domain's rate), if
    that is soon; returns whether it was."""
    now = utcnow()
    due = db.session.scalar(
        sa.select(sa.func.min(Delivery.claimed_until)).where(
            Delivery.mailing == mailing, Delivery.subject_id == subject_id, Delivery.status == DeliveryStatus.queued,
            Delivery.claimed_until > now,
        )
    )  # fmt: skip
    db.session.commit()  # no transaction stays open while sleeping
    if due is None or due - now > timedelta(seconds=DEFER_WAIT_SECONDS):
        return False
    limits.sleep((due - now).total_seconds())
    return True


def _hard_bounce(error: TransportError, email: str | None) -> bool:
    """Whether the server said that `email` does not exist (at RCPT, or at DATA for a message to it alone)."""
    answer = error.refused.get((email or "").lower())
    return bool(error.permanent and answer and (HARD_BOUNCE.search(answer) or HARD_BOUNCE_TEXT.search(answer)))


def _failed(item: _Prepared, error: TransportError, now: datetime, result: DispatchResult, ledger: _Ledger) -> None:
    """A refused message: retry later with backoff, or give up when permanent or tried often enough."""
    config = current_app.config
    attempts = item.attempts + 1
    if error.permanent or attempts >= config["MAIL_MAX_ATTEMPTS"]:
        ledger.finish(item.delivery_id, attempts, DeliveryStatus.failed, str(error))
        result.failed += 1
        if _hard_bounce(error, item.email):
            suppress(item.email, SuppressionReason.hard_bounce, note=str(error))
        return
    backoff = timedelta(seconds=config["MAIL_RETRY_SECONDS"] * 2 ** (attempts - 1))
    ledger.finish(item.delivery_id, attempts, DeliveryStatus.queued, str(error), until=now + backoff)
    result.retry += 1


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


def _send(transport, prepared: list[_Prepared], now: datetime, result: DispatchResult, limits: Limits,
          errors: autopause.ErrorWindow, log: journal.Journal, ledger: _Ledger) -> list[int]:  # fmt: skip
    """Hand the messages over; returns the ids of the people sent to. No transaction is open here."""
    sent_to: list[int] = []
    for index, item in enumerate(prepared):
        try:
            limits.pace()
            transport.send(item.envelope, before_commit=lambda: log.handing_over(item.delivery_id, item.envelope.message_id))
        except TransportError as error:
            _failed(item, error, now, result, ledger)
            result.paused = errors.failed(error)
            if error.connection:
                result.stopped = str(error)
                _release(prepared[index + 1 :], now + timedelta(seconds=current_app.config["MAIL_RETRY_SECONDS"]), ledger)
                break
            if result.paused:
                _release(prepared[index + 1 :], None, ledger)
                break
            continue
        except BaseException:
            # Keep what went out, free the rest for the next run, then let the error propagate.
            _release(prepared[index:], None, ledger)
            raise
        errors.succeeded()
        ledger.finish(item.delivery_id, item.attempts + 1, DeliveryStatus.sent, None, sent_at=utcnow(), message_id=item.envelope.message_id)
        sent_to.append(item.person_id)
        result.sent += 1
    return [person_id for person_id in sent_to if person_id is not None]


def _release(items: list[_Prepared], until: datetime | None, ledger: _Ledger) -> None:
    for item in items:
        ledger.release(item.delivery_id, until)


def journal_directory() -> Path:
    config = current_app.config
    return journal.directory_for(config["MAIL_JOURNAL_DIR"], config["SQLALCHEMY_DATABASE_URI"])


def recover() -> int:
    """Record as sent what killed processes of this machine handed over (their journals); returns how many."""
    recovered = 0
    for orphan in journal.orphans(journal_directory()):
        for delivery_id, message_id in orphan.entries.items():
            recovered += db.session.execute(
                sa.update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.queued)
                .values(status=DeliveryStatus.sent, sent_at=utcnow(), message_id=message_id or None, claimed_until=None,
                        attempts=Delivery.attempts + 1, last_error=None)
                .execution_options(synchronize_session=False)
            ).rowcount  # fmt: skip
        db.session.commit()
        orphan.remove()
    if recovered:
        logger.warning("%s messages handed over by a killed process recorded as sent", recovered)
    return recovered


def dispatch(mailing: str, subject_id: int, *, transport=None, now: datetime | None = None, batch_size: int | None = None) -> DispatchResult:
    """Send every due queued message of the mailing; safe to run twice, also at the same time."""
    kind = _KINDS[kind_of(mailing)]
    size = batch_size or current_app.config["MAIL_BATCH_SIZE"]
    own_transport = transport is None
    transport = transport or get_transport()
    result = DispatchResult()
    limits, errors = configured_limits(), autopause.ErrorWindow.from_config(current_app.config)
    log = journal.Journal(journal_directory())
    ledger = _Ledger()
    try:
        while not result.stopped:
            if not _active(kind, mailing, subject_id):
                result.stopped = "angehalten"
                break
            recover()  # before claiming: rows a dead worker handed over must not be claimed and sent again
            clock = now or utcnow()
            batch = _claim(mailing, subject_id, size, clock)
            if not batch:
                # A given `now` stands still: what waits for its domain's rate is left to a later run.
                if now is None and result.deferred and _wait_for_held_back(mailing, subject_id, limits):
                    continue
                break
            prepared = _render(kind, _hold_back(batch, limits, clock, result, ledger), result, ledger)
            ledger.write()
            db.session.commit()  # the claim is visible to other workers, and nothing is locked while sending
            try:
                sent_to = _send(transport, prepared, clock, result, limits, errors, log, ledger)
            except BaseException:
                ledger.write()
                db.session.commit()
                log.settled()
                raise
            if sent_to and kind.on_sent:
                kind.on_sent(mailing, subject_id, sent_to)
            if result.paused:
                _pause(kind, mailing, subject_id, result.paused)
                result.stopped = result.paused
            ledger.write()
            db.session.commit()
            log.settled()
    finally:
        log.close()
        if own_transport:
            transport.close()
    if kind.finished:
        kind.finished(subject_id)
    logger.info("Mailing %s/%s: %s sent, %s failed, %s to retry", mailing, subject_id, result.sent, result.failed, result.retry)
    return result


def _active(kind: MailingKind, mailing: str, subject_id: int) -> bool:
    if kind.active and not kind.active(subject_id):
        return False
    return kind.pause is not None or not autopause.is_paused(mailing, subject_id)


def _pause(kind: MailingKind, mailing: str, subject_id: int, reason: str) -> None:
    if kind.pause is not None:
        kind.pause(subject_id, reason)
    else:
        autopause.pause(mailing, subject_id, reason)


def pending(now: datetime | None = None) -> list[tuple[str, int]]:
    """(mailing, subject_id) of every mailing with messages waiting to be sent now."""
    stmt = sa.select(Delivery.mailing, Delivery.subject_id).where(Delivery.status == DeliveryStatus.queued, _due(now or utcnow()))
    return [tuple(row) for row in db.session.execute(stmt.distinct())]


def dispatch_pending(now: datetime | None = None) -> DispatchResult:
    """Resume everything that waits (after a crash, or retries that are due): for `flask mail dispatch`."""
    total = DispatchResult()
    for mailing, subject_id in pending(now):
        if kind_of(mailing) not in _KINDS:
            logger.warning("No renderer for mailing %s; left queued", mailing)
            continue
        result = dispatch(mailing, subject_id, now=now)
        total.sent, total.failed, total.retry = total.sent + result.sent, total.failed + result.failed, total.retry + result.retry
        total.stopped = total.stopped or result.stopped
    return total
