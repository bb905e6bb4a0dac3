"""The office's view of a newsletter around sending: the preview as one recipient, test mails, the
figures of the newsletter list and the per-recipient delivery list. Reads only (test mails go out at
once and leave no Delivery row: they are not part of the mailing)."""
import logging
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from crm.contacts.models import Person
from crm.extensions import db
from crm.mail.models import Delivery, DeliveryStatus
from crm.mail.transports import TransportError, get_transport
from crm.newsletters.models import Newsletter
from crm.newsletters.render import Compiled, personalize
from crm.newsletters.sending import MAILING, frozen, message_for, preview_links, values_for

logger = logging.getLogger(__name__)


def recipient(person_id: int | None, sample: list[Person]) -> Person | None:
    """Whom the preview is personalized for: the chosen person, else the first recipient, else nobody."""
    if person_id:
        person = db.session.get(Person, person_id)
        if person is not None and person.erased_at is None:
            return person
    return sample[0] if sample else None


def preview(newsletter: Newsletter, person: Person | None, compiled: Compiled | None = None) -> Compiled:
    """The newsletter as `person` gets it (with neutral values when None), as it would go out now. The
    unsubscribe and preference links lead to a page that explains them, not to the person's own."""
    values = values_for(newsletter, person) | preview_links()
    return personalize(compiled or frozen(newsletter), values)


@dataclass
class TestResult:
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def send_test(newsletter: Newsletter, person: Person, addresses: list[str]) -> TestResult:
    """The newsletter as `person` gets it, subject "[Test] …", sent now to each address over one connection."""
    compiled = frozen(newsletter)
    result = TestResult()
    transport = get_transport()
    try:
        for address in addresses:
            try:
                transport.send(message_for(newsletter, person, address, compiled, test=True))
            except TransportError as error:
                logger.warning("Test mail of newsletter %s to %s failed: %s", newsletter.id, address, error)
                result.failed[address] = str(error)
            else:
                result.sent.append(address)
    finally:
        transport.close()
    return result


def _of(newsletter_id) -> sa.ColumnElement:
    return sa.and_(Delivery.mailing == MAILING, Delivery.subject_id == newsletter_id)


def delivery_figures(newsletter_ids: list[int]) -> dict[int, dict[str, int]]:
    """{newsletter id: {delivery status: number}} for the newsletter list, in one query."""
    if not newsletter_ids:
        return {}
    rows = db.session.execute(
        sa.select(Delivery.subject_id, Delivery.status, sa.func.count())
        .where(Delivery.mailing == MAILING, Delivery.subject_id.in_(newsletter_ids))
        .group_by(Delivery.subject_id, Delivery.status)
    ).all()
    figures: dict[int, dict[str, int]] = {}
    for newsletter_id, status, number in rows:
        figures.setdefault(newsletter_id, {})[status.value] = number
    return figures


def deliveries(newsletter: Newsletter, status: DeliveryStatus | None = None) -> sa.Select:
    """The newsletter's Delivery rows with their people (failures first, then by name)."""
    stmt = sa.select(Delivery).outerjoin(Person, Person.id == Delivery.person_id).where(_of(newsletter.id))
    if status is not None:
        stmt = stmt.where(Delivery.status == status)
    failed_first = sa.case((Delivery.status.in_((DeliveryStatus.failed, DeliveryStatus.bounced)), 0), else_=1)
    order = (failed_first, Person.last_name, Person.first_name, Delivery.id)
    return stmt.options(contains_eager(Delivery.person)).order_by(*order)
