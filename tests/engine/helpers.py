"""Data for the engine tests, committed so that the worker processes see it."""
import sqlalchemy as sa

from crm.contacts.models import Person, Salutation
from crm.extensions import db
from crm.mail.models import Delivery, DeliveryStatus
from crm.newsletters import sending
from crm.newsletters.models import Newsletter, NewsletterStatus


def newsletter_for(engine, recipients: int) -> tuple[int, list[str]]:
    """A sendable newsletter to `recipients` new subscribers (committed): its id and their addresses."""
    emails = [f"empfaenger{n}@example.org" for n in range(recipients)]
    db.session.add_all(
        Person(first_name="Kim", last_name=f"Empfänger{n}", email=email, salutation=Salutation.frau, newsletter_consent=True)
        for n, email in enumerate(emails)
    )
    newsletter = engine.make.newsletter(segment=engine.make.segment(name="Alle", filters={}))
    db.session.commit()
    return newsletter.id, emails


def start_newsletter(newsletter_id: int) -> int:
    """"Jetzt senden" as the office's button does it: queue, commit, hand over to the workers."""
    newsletter = db.session.get(Newsletter, newsletter_id)
    queued = sending.start(newsletter, actor=None)
    db.session.commit()
    sending.deliver(newsletter)
    return queued


def newsletter_status(engine, newsletter_id: int) -> NewsletterStatus:
    return NewsletterStatus(engine.scalar(sa.select(Newsletter.status).where(Newsletter.id == newsletter_id)))


def delivery_statuses(mailing: str, subject_id: int) -> dict[str, int]:
    """{status: number} of the mailing's deliveries, as the workers committed them so far."""
    rows = sa.select(Delivery.status, sa.func.count()).where(Delivery.mailing == mailing, Delivery.subject_id == subject_id)
    with db.engine.connect() as connection:
        return {DeliveryStatus(status).value: number for status, number in connection.execute(rows.group_by(Delivery.status))}
