"""The delivery pipeline of every bulk mailing: invitations and reminders now, newsletters later.

queue() writes one Delivery row per recipient in one set-based statement; the unique key
(mailing, subject_id, person_id) means nobody is queued twice, however often sending is started.

dispatch() works through the queued rows batch by batch: it claims a batch (claimed_until), prepares
it for the renderer registered for the mailing's kind, commits, hands the messages over one reused
connection with no transaction open (on SQLite an open transaction would lock the web app out;
crm.mail.handover), then records what happened and commits again. Memory stays constant: one batch at a time.
An exception while sending records what went out and releases the rest, so the next run sends
each remaining message once; a crashed worker's claim runs out after MAIL_CLAIM_SECONDS. A hard
kill between handing over and recording leaves the hand-over journal (crm.mail.journal), which
the next run on that machine replays before it claims anything: nothing is sent twice.

A mailing is named "<kind>" or "<kind>:<variant>" ("event_changed:3": one notice per change); the
kind picks the renderer.
"""
import logging
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
from crm.mail import autopause, handover, journal
from crm.mail.handover import SkipDelivery  # noqa: F401 - the renderers raise pipeline.SkipDelivery
from crm.mail.models import Delivery, DeliveryStatus, Suppression, blocking, suppressed
from crm.mail.ratelimit import Limits, limits as configured_limits
from crm.mail.transports import Envelope, get_transport
from crm.mail.suppressions import suppress  # noqa: F401 - callers suppress through the pipeline
from crm.tasks import run_in_parallel

logger = logging.getLogger(__name__)

#: Builds the message of one delivery: an EmailMessage, or its finished wire form.
Renderer = Callable[[handover.Row], EmailMessage | Envelope]
OnSent = Callable[[str, int, list[int]], None]

QUEUE_CHUNK = 1000
#: A run waits for messages held back by a domain's rate only this long; later ones wait for the next run.
DEFER_WAIT_SECONDS = 60
#: A batch holds at most this many seconds of sending at the configured rate: a pause or a cancellation,
#: looked at between batches, then takes effect within seconds also when only a few messages go a second.
BATCH_SECONDS = 5


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
    prepare: Callable[[int, list[handover.Row]], None] | None = None


_KINDS: dict[str, MailingKind] = {}


def register(
    kind: str, render: Renderer, *, channel: ConsentChannel | None = None, on_sent: OnSent | None = None,
    active: Callable[[int], bool] | None = None, finished: Callable[[int], None] | None = None,
    pause: Callable[[int, str], None] | None = None,
    prepare: Callable[[int, list[handover.Row]], None] | None = None,
) -> None:
    """Make `render(row)` build every message of mailings of `kind` (a handover.Row: the delivery's id,
    mailing, subject id, person id, email and attempts, not the ORM object)."""
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
    # Ordered, so that the deliveries go out in the order of the people (PostgreSQL would take any order).
    rows = sa.select(
        sa.literal(mailing, table.c.mailing.type), sa.literal(subject_id, table.c.subject_id.type), Person.id,
        Person.email, sa.literal(DeliveryStatus.queued, table.c.status.type), sa.literal(0, table.c.attempts.type),
        sa.literal(utcnow(), table.c.queued_at.type),
    ).where(Person.id.in_(ids), Person.email.is_not(None), ~sa.exists(already), ~suppressed(Person.email, channel)).order_by(Person.id)  # fmt: skip
    columns = ["mailing", "subject_id", "person_id", "email", "status", "attempts", "queued_at"]
    stmt = insert_skipping_duplicates(table).from_select(columns, rows)
    return db.session.execute(stmt.execution_options(preserve_rowcount=True)).rowcount


def dispatch_later(mailing: str, subject_id: int, *, expires: float | None = None) -> None:
    """Send the queued rows in the background: a thread, or with Celery several dispatch tasks that share
    the mailing (dropped if no worker starts them within `expires` seconds); at once in tests."""
    run_in_parallel(dispatch, mailing, subject_id, expires=expires)


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


def _due(now: datetime):
    return sa.or_(Delivery.claimed_until.is_(None), Delivery.claimed_until <= now)


def _inline(value):
    return sa.literal(value, literal_execute=True)


def _claim(mailing: str, subject_id: int, size: int, now: datetime) -> list[handover.Row]:
    """Claim up to `size` due rows for this worker; other workers skip them until the claim runs out."""
    # The mailing and the status are written into the SQL, not bound: PostgreSQL plans a statement it has
    # prepared (psycopg does after five runs) for any values, and for any status that was a walk along the
    # primary key past every delivery ever sent (6 ms a claim with 20,000), not the queue index.
    mine = sa.and_(
        Delivery.mailing == _inline(mailing), Delivery.subject_id == _inline(subject_id),
        Delivery.status == _inline(DeliveryStatus.queued), _due(now),
    )  # fmt: skip
    candidates = sa.select(Delivery.id).where(mine).order_by(Delivery.id).limit(size)
    if db.session.get_bind().dialect.name == "postgresql":
        # FOR UPDATE SKIP LOCKED lets workers take different rows. The candidates are a MATERIALIZED CTE:
        # as a subquery of the UPDATE, PostgreSQL may read them again and claim more than `size` rows.
        candidates = candidates.with_for_update(skip_locked=True).cte("candidates").prefix_with("MATERIALIZED")
        where = Delivery.id == candidates.c.id
    else:
        where = Delivery.id.in_(candidates.scalar_subquery())  # SQLite: one writer at a time, one statement
    until = now + timedelta(seconds=current_app.config["MAIL_CLAIM_SECONDS"])
    # Plain rows, not ORM objects: the renderers read these six values, and the ledger writes by id.
    columns = (Delivery.id, Delivery.mailing, Delivery.subject_id, Delivery.person_id, Delivery.email, Delivery.attempts)
    stmt = sa.update(Delivery).where(where).values(claimed_until=until).returning(*columns)
    claimed = [handover.Row(*row) for row in db.session.execute(stmt.execution_options(synchronize_session=False))]
    return sorted(claimed, key=lambda row: row.id)  # RETURNING keeps no order


def _render(kind: MailingKind, batch: list[handover.Row], result: DispatchResult, ledger: handover.Ledger) -> list[handover.Prepared]:
    """The batch's messages, built now, or left to the send loop for kinds with `prepare`."""
    if kind.prepare and batch:
        kind.prepare(batch[0].subject_id, batch)
    emails = {d.email for d in batch if d.email}
    blocked = set(db.session.scalars(sa.select(Suppression.email).where(Suppression.email.in_(emails), blocking(kind.channel))))
    prepared = []
    for delivery in batch:
        item = handover.Prepared(delivery)
        if not delivery.email or delivery.email in blocked:
            ledger.finish(delivery.id, delivery.attempts, DeliveryStatus.failed, "Entfallen: Keine oder eine gesperrte Adresse.")
            result.failed += 1
        elif kind.prepare or handover.build(kind, item, delivery, result, ledger):
            prepared.append(item)
    return prepared


def _hold_back(batch: list[handover.Row], limits: Limits, now: datetime, result: DispatchResult, ledger: handover.Ledger) -> list[handover.Row]:
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


def journal_directory() -> Path:
    config = current_app.config
    return journal.directory_for(config["MAIL_JOURNAL_DIR"], config["SQLALCHEMY_DATABASE_URI"])


def recover() -> int:
    """Record as sent what killed processes of this machine handed over (their journals); returns how many."""
    recovered = 0
    db.session.commit()  # wait for the lock with no transaction open: the process holding it may need to write
    with journal.taking_over(journal_directory()):
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
    own_transport = transport is None
    transport = transport or get_transport()
    result = DispatchResult()
    limits, errors = configured_limits(), autopause.ErrorWindow.from_config(current_app.config)
    size = batch_size or _batch_size(limits, transport)
    log = journal.Journal(journal_directory())
    ledger = handover.Ledger()
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
                sent_to = handover.send(handover.Run(kind, transport, clock, result, limits, errors, log, ledger), prepared)
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


def _batch_size(limits: Limits, transport) -> int:
    """MAIL_BATCH_SIZE, or what the configured rates let go in BATCH_SECONDS if that is less."""
    rates = [rate for rate in (limits.rate, getattr(transport, "rate", None)) if rate]
    size = current_app.config["MAIL_BATCH_SIZE"]
    return min(size, max(1, int(min(rates) * BATCH_SECONDS))) if rates else size


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


def _sendable(now: datetime | None = None) -> list[tuple[str, int]]:
    """pending(), without mailings of a kind this process has no renderer for."""
    found = []
    for mailing, subject_id in pending(now):
        if kind_of(mailing) in _KINDS:
            found.append((mailing, subject_id))
        else:
            logger.warning("No renderer for mailing %s; left queued", mailing)
    return found


def dispatch_pending(now: datetime | None = None) -> DispatchResult:
    """Resume everything that waits (after a crash, or retries that are due): for `flask mail dispatch`."""
    total = DispatchResult()
    for mailing, subject_id in _sendable(now):
        result = dispatch(mailing, subject_id, now=now)
        total.sent, total.failed, total.retry = total.sent + result.sent, total.failed + result.failed, total.retry + result.retry
        total.stopped = total.stopped or result.stopped
    return total


def dispatch_pending_later(*, expires: float | None = None) -> int:
    """Hand every mailing that waits to the background workers (the scheduler's round with Celery);
    returns how many mailings."""
    mailings = _sendable()
    for mailing, subject_id in mailings:
        dispatch_later(mailing, subject_id, expires=expires)
    return len(mailings)
