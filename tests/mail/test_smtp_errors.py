"""Refusals of real SMTP servers (aiosmtpd): 4xx retries with backoff, 5xx fails at once, hard bounces are
suppressed, a 421 closes the connection, and several servers share the load and stand in for each other."""
import dataclasses
import smtplib
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from config import TestConfig
from crm import create_app
from crm.extensions import db, utcnow
from crm.mail import pipeline
from crm.mail.message import build_message
from crm.mail.models import DeliveryStatus, Suppression
from crm.mail.pool import SMTPPool, ServerConfig, parse_server
from crm.mail.ratelimit import Buckets
from crm.mail import dialogue, transports
from crm.mail.transports import SMTPTransport, TransportError
from tests.conftest import free_port
from tests.mail.conftest import ScriptedServer
from tests.events.test_pipeline import MAILING, deliveries


def _message(to: str = "anna@example.org"):
    return build_message(sender="Kommune 2.0 e. V. <geschaeftsstelle@example.org>", to=to, subject="Rundschreiben", text="Hallo")


def _use(app, monkeypatch, *controllers, dead: int = 0):
    """Send over these servers (and `dead` ones nothing listens on, first)."""
    urls = [f"smtp://127.0.0.1:{free_port()}" for _ in range(dead)] + [f"smtp://127.0.0.1:{c.port}" for c in controllers]
    monkeypatch.setitem(app.config, "SMTP_SERVERS", ",".join(urls))


def suppressed(email: str) -> bool:
    return db.session.scalar(sa.select(Suppression.id).where(Suppression.email == email)) is not None


# --- the transport ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("local", ["data421", "rcpt421"])
def test_a_421_closes_the_connection_and_the_next_message_opens_a_new_one(scripted, local):
    server = scripted()
    transport = SMTPTransport("127.0.0.1", server.port, timeout=5)
    try:
        with pytest.raises(TransportError) as refused:
            transport.send(_message(f"{local}@example.org"))
        transport.send(_message())
    finally:
        transport.close()
    assert refused.value.code == 421 and not refused.value.permanent
    assert refused.value.reply.startswith("421 4.")
    assert server.handler.received == ["anna@example.org"]


def test_a_connection_the_server_dropped_while_idle_is_opened_anew(monkeypatch):
    monkeypatch.setattr(transports, "IDLE_CHECK_SECONDS", 0)  # check before every message
    port = free_port()
    before, after = ScriptedServer(), ScriptedServer()
    transport = SMTPTransport("127.0.0.1", port, timeout=5)
    try:
        controller = Controller(before, hostname="127.0.0.1", port=port)
        controller.start()
        transport.send(_message("erste@example.org"))
        controller.stop()  # the server goes away with the open connection (a restart, an idle timeout)
        controller = Controller(after, hostname="127.0.0.1", port=port)
        controller.start()
        transport.send(_message("zweite@example.org"))
        controller.stop()
    finally:
        transport.close()
    assert (before.received, after.received) == (["erste@example.org"], ["zweite@example.org"])


def test_refusals_say_the_servers_answer_per_recipient(scripted):
    server = scripted()
    transport = SMTPTransport("127.0.0.1", server.port, timeout=5)
    try:
        with pytest.raises(TransportError) as unknown:
            transport.send(_message("unbekannt@example.org"))
        with pytest.raises(TransportError) as full:
            transport.send(_message("voll@example.org"))
    finally:
        transport.close()
    assert unknown.value.permanent and unknown.value.refused == {"unbekannt@example.org": "550 5.1.1 Mailbox unbekannt"}
    assert "550 5.1.1 Mailbox unbekannt" in str(unknown.value)
    assert full.value.permanent and full.value.reply == "552 5.2.2 Postfach voll"


def test_a_refused_recipient_of_several_leaves_the_others_and_the_connection(scripted):
    server = scripted()
    transport = SMTPTransport("127.0.0.1", server.port, timeout=5)
    several = dataclasses.replace(
        transports.envelope(_message()), recipients=("anna@example.org", "unbekannt@example.org", "bernd@example.org")
    )  # fmt: skip
    try:
        transport.send(several)
        transport.send(_message("carla@example.org"))
    finally:
        transport.close()
    assert server.handler.received == ["anna@example.org", "bernd@example.org", "carla@example.org"]
    assert len(set(server.handler.sessions)) == 1


# --- the pipeline -----------------------------------------------------------------------------------------------


def test_4xx_is_retried_with_growing_backoff_until_the_last_attempt(app, make, scripted, sent_hook, monkeypatch):
    server = scripted()
    _use(app, monkeypatch, server)
    monkeypatch.setitem(app.config, "MAIL_MAX_ATTEMPTS", 3)
    person = make.person(email="data451@example.org")
    pipeline.queue(MAILING, 1, [person.id])
    now, waits = utcnow(), []

    for _ in range(2):
        assert pipeline.dispatch(MAILING, 1, now=now).retry == 1
        [row] = deliveries()
        assert row.status == DeliveryStatus.queued and row.last_error.endswith("451 4.3.0 Voruebergehender lokaler Fehler")
        waits.append(row.claimed_until - now)
        now = row.claimed_until
    assert waits == [timedelta(minutes=5), timedelta(minutes=10)]  # MAIL_RETRY_SECONDS, doubled

    assert pipeline.dispatch(MAILING, 1, now=now).failed == 1
    [row] = deliveries()
    assert (row.status, row.attempts) == (DeliveryStatus.failed, 3)
    assert not suppressed(person.email)
    assert server.handler.attempts == 3


def test_5xx_fails_at_once_and_only_unknown_addresses_are_suppressed(app, make, scripted, sent_hook, monkeypatch):
    server = scripted()
    _use(app, monkeypatch, server)
    locals_ = ["unbekannt", "data550", "ohnecode", "voll", "spam", "rcpt451"]
    people = [make.person(email=f"{local}@example.org") for local in locals_] + [make.person()]
    pipeline.queue(MAILING, 1, [p.id for p in people])

    result = pipeline.dispatch(MAILING, 1, batch_size=10)

    assert (result.sent, result.failed, result.retry) == (1, 5, 1)
    by_email = {d.email: d for d in deliveries()}
    for local in ["unbekannt", "data550", "ohnecode", "voll", "spam"]:
        assert (by_email[f"{local}@example.org"].status, by_email[f"{local}@example.org"].attempts) == (DeliveryStatus.failed, 1)
    assert [local for local in locals_ if suppressed(f"{local}@example.org")] == ["unbekannt", "data550", "ohnecode"]
    reason = db.session.scalar(sa.select(Suppression.reason).where(Suppression.email == "data550@example.org"))
    assert reason == "hard_bounce"
    assert by_email["rcpt451@example.org"].status == DeliveryStatus.queued


@pytest.mark.parametrize("local", ["rcpt421", "data421"])
def test_a_421_of_the_only_server_stops_the_run_and_retries_later(app, make, scripted, sent_hook, monkeypatch, local):
    server = scripted()
    _use(app, monkeypatch, server)
    first, closing, rest = make.person(), make.person(email=f"{local}@example.org"), make.person()
    pipeline.queue(MAILING, 1, [first.id, closing.id, rest.id])
    now = utcnow()

    result = pipeline.dispatch(MAILING, 1, now=now)

    assert result.sent == 1 and "421 4." in result.stopped
    by_email = {d.email: d for d in deliveries()}
    assert (by_email[closing.email].status, by_email[closing.email].attempts) == (DeliveryStatus.queued, 1)
    assert by_email[closing.email].claimed_until == now + timedelta(minutes=5)
    # The next message's envelope was out already (crm.mail.dialogue): it is put back untried.
    assert (by_email[rest.email].attempts, by_email[rest.email].claimed_until) == (0, now + timedelta(minutes=5))
    assert server.handler.received == [first.email]


def test_an_unreachable_server_hands_over_to_the_next(app, make, scripted, sent_hook, monkeypatch):
    good = scripted()
    _use(app, monkeypatch, good, dead=1)
    people = [make.person() for _ in range(4)]
    pipeline.queue(MAILING, 1, [p.id for p in people])

    result = pipeline.dispatch(MAILING, 1)

    assert (result.sent, result.stopped) == (4, None)
    assert sorted(good.handler.received) == sorted(p.email for p in people)
    assert all(d.attempts == 1 for d in deliveries())


def test_a_server_answering_421_is_left_out_for_a_while(app, make, scripted, sent_hook, monkeypatch):
    closing = scripted(everyone=("DATA", "421 4.3.2 Dienst wird heruntergefahren"))
    good = scripted()
    _use(app, monkeypatch, closing, good)
    people = [make.person() for _ in range(5)]
    pipeline.queue(MAILING, 1, [p.id for p in people])

    assert pipeline.dispatch(MAILING, 1).sent == 5
    assert sorted(good.handler.received) == sorted(p.email for p in people)
    assert len(closing.handler.sessions) == 1, "tried once, then left out for SMTP_SERVER_COOLDOWN"


def test_when_no_server_is_left_the_run_stops(app, make, sent_hook, monkeypatch):
    _use(app, monkeypatch, dead=2)
    pipeline.queue(MAILING, 1, [make.person().id])
    result = pipeline.dispatch(MAILING, 1)
    assert result.sent == 0 and result.stopped.startswith("Keiner der Mailserver nimmt gerade an:")
    assert result.stopped.count("nicht erreichbar") == 2


# --- the pool ---------------------------------------------------------------------------------------------------


def _servers(*controllers, rates=()) -> list[ServerConfig]:
    rates = list(rates) + [0] * len(controllers)
    return [ServerConfig("127.0.0.1", c.port, rate=rate, burst=1 if rate else None) for c, rate in zip(controllers, rates)]


def _send_through(pool: SMTPPool, number: int) -> None:
    try:
        for n in range(number):
            pool.send(_message(f"person{n}@example.org"))
    finally:
        pool.close()


def test_servers_take_turns_over_one_connection_each(scripted):
    first, second = scripted(), scripted()
    _send_through(SMTPPool(_servers(first, second), timeout=5), 6)
    assert (len(first.handler.received), len(second.handler.received)) == (3, 3)
    assert len(set(first.handler.sessions)) == len(set(second.handler.sessions)) == 1


def test_a_server_without_tokens_is_passed_over(scripted):
    slow, fast = scripted(), scripted()
    _send_through(SMTPPool(_servers(slow, fast, rates=[0.01]), buckets=Buckets(), timeout=5), 5)  # slow: one per 100 s
    assert (len(slow.handler.received), len(fast.handler.received)) == (1, 4)


def test_a_message_refused_for_itself_is_not_tried_elsewhere(scripted):
    first, second = scripted(), scripted()
    pool = SMTPPool(_servers(first, second), timeout=5)
    try:
        with pytest.raises(TransportError, match="5.1.1"):
            pool.send(_message("unbekannt@example.org"))
    finally:
        pool.close()
    assert first.handler.attempts + second.handler.attempts == 1


def test_server_urls():
    server = parse_server("smtp://versand%40example.org:geh%3Aeim@mail.example.org:587?tls=starttls&rate=50&burst=10")
    assert server == ServerConfig("mail.example.org", 587, "starttls", "versand@example.org", "geh:eim", 50.0, 10.0)
    assert parse_server("smtps://mail.example.org") == ServerConfig("mail.example.org", 465, "ssl")
    with pytest.raises(RuntimeError, match="CRM_SMTP_SERVERS") as refused:
        parse_server("smtp://u:geheim@mail.example.org?tls=irgendwie")
    assert "geheim" not in str(refused.value)


def test_the_app_does_not_start_with_a_bad_server_url():
    class Config(TestConfig):
        SMTP_SERVERS = "http://mail.example.org"

    with pytest.raises(RuntimeError, match="keine Adresse der Form smtp://"):
        create_app(Config)


@pytest.mark.parametrize("address", [
    "leser@example.org", "bounces+4711-0123456789ab@example.org", "a..b@example.org", "{a}|b~%c@example.org",
    '"mit leerzeichen"@example.org', "Name <name@example.org>", "", "<>", "zoë@example.org",
])  # fmt: skip
def test_envelope_addresses_are_quoted_as_smtplib_quotes_them(address):
    assert dialogue.quoted(address) == smtplib.quoteaddr(address)
