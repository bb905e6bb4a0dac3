"""Several dispatchers share one mailing: each message goes out once, whoever claims it.

The dispatchers run in two threads of this process, each with its own app context and so its own
session and database connection, against a database both see committed (PostgreSQL with
CRM_TEST_DATABASE_URL: row locks that skip locked rows; SQLite otherwise).
"""
import threading

from crm.engine.celery import share_sqlite
from crm.extensions import db
from crm.mail import pipeline
from crm.mail.transports import get_transport
from crm.newsletters import sending
from crm.newsletters.models import Newsletter, NewsletterStatus
from tests.engine.conftest import PATIENCE
from tests.engine.helpers import delivery_statuses, newsletter_for, newsletter_status

RECIPIENTS = 60


class MeetingTransport:
    """The real SMTP transport; after its first message it waits until the other dispatcher has sent one
    too, so the two certainly work on the mailing at the same time (each with a batch in hand)."""

    def __init__(self, meeting: threading.Barrier):
        self.inner, self.meeting, self.met = get_transport(), meeting, False

    def send(self, envelope, **options):
        answer = self.inner.send(envelope, **options)
        if not self.met:
            self.met = True
            self.meeting.wait(timeout=PATIENCE)
        return answer

    def close(self):
        self.inner.close()


def test_two_dispatchers_at_once_send_every_message_once(engine):
    newsletter_id, emails = newsletter_for(engine, RECIPIENTS)
    engine.app.config["MAIL_BATCH_SIZE"] = 5
    share_sqlite(db.engine)  # as in a worker process (no-op on PostgreSQL)
    assert sending.start(db.session.get(Newsletter, newsletter_id), actor=None) == RECIPIENTS
    db.session.commit()
    db.session.close()  # the dispatchers' connections must not wait for this one
    meeting, results, errors = threading.Barrier(2), [], []

    def dispatcher():
        with engine.app.app_context():
            transport = MeetingTransport(meeting)
            try:
                results.append(pipeline.dispatch(sending.MAILING, newsletter_id, transport=transport))
            except Exception as error:  # reported below; a thread's exception would otherwise be lost
                errors.append(error)
            finally:
                transport.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=PATIENCE)

    assert not errors
    assert sorted(result.sent > 0 for result in results) == [True, True]  # both did part of the work
    assert sum(result.sent for result in results) == RECIPIENTS
    assert engine.mailbox.per_recipient() == {email: 1 for email in emails}
    assert delivery_statuses(sending.MAILING, newsletter_id) == {"sent": RECIPIENTS}
    assert newsletter_status(engine, newsletter_id) == NewsletterStatus.sent
