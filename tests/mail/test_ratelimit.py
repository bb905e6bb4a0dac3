"""Token buckets: computed waits on an injected clock, limits per domain in the pipeline, Redis shared by workers."""
import threading
import time
from datetime import timedelta

import pytest
import redis

from crm.extensions import utcnow
from crm.mail import journal, pipeline
from crm.mail.models import DeliveryStatus
from crm.mail.pool import SMTPPool, ServerConfig
from crm.mail.ratelimit import Buckets, Limits, RedisBucket, TokenBucket, buckets, parse_rates
from tests.conftest import free_port
from tests.events.test_pipeline import MAILING, addresses, deliveries


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_the_bucket_computes_the_wait_until_the_next_token():
    clock = FakeClock()
    bucket = TokenBucket(4, burst=2, clock=clock)
    assert [bucket.try_take(), bucket.try_take()] == [0, 0]  # the burst
    assert bucket.try_take() == pytest.approx(0.25)
    clock.advance(0.1)
    assert bucket.try_take() == pytest.approx(0.15), "nothing was taken by the refused try"
    clock.advance(0.15)
    assert bucket.try_take() == 0
    clock.advance(100)
    assert [bucket.try_take() for _ in range(3)] == [0, 0, pytest.approx(0.25)], "never more than the burst saved up"


def test_reservations_line_up_one_token_apart():
    bucket = TokenBucket(10, burst=1, clock=FakeClock())
    assert [bucket.reserve() for _ in range(4)] == [0, pytest.approx(0.1), pytest.approx(0.2), pytest.approx(0.3)]


def test_the_real_rate_is_the_setting_however_long_sending_takes():
    """50 a second for a minute with 13 ms per SMTP dialogue: 3,000 messages plus the burst, not 50 pauses of 20 ms
    after each message (which would give about 1,800)."""
    clock = FakeClock()
    bucket = TokenBucket(50, burst=1, clock=clock)
    start, sent = clock.now, 0
    while clock.now - start < 60:
        clock.advance(bucket.reserve())  # the pipeline sleeps exactly this long
        clock.advance(0.013)  # the SMTP dialogue
        sent += 1
    assert 3000 <= sent <= 3002


def test_overall_rate_sleeps_the_computed_time():
    slept: list[float] = []
    clock = FakeClock()
    limits = Limits(Buckets(clock=clock), overall=2, sleep=slept.append, clock=clock)
    for _ in range(4):
        limits.pace()
    assert slept == [pytest.approx(0.5), pytest.approx(1.0)]  # a burst of 2, then one every half second


def test_held_back_messages_of_a_domain_queue_one_token_apart():
    clock = FakeClock()
    limits = Limits(Buckets(clock=clock), domains={"langsam.example.org": 0.5}, default_domain=0, clock=clock)
    waits = [limits.hold(f"p{n}@Langsam.Example.org") for n in range(4)]
    assert waits == [0, pytest.approx(2), pytest.approx(4), pytest.approx(6)]
    assert limits.hold("andere@example.org") == 0, "other domains have no limit"


def test_domain_rates_are_parsed_and_bad_entries_refused():
    assert parse_rates(" gmail.com=10, Web.de=0.5 ,") == {"gmail.com": 10.0, "web.de": 0.5}
    with pytest.raises(RuntimeError, match="gmail.com:zehn"):
        parse_rates("gmail.com:zehn")
    with pytest.raises(RuntimeError, match="CRM_MAIL_DOMAIN_RATES"):
        parse_rates("web.de=-1")


# --- in the pipeline --------------------------------------------------------------------------------------------


def test_a_full_domain_is_put_back_without_an_attempt_and_does_not_stall_the_others(
    app, make, mailbox, sent_hook, monkeypatch, fresh_buckets
):  # fmt: skip
    monkeypatch.setitem(app.config, "MAIL_DOMAIN_RATES", "langsam.example.org=0.01")  # one every 100 s
    slow = [make.person(email=f"p{n}@langsam.example.org") for n in range(3)]
    others = [make.person() for _ in range(2)]
    pipeline.queue(MAILING, 1, [slow[0].id, slow[1].id, others[0].id, slow[2].id, others[1].id])
    now = utcnow()

    result = pipeline.dispatch(MAILING, 1, now=now, batch_size=10)

    assert (result.sent, result.deferred, result.retry, result.failed) == (3, 2, 0, 0)
    assert addresses(mailbox) == sorted([slow[0].email] + [p.email for p in others])
    held = [d for d in deliveries() if d.status == DeliveryStatus.queued]
    assert [d.email for d in held] == [slow[1].email, slow[2].email]
    assert [d.attempts for d in held] == [0, 0], "holding back is no failed attempt"
    first, second = (d.claimed_until - now for d in held)
    assert timedelta(seconds=90) < first <= timedelta(seconds=100)  # the computed turn of the domain
    assert abs(second - first - timedelta(seconds=100)) < timedelta(seconds=1), "the next turn, not the same moment"
    assert pipeline.dispatch(MAILING, 1, now=now).sent == 0  # not before their turn


def test_a_run_waits_for_held_back_messages_that_are_due_soon(app, make, mailbox, sent_hook, monkeypatch, fresh_buckets):
    monkeypatch.setitem(app.config, "MAIL_DOMAIN_RATE", 5)  # every domain: a burst of 5, then one each 200 ms
    people = [make.person() for _ in range(8)]
    pipeline.queue(MAILING, 1, [p.id for p in people])

    result = pipeline.dispatch(MAILING, 1, batch_size=10)

    assert result.sent == 8 and result.deferred >= 1
    assert addresses(mailbox) == sorted(p.email for p in people)
    assert {d.status for d in deliveries()} == {DeliveryStatus.sent}


def test_at_a_slow_rate_a_batch_holds_five_seconds_of_sending(app, make, mailbox, sent_hook, monkeypatch):
    """A pause or a cancellation is looked at between batches: it takes effect within seconds, also when the
    mail server takes only one message a second."""
    clock = FakeClock()
    limits = Limits(Buckets(clock=clock), overall=1, sleep=clock.advance, clock=clock)
    monkeypatch.setattr(pipeline, "configured_limits", lambda: limits)
    people = [make.person() for _ in range(12)]
    pipeline.queue(MAILING, 1, [p.id for p in people])

    assert pipeline.dispatch(MAILING, 1).sent == 12

    assert [len(ids) for _, _, ids in sent_hook] == [5, 5, 2]
    assert clock.now - 1000 == pytest.approx(11), "one at once, then one a second"
    assert addresses(mailbox) == sorted(p.email for p in people)


@pytest.mark.parametrize("limited", ["overall", "server"])
def test_while_waiting_for_the_rate_every_message_in_the_journal_is_complete_at_the_server(app, make, smtp_server, mailbox,
                                                                                            sent_hook, monkeypatch, limited):  # fmt: skip
    """The journal counts a message as sent once its terminator is about to go out: a process killed while it
    waits for the rate must not leave one behind that the server never completed (and so never delivers)."""
    journaled, checks = [], []
    handing_over = journal.Journal.handing_over
    monkeypatch.setattr(journal.Journal, "handing_over", lambda self, *args: journaled.append(args) or handing_over(self, *args))

    def sleep(seconds: float) -> None:
        deadline = time.monotonic() + 2
        while len(mailbox.envelopes) < len(journaled) and time.monotonic() < deadline:
            time.sleep(0.01)  # the server thread takes it
        checks.append((len(journaled), len(mailbox.envelopes)))
        clock.advance(seconds)

    clock = FakeClock()
    if limited == "overall":
        monkeypatch.setattr(pipeline, "configured_limits", lambda: Limits(Buckets(clock=clock), overall=1, sleep=sleep, clock=clock))
        transport = None
    else:
        server = ServerConfig("127.0.0.1", smtp_server.port, rate=1)
        transport = SMTPPool([server], buckets=Buckets(clock=clock), timeout=5, clock=clock, sleep=sleep)
    pipeline.queue(MAILING, 1, [make.person().id for _ in range(4)])

    try:
        assert pipeline.dispatch(MAILING, 1, transport=transport).sent == 4
    finally:
        if transport:
            transport.close()
    assert len(checks) == 3 and all(at_server == journaled for journaled, at_server in checks), checks


def test_the_servers_rates_together_set_the_batch_too(app):
    servers = [ServerConfig("127.0.0.1", 25, rate=20), ServerConfig("127.0.0.1", 26, rate=10)]
    unlimited = [*servers, ServerConfig("127.0.0.1", 27)]  # takes whatever the others do not
    with app.app_context():
        assert pipeline._batch_size(Limits(Buckets()), SMTPPool(servers, buckets=Buckets())) == 150
        assert pipeline._batch_size(Limits(Buckets(), overall=2), SMTPPool(servers, buckets=Buckets())) == 10
        assert pipeline._batch_size(Limits(Buckets()), SMTPPool(unlimited, buckets=Buckets())) == 500


# --- Redis ------------------------------------------------------------------------------------------------------


def _evalsha_calls(client) -> int:
    return int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))


def test_redis_buckets_are_shared_by_workers_and_taken_in_blocks(redis_url):
    client = redis.Redis.from_url(redis_url)
    # Two workers, a burst of 12, refilling one token every 100 s: together they get 12, not 24.
    worker_a = RedisBucket(client, "crm:mail:rate:test", 0.01, burst=12, block=5)
    worker_b = RedisBucket(client, "crm:mail:rate:test", 0.01, burst=12, block=5)
    RedisBucket(client, "crm:mail:rate:warm-up", 1).try_take()  # loads the script into Redis
    before = _evalsha_calls(client)
    taken_a = sum(1 for _ in range(5) if worker_a.try_take() == 0)
    taken_b = sum(1 for _ in range(5) if worker_b.try_take() == 0)
    assert (taken_a, taken_b) == (5, 5)
    assert _evalsha_calls(client) - before == 2, "one round trip per block of five"
    assert [worker_a.try_take(), worker_a.try_take()] == [0, 0]  # the last two of the burst
    wait = worker_b.try_take()
    assert 90 < wait <= 100, "the bucket is empty for everybody; the wait is computed on Redis' clock"
    assert 90 < worker_a.reserve() <= 100 and 190 < worker_b.reserve() <= 200  # reservations line up
    client.close()


def test_redis_grants_each_token_once_to_concurrent_workers(redis_url):
    granted = []

    def worker():
        client = redis.Redis.from_url(redis_url)
        bucket = RedisBucket(client, "crm:mail:rate:race", 0.01, burst=30, block=1)
        granted.append(sum(1 for _ in range(20) if bucket.try_take() == 0))
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 30


def test_the_pipeline_keeps_its_buckets_in_the_configured_redis(app, make, mailbox, sent_hook, monkeypatch, redis_url,
                                                                fresh_buckets):  # fmt: skip
    monkeypatch.setitem(app.config, "MAIL_RATE_REDIS_URL", redis_url)
    monkeypatch.setitem(app.config, "MAIL_DOMAIN_RATES", "langsam.example.org=0.01")
    people = [make.person(email=f"r{n}@langsam.example.org") for n in range(2)]
    pipeline.queue(MAILING, 1, [p.id for p in people])

    result = pipeline.dispatch(MAILING, 1, now=utcnow())

    assert (result.sent, result.deferred) == (1, 1)
    assert isinstance(buckets().get("domain:langsam.example.org", 0.01), RedisBucket)
    client = redis.Redis.from_url(redis_url)
    assert client.exists("crm:mail:rate:domain:langsam.example.org")
    client.close()


def test_without_redis_the_limits_still_hold_in_this_process(caplog):
    bucket = Buckets(f"redis://127.0.0.1:{free_port()}/0").get("overall", 0.01, burst=1)  # nothing listens there
    assert bucket.try_take() == 0
    assert bucket.try_take() > 90
    assert "Redis not reachable" in caplog.text


def test_rate_zero_means_no_bucket():
    assert Buckets().get("overall", 0) is None
