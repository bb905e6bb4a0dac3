"""A worker killed with SIGKILL in the middle of a newsletter: after a restart every recipient has
exactly one message, and every delivery is recorded as sent."""
from collections import Counter

from crm.newsletters import sending
from crm.newsletters.models import NewsletterStatus
from tests.engine.helpers import delivery_statuses, newsletter_for, newsletter_status, start_newsletter

RECIPIENTS = 300


def test_a_worker_killed_mid_send_leaves_every_recipient_exactly_one_message(engine):
    # Small batches and short claims: the killed worker's batches are free again after 3 seconds, and
    # beat's round (every second) hands them to the new worker.
    engine.settings.update(MAIL_BATCH_SIZE="5", MAIL_CLAIM_SECONDS="3", SCHEDULER_SECONDS="1")
    engine.mailbox.delay = 0.01  # the server takes a moment per message, so the kill lands mid-send
    newsletter_id, emails = newsletter_for(engine, RECIPIENTS)
    first = engine.start_worker("worker")

    start_newsletter(newsletter_id)
    engine.wait_for(lambda: len(engine.mailbox.envelopes) >= 60, "Versand hat nicht begonnen")
    engine.kill(first)
    received_before_kill = len(engine.mailbox.envelopes)
    assert received_before_kill < RECIPIENTS, "the worker finished before it was killed: nothing was tested"

    engine.start_worker("restarted")
    engine.start_beat()
    engine.wait_for(lambda: newsletter_status(engine, newsletter_id) == NewsletterStatus.sent, "Versand nicht fortgesetzt")

    assert delivery_statuses(sending.MAILING, newsletter_id) == {"sent": RECIPIENTS}
    received = engine.mailbox.per_recipient()
    assert set(received) == set(emails), "messages lost"
    twice = {address: n for address, n in received.items() if n > 1}
    assert not twice, f"{len(twice)} Empfänger mehrfach ({sum(twice.values()) - len(twice)} Duplikate; {received_before_kill} vor dem Abbruch)"
    assert received == Counter({email: 1 for email in emails})
