"""The embedded scheduler's round (crm.tasks.run_scheduled_work): scheduled newsletters, due reminders and
waiting mailings, sent in the round itself; every reminder once, however many rounds run."""
from datetime import timedelta

import sqlalchemy as sa

from crm.events.sending import REMINDER_OPEN, queue_due_reminders
from crm.extensions import db, utcnow
from crm.mail.models import Delivery
from crm.newsletters.models import NewsletterStatus
from crm.tasks import run_scheduled_work


def test_a_round_starts_scheduled_newsletters_and_sends_due_reminders_once(make, mailbox):
    subscriber = make.person(newsletter_consent=True)
    newsletter = make.newsletter(segment=make.segment(filters={}), status=NewsletterStatus.scheduled,
                                 scheduled_at=utcnow() - timedelta(minutes=1))  # fmt: skip
    event = make.event(rsvp_deadline=utcnow() + timedelta(days=1))
    invitee = make.invitation(event=event).person
    newsletter_id = newsletter.id
    db.session.commit()

    run_scheduled_work()
    run_scheduled_work()

    assert [m["To"].addresses[0].addr_spec for m in mailbox.messages if m["Subject"].startswith("Erinnerung")] == [invitee.email]
    assert len(mailbox.to(subscriber.email)) == 1
    assert db.session.scalar(sa.select(Delivery.status).where(Delivery.mailing == "newsletter", Delivery.subject_id == newsletter_id)) == "sent"


def test_an_event_whose_reminder_no_longer_fits_does_not_stop_the_others(make):
    over = make.event(starts_at=utcnow() - timedelta(days=2), rsvp_deadline=utcnow() + timedelta(days=1))  # over before its deadline
    make.invitation(event=over)
    due = make.event(rsvp_deadline=utcnow() + timedelta(days=1))
    make.invitation(event=due)

    assert queue_due_reminders() == [due]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(Delivery.mailing == REMINDER_OPEN)) == 1


def test_no_automatic_reminder_right_after_the_invitation_or_the_answer(make):
    """The round runs every few seconds: someone invited (or who accepted) an hour ago is reminded in a
    later round, not minutes after the mail they just got."""
    from crm.events.models import InvitationStatus
    from crm.events.sending import REMINDER_UPCOMING

    event = make.event(starts_at=utcnow() + timedelta(days=1), rsvp_deadline=utcnow() + timedelta(hours=20))
    fresh = make.invitation(event=event, sent_at=utcnow() - timedelta(hours=1))
    earlier = make.invitation(event=event, sent_at=utcnow() - timedelta(days=3))
    just_accepted = make.invitation(event=event, status=InvitationStatus.accepted, responded_at=utcnow() - timedelta(minutes=5))
    accepted = make.invitation(event=event, status=InvitationStatus.accepted, responded_at=utcnow() - timedelta(days=2))

    queue_due_reminders()

    queued = set(db.session.execute(sa.select(Delivery.mailing, Delivery.person_id)))
    assert queued == {(REMINDER_OPEN, earlier.person_id), (REMINDER_UPCOMING, accepted.person_id)}
    assert (REMINDER_OPEN, fresh.person_id) not in queued and (REMINDER_UPCOMING, just_accepted.person_id) not in queued
