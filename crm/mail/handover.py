"""Handing a batch of messages to the mail server, and recording what happened.

The pipeline (crm.mail.pipeline) claims and prepares a batch; send() hands it over with no
transaction open. Messages go out in steps (crm.mail.dialogue): a message's envelope is answered
while the next one is built, and its final answer is read after that, so the server works on one
while this process makes the other. Each message is noted in the journal just
before its DATA terminator (crm.mail.journal). What happened to each delivery goes into a Ledger,
written with one executemany UPDATE per kind of change before the batch's commit.
"""
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Callable

import sqlalchemy as sa
from flask import current_app

from crm.extensions import db, utcnow
from crm.mail import autopause, journal
from crm.mail.models import Delivery, DeliveryStatus, SuppressionReason
from crm.mail.ratelimit import Limits
from crm.mail.suppressions import suppress
from crm.mail.transports import Envelope, TransportError, envelope
from crm.mail.verp import return_path

if TYPE_CHECKING:
    from crm.mail.pipeline import DispatchResult, MailingKind

logger = logging.getLogger(__name__)

#: Enhanced status codes (RFC 3463) of a recipient address that does not exist or cannot exist (5.1.1
#: mailbox, 5.1.2 domain, 5.1.3 syntax, 5.1.6 moved away, 5.1.10 null MX): the address is suppressed,
#: whether a server refuses it (HARD_BOUNCE, a reply) or reports it later (HARD_BOUNCE_STATUS, a DSN).
_HARD_BOUNCE_CODES = r"5\.1\.(?:1|2|3|6|10)"
HARD_BOUNCE = re.compile(rf"^5\d\d {_HARD_BOUNCE_CODES}\b")
HARD_BOUNCE_STATUS = re.compile(rf"^{_HARD_BOUNCE_CODES}$")
#: The same said in words by a server that gives no enhanced status code.
HARD_BOUNCE_TEXT = re.compile(r"^55[03] (?!\d\.)(.*\b)?(user unknown|unknown user|no such user|mailbox not found)", re.IGNORECASE)


class SkipDelivery(Exception):
    """Raised by a renderer when the message no longer applies; the German reason is recorded."""


@dataclass(frozen=True)
class Row:
    """What a renderer reads of its delivery, copied before the commit expires the row (reading an
    expired attribute costs a query)."""

    id: int
    mailing: str
    subject_id: int
    person_id: int | None
    email: str
    attempts: int


@dataclass
class Prepared:
    row: Row
    #: None until built: a kind with `prepare` is built in the send loop, while the server takes the
    #: previous message (its renderer reads only what prepare() loaded).
    envelope: Envelope | None = None

    @property
    def delivery_id(self) -> int:
        return self.row.id


class Ledger:
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
        table = Delivery.__table__
        for keys, rows in groups.items():
            # Core, not the ORM's bulk UPDATE by primary key: a third less time per row.
            changes = {key: sa.bindparam(key) for key in keys if key != "id"}
            stmt = table.update().where(table.c.id == sa.bindparam("delivery_id")).values(changes)
            db.session.execute(stmt, [{**row, "delivery_id": row["id"]} for row in rows])
        self.rows = {}


def build(kind: "MailingKind", item: Prepared, delivery, result: "DispatchResult", ledger: Ledger) -> bool:
    """Render the message of `delivery` (the row or its copy) into item.envelope; False when it cannot be."""
    try:
        item.envelope = envelope(kind.render(delivery), sender=return_path(delivery))
        return True
    except SkipDelivery as skip:
        ledger.finish(item.row.id, item.row.attempts, DeliveryStatus.failed, f"Entfallen: {skip}")
    except Exception as exc:  # one recipient's broken data must not stop everybody else's mail
        logger.exception("Delivery %s of %s could not be rendered", item.row.id, item.row.mailing)
        ledger.finish(item.row.id, item.row.attempts + 1, DeliveryStatus.failed, f"Die Nachricht konnte nicht erstellt werden: {exc}")
    result.failed += 1
    return False


def _hard_bounce(error: TransportError, email: str | None) -> bool:
    """Whether the server said that `email` does not exist (at RCPT, or at DATA for a message to it alone)."""
    answer = error.refused.get((email or "").lower())
    return bool(error.permanent and answer and (HARD_BOUNCE.search(answer) or HARD_BOUNCE_TEXT.search(answer)))


def _failed(item: Prepared, error: TransportError, now: datetime, result: "DispatchResult", ledger: Ledger) -> None:
    """A refused message: retry later with backoff, or give up when permanent or tried often enough."""
    config = current_app.config
    attempts = item.row.attempts + 1
    if error.permanent or attempts >= config["MAIL_MAX_ATTEMPTS"]:
        ledger.finish(item.delivery_id, attempts, DeliveryStatus.failed, str(error))
        result.failed += 1
        if _hard_bounce(error, item.row.email):
            suppress(item.row.email, SuppressionReason.hard_bounce, note=str(error))
        return
    backoff = timedelta(seconds=config["MAIL_RETRY_SECONDS"] * 2 ** (attempts - 1))
    ledger.finish(item.delivery_id, attempts, DeliveryStatus.queued, str(error), until=now + backoff)
    result.retry += 1


@dataclass
class Run:
    """One batch's hand-over: the run's limits, error window, journal and ledger."""

    kind: "MailingKind"
    transport: object
    now: datetime
    result: "DispatchResult"
    limits: Limits
    errors: autopause.ErrorWindow
    log: journal.Journal
    ledger: Ledger


def send(run: Run, prepared: list[Prepared]) -> list[int]:
    """Hand the messages over; returns the ids of the people sent to. No transaction is open here."""
    flight = _Flight(run)
    index = 0
    try:
        for index, item in enumerate(prepared):
            if item.envelope is None and not build(run.kind, item, item.row, run.result, run.ledger):
                continue
            if flight.take(item):
                _stop(run, prepared[index + 1 :])
                break
        index = len(prepared)  # each one is on its way, recorded or put back
        flight.land()
    except BaseException:
        # Keep what went out (a message handed over counts as sent, as in the journal), free the rest
        # for the next run, then let the error propagate.
        release([*flight.crashed(), *prepared[index:]], None, run.ledger)
        raise
    return [person_id for person_id in flight.sent_to if person_id is not None]


class _Flight:
    """The messages on their way (crm.mail.dialogue): one announced (its envelope is out) and one handed
    over (its final answer is not read yet). While this process builds the next message, the server
    answers the one envelope and takes the other content: neither waits for the other."""

    def __init__(self, run: Run):
        self.run = run
        self.sent_to: list[int | None] = []
        self.announced: tuple[Prepared, object] | None = None
        self.outstanding: tuple[Prepared, Callable | None] | None = None

    def take(self, item: Prepared) -> bool:
        """Hand over the announced message, then announce `item`. True when sending must stop; `item`
        and the announced message are then put back."""
        # Paced before the hand-over: the terminator held back for the next envelope (crm.mail.dialogue)
        # must not wait out the rate, or a message the journal has as sent could be lost with the process.
        self.run.limits.pace()
        if self.announced and self._hand_over():
            _stop(self.run, [item])
            return True
        try:
            self.announced = (item, _announce(self.run, item))
        except TransportError as error:
            return _refused(self.run, item, error)
        return False

    def land(self) -> None:
        """Hand over the announced message and read the last final answer."""
        if self.announced and self._hand_over():
            return
        if self.outstanding:
            _answered(self.run, *self.outstanding, self.sent_to)
            self.outstanding = None

    def _hand_over(self) -> bool:
        # The final answer to the message before comes first on the connection.
        item, outgoing = self.announced
        if self.outstanding:
            stop = _answered(self.run, *self.outstanding, self.sent_to)
            self.outstanding = None
            if stop:
                outgoing.abandon()
                self.announced = None
                _stop(self.run, [item])
                return True
        try:
            answer = outgoing.hand_over()
        except TransportError as error:
            self.announced = None
            return _refused(self.run, item, error)
        self.announced, self.outstanding = None, (item, answer)
        return False

    def crashed(self) -> list[Prepared]:
        """After an exception: what was handed over counts as sent; returns the announced message, given up."""
        if self.outstanding:
            if hasattr(self.run.transport, "flush"):  # its terminator, held back for the next envelope, goes out now
                self.run.transport.flush()
            _sent(self.run, self.outstanding[0], self.sent_to)
        if not self.announced:
            return []
        self.announced[1].abandon()
        return [self.announced[0]]


def _announce(run: Run, item: Prepared):
    """Start handing `item` over: its envelope goes out now (a transport that cannot announce sends
    the whole message at hand_over())."""
    journal_it = partial(run.log.handing_over, item.row.id, item.envelope.message_id)
    if hasattr(run.transport, "announce"):
        return run.transport.announce(item.envelope, before_commit=journal_it)
    return _AllAtOnce(run.transport, item.envelope, journal_it)


@dataclass
class _AllAtOnce:
    transport: object
    envelope: Envelope
    before_commit: Callable[[], None]

    def hand_over(self) -> Callable[[], None] | None:
        return self.transport.send(self.envelope, before_commit=self.before_commit, deferred=True)

    def abandon(self) -> None:
        pass


def _answered(run: Run, item: Prepared, answer: Callable, sent_to: list) -> bool:
    """Read the final answer to `item`; True when sending must stop."""
    stop = False
    try:
        if answer is not None:  # a transport that answers at once returns nothing to wait for
            answer()
    except TransportError as error:
        if error.elsewhere:  # not taken, for no fault of the message: due again at once
            run.ledger.release(item.delivery_id, None)
        else:
            stop = _refused(run, item, error)
    else:
        _sent(run, item, sent_to)
    item.envelope = None  # done with: the batch holds only the messages on their way (a newsletter's are 28 KB)
    return stop


def _sent(run: Run, item: Prepared, sent_to: list) -> None:
    run.errors.succeeded()
    run.ledger.finish(item.row.id, item.row.attempts + 1, DeliveryStatus.sent, None, sent_at=utcnow(), message_id=item.envelope.message_id)
    sent_to.append(item.row.person_id)
    run.result.sent += 1


def _refused(run: Run, item: Prepared, error: TransportError) -> bool:
    """Record a refusal; True when sending must stop (no server reachable, or too many refusals)."""
    _failed(item, error, run.now, run.result, run.ledger)
    run.result.paused = run.errors.failed(error)
    if error.connection:
        run.result.stopped = str(error)
    return bool(error.connection or run.result.paused)


def _stop(run: Run, rest: list[Prepared]) -> None:
    """Put the rest of the batch back: after a lost connection when the retry is due, after a pause at once."""
    retry = run.now + timedelta(seconds=current_app.config["MAIL_RETRY_SECONDS"])
    release(rest, retry if run.result.stopped else None, run.ledger)


def release(items: list[Prepared], until: datetime | None, ledger: Ledger) -> None:
    for item in items:
        ledger.release(item.delivery_id, until)
