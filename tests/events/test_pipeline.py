"""The delivery pipeline against real SMTP servers: queue once, send once, survive crashes and refusals."""
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from crm.contacts.models import Person
from crm.extensions import db, utcnow
from crm.mail import pipeline
from crm.mail.message import build_message, recipient
from crm.mail.models import Delivery, DeliveryStatus, Suppression, SuppressionReason
from crm.mail.transports import SMTPTransport
from tests.conftest import free_port

MAILING = "pipeline_test"


def _render(delivery):
    if delivery.email.startswith("kaputt"):
        raise ValueError("Vorlage fehlt")
    person = db.session.get(Person, delivery.person_id)
    return build_message(
        sender="Kommune 2.0 e. V. <geschaeftsstelle@example.org>", to=recipient(person.full_name, delivery.email),
        subject=f"Rundschreiben {delivery.subject_id}", text=f"Guten Tag {person.full_name}",
    )  # fmt: skip


@pytest.fixture()
def sent_hook():
    calls = []
    pipeline.register(MAILING, _render, on_sent=lambda mailing, subject_id, ids: calls.append((mailing, subject_id, sorted(ids))))
    yield calls
    pipeline._KINDS.pop(MAILING)


def deliveries(mailing=MAILING) -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Delivery).where(Delivery.mailing == mailing).order_by(Delivery.id)))


def addresses(mailbox) -> list[str]:
    return sorted(address for envelope in mailbox.envelopes for address in envelope.rcpt_tos)


def test_queue_is_set_based_and_skips_missing_suppressed_and_already_queued(make, count_queries, sent_hook):
    people = [make.person() for _ in range(3)]
    no_email = make.person(email=None)
    blocked = make.person(email="gesperrt@example.org")
    db.session.add(Suppression(email="gesperrt@example.org", reason=SuppressionReason.unsubscribed))
    ids = [p.id for p in people] + [no_email.id, blocked.id]
    db.session.flush()

    with count_queries() as queries:
        assert pipeline.queue(MAILING, 7, ids) == 3
    assert queries.count == 1
    assert pipeline.queue(MAILING, 7, ids) == 0, "queued twice"
    assert pipeline.queue(MAILING, 8, sa.select(sa.literal(people[0].id))) == 1  # another subject, a SELECT of ids
    rows = deliveries()
    assert sorted((d.subject_id, d.person_id) for d in rows) == sorted([(7, p.id) for p in people] + [(8, people[0].id)])
    assert {d.status for d in rows} == {DeliveryStatus.queued}
    assert rows[0].email == people[0].email  # the address at queueing time


def test_dispatch_sends_each_once_over_the_real_server_even_if_started_twice(make, mailbox, sent_hook):
    people = [make.person() for _ in range(5)]
    pipeline.queue(MAILING, 1, [p.id for p in people])
    first = pipeline.dispatch(MAILING, 1, batch_size=2)
    pipeline.queue(MAILING, 1, [p.id for p in people])
    second = pipeline.dispatch(MAILING, 1)

    assert (first.sent, second.sent) == (5, 0)
    assert addresses(mailbox) == sorted(p.email for p in people)
    rows = deliveries()
    assert {d.status for d in rows} == {DeliveryStatus.sent}
    assert all(d.sent_at and d.attempts == 1 and d.claimed_until is None for d in rows)
    assert sorted(d.message_id for d in rows) == sorted(m["Message-ID"] for m in mailbox.messages)
    assert [len(ids) for _, _, ids in sent_hook] == [2, 2, 1]  # once per batch
    assert sorted(i for _, _, ids in sent_hook for i in ids) == sorted(p.id for p in people)


class CrashingTransport(SMTPTransport):
    """Hands over `survive` messages, then the worker dies."""

    def __init__(self, port: int, survive: int):
        super().__init__("127.0.0.1", port, timeout=5)
        self.survive = survive

    def announce(self, msg, **kwargs):
        if self.survive == 0:
            raise RuntimeError("Absturz des Arbeitsprozesses")
        self.survive -= 1
        return super().announce(msg, **kwargs)


def test_after_a_crash_the_rest_is_sent_once(app, make, mailbox, smtp_server, sent_hook):
    people = [make.person() for _ in range(6)]
    pipeline.queue(MAILING, 1, [p.id for p in people])
    transport = CrashingTransport(smtp_server.port, survive=3)
    with pytest.raises(RuntimeError, match="Absturz"):
        pipeline.dispatch(MAILING, 1, transport=transport, batch_size=2)
    transport.close()
    rows = deliveries()
    assert [d.status for d in rows] == [DeliveryStatus.sent] * 3 + [DeliveryStatus.queued] * 3
    assert all(d.claimed_until is None for d in rows[3:]), "unsent rows must be free for the next run"

    assert pipeline.dispatch_pending().sent == 3
    assert addresses(mailbox) == sorted(p.email for p in people)  # nobody twice, nobody left out


def test_a_claim_of_a_dead_worker_runs_out(make, mailbox, sent_hook):
    people = [make.person() for _ in range(2)]
    pipeline.queue(MAILING, 1, [p.id for p in people])
    now = utcnow()
    db.session.execute(sa.update(Delivery).where(Delivery.person_id == people[0].id).values(claimed_until=now + timedelta(minutes=5)))

    assert pipeline.dispatch(MAILING, 1, now=now).sent == 1  # the other worker's row is left alone
    assert pipeline.dispatch(MAILING, 1, now=now + timedelta(minutes=6)).sent == 1
    assert addresses(mailbox) == sorted(p.email for p in people)


class PickyServer:
    """Refuses some recipients, permanently or for now, and remembers the client connections."""

    def __init__(self):
        self.received: list[str] = []
        self.sessions: set[int] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("unbekannt"):
            return "550 5.1.1 Mailbox unbekannt"
        if address.startswith("voll"):
            return "452 4.2.2 Postfach voll"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.sessions.add(id(session))
        self.received += envelope.rcpt_tos
        return "250 Message accepted for delivery"


@pytest.fixture()
def picky_server():
    controller = Controller(PickyServer(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


def test_refused_recipients_do_not_stop_the_batch(app, make, picky_server, sent_hook, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_PORT", picky_server.port)
    good = [make.person() for _ in range(3)]
    unknown = make.person(email="unbekannt@example.org")
    full = make.person(email="voll@example.org")
    broken = make.person(email="kaputt@example.org")
    pipeline.queue(MAILING, 1, [good[0].id, unknown.id, full.id, broken.id, good[1].id, good[2].id])
    now = utcnow()

    result = pipeline.dispatch(MAILING, 1, now=now, batch_size=10)

    assert (result.sent, result.failed, result.retry) == (3, 2, 1)
    assert sorted(picky_server.handler.received) == sorted(p.email for p in good)
    assert len(picky_server.handler.sessions) == 1, "one connection for the whole batch"
    by_email = {d.email: d for d in deliveries()}
    assert by_email["unbekannt@example.org"].status == DeliveryStatus.failed
    assert "5.1.1" in by_email["unbekannt@example.org"].last_error
    assert db.session.scalar(sa.select(Suppression.reason).where(Suppression.email == "unbekannt@example.org")) == "hard_bounce"
    assert by_email["kaputt@example.org"].status == DeliveryStatus.failed
    assert "Vorlage fehlt" in by_email["kaputt@example.org"].last_error
    waiting = by_email["voll@example.org"]
    assert (waiting.status, waiting.attempts) == (DeliveryStatus.queued, 1)
    assert waiting.claimed_until > now + timedelta(minutes=4)  # retried later, with backoff

    assert pipeline.dispatch(MAILING, 1, now=now).sent == 0  # not before its time
    later = pipeline.dispatch(MAILING, 1, now=now + timedelta(hours=1))
    assert (later.sent, later.retry) == (0, 1)
    assert {d.email: d for d in deliveries()}["voll@example.org"].attempts == 2


def test_a_temporary_failure_gives_up_after_the_last_attempt(app, make, picky_server, sent_hook, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_PORT", picky_server.port)
    monkeypatch.setitem(app.config, "MAIL_MAX_ATTEMPTS", 2)
    full = make.person(email="voll@example.org")
    pipeline.queue(MAILING, 1, [full.id])
    pipeline.dispatch(MAILING, 1)
    pipeline.dispatch(MAILING, 1, now=utcnow() + timedelta(days=1))
    [row] = deliveries()
    assert (row.status, row.attempts) == (DeliveryStatus.failed, 2)
    assert db.session.scalar(sa.select(Suppression.id).where(Suppression.email == "voll@example.org")) is None


def test_an_unreachable_server_stops_the_run_and_keeps_everything_queued(app, make, sent_hook, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())  # nothing listens there
    people = [make.person() for _ in range(3)]
    pipeline.queue(MAILING, 1, [p.id for p in people])

    result = pipeline.dispatch(MAILING, 1)

    assert result.sent == 0 and "nicht erreichbar" in result.stopped
    rows = deliveries()
    assert [d.status for d in rows] == [DeliveryStatus.queued] * 3
    assert [d.attempts for d in rows] == [1, 0, 0]
    assert all(d.claimed_until is not None for d in rows)
    assert pipeline.pending() == []  # nothing due until the server had time to come back
    assert pipeline.pending(utcnow() + timedelta(hours=1)) == [(MAILING, 1)]


def test_a_renderer_may_skip_a_message(make, mailbox, sent_hook, monkeypatch):
    person = make.person()
    pipeline.queue(MAILING, 1, [person.id])
    db.session.add(Suppression(email=person.email, reason=SuppressionReason.complaint))  # after queueing

    assert pipeline.dispatch(MAILING, 1).failed == 1
    [row] = deliveries()
    assert row.status == DeliveryStatus.failed and row.last_error.startswith("Entfallen")
    assert mailbox.messages == []


def test_flask_mail_dispatch_resumes_what_waits(make, runner, mailbox, sent_hook):
    people = [make.person() for _ in range(2)]
    pipeline.queue(MAILING, 3, [p.id for p in people])
    result = runner.invoke(args=["mail", "dispatch"])
    assert result.exit_code == 0, result.output
    assert "2 versandt, 0 fehlgeschlagen" in result.output
    assert addresses(mailbox) == sorted(p.email for p in people)
    assert "0 versandt" in runner.invoke(args=["mail", "dispatch"]).output
