"""Celery beat runs the scheduler: it starts scheduled newsletters and sends due reminders, each once."""
from datetime import timedelta

import sqlalchemy as sa

from crm.events.sending import REMINDER_OPEN
from crm.extensions import db, utcnow
from crm.mail.models import Delivery
from crm.newsletters import sending
from crm.newsletters.models import Newsletter, NewsletterStatus
from crm.tasks import queue_due_work
from tests.engine.conftest import count_where
from tests.engine.helpers import delivery_statuses, newsletter_for, newsletter_status


def _rounds(engine) -> int:
    """Scheduler rounds the worker has finished (its log names each task it ran)."""
    return sum("crm.scheduled_work[" in line and "succeeded" in line for line in engine.log("worker").splitlines())


def test_beat_starts_a_scheduled_newsletter_and_sends_due_reminders_once(engine):
    newsletter_id, subscribers = newsletter_for(engine, 4)
    sending.schedule(db.session.get(Newsletter, newsletter_id), utcnow() + timedelta(seconds=1), actor=None)
    event = engine.make.event(rsvp_deadline=utcnow() + timedelta(days=1))  # open invitations are reminded
    invitees = [engine.make.invitation(event=event).person.email for _ in range(3)]
    event_id = event.id
    db.session.commit()

    engine.start_worker()
    engine.start_beat()

    engine.wait_for(lambda: newsletter_status(engine, newsletter_id) == NewsletterStatus.sent, "Geplanter Newsletter nicht versandt")
    engine.wait_for(lambda: delivery_statuses(REMINDER_OPEN, event_id) == {"sent": 3}, "Erinnerungen nicht versandt")
    rounds = _rounds(engine)
    engine.wait_for(lambda: _rounds(engine) >= rounds + 3, "Keine weiteren Runden des Schedulers")

    assert engine.mailbox.per_recipient() == {email: 1 for email in subscribers + invitees}
    reminders = [m for m in engine.mailbox.messages if m["Subject"].startswith("Erinnerung")]
    assert sorted(m["To"].addresses[0].addr_spec for m in reminders) == sorted(invitees)
    assert delivery_statuses(sending.MAILING, newsletter_id) == {"sent": 4}

    queue_due_work()  # one more round by hand: the reminders are queued once per person, however often asked
    assert count_where(engine, Delivery, Delivery.mailing == REMINDER_OPEN) == 3
    assert db.session.scalar(sa.select(Newsletter.status).where(Newsletter.id == newsletter_id)) == NewsletterStatus.sent
