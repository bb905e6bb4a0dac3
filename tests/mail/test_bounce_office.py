"""What the office sees after a bounce: the newsletter figures and delivery list, an event's undelivered mails."""
import sqlalchemy as sa

from crm.events.sending import INVITATION
from crm.extensions import db
from crm.mail.bounces import process_message
from crm.mail.models import Delivery, DeliveryStatus
from crm.newsletters import sending
from tests.html import page_text, text
from tests.mail.conftest import postfix_hard_bounce


def bounce(delivery: Delivery, mailbox) -> None:
    """A Postfix DSN for `delivery`, to the return path its message really went out with."""
    received = next(e for e in mailbox.envelopes if e.rcpt_tos == [delivery.email])
    assert process_message(postfix_hard_bounce(delivery, received.mail_from)).bounced == 1
    db.session.commit()


def deliveries_of(mailing: str, subject_id: int) -> list[Delivery]:
    stmt = sa.select(Delivery).where(Delivery.mailing == mailing, Delivery.subject_id == subject_id).order_by(Delivery.id)
    return list(db.session.scalars(stmt))


def test_newsletter_list_and_deliveries_show_the_bounce_and_its_reason(client, login, make, verp, mailbox):
    login("office")
    lost = make.person(first_name="Bea", last_name="Verzogen", newsletter_consent=True)
    make.person(newsletter_consent=True)
    newsletter = make.newsletter(segment=make.segment(filters={}), subject="Neues aus dem Verein")
    sending.start(newsletter, actor=None)
    db.session.commit()
    sending.deliver(newsletter)
    bounce(next(d for d in deliveries_of(sending.MAILING, newsletter.id) if d.person_id == lost.id), mailbox)

    body = text(client.get("/newsletters/"))
    row = body.split(f'<tr data-newsletter="{newsletter.id}">')[1].split("</tr>")[0]
    assert '<td class="num" data-sent>1</td>' in row and '<td class="num" data-failed>0</td>' in row
    assert f'<td class="num" data-bounced><a href="/newsletters/{newsletter.id}/zustellungen?status=bounced">1</a></td>' in row

    page = page_text(text(client.get(f"/newsletters/{newsletter.id}/zustellungen")))
    assert "versandt 1" in page and "unzustellbar 1" in page
    page = page_text(text(client.get(f"/newsletters/{newsletter.id}/zustellungen?status=bounced")))
    row = page.split("Bea Verzogen")[1][:300]
    assert row.startswith(f" {lost.email} unzustellbar 1") and "Unzustellbar (5.1.1): smtp; 550 5.1.1" in row
    assert "User unknown in virtual mailbox table" in row


def test_event_page_lists_the_mails_that_did_not_arrive(client, login, make, verp, mailbox):
    login("office")
    lost = make.person(first_name="Bea", last_name="Verzogen", invitation_consent=True)
    arrived = make.person(first_name="Till", last_name="Angekommen", invitation_consent=True)
    event = make.event()
    client.post(f"/veranstaltungen/{event.id}/einladungen/neu", data={"person": [lost.id, arrived.id]})
    invitations = deliveries_of(INVITATION, event.id)
    assert [d.status for d in invitations] == [DeliveryStatus.sent] * 2
    page = page_text(text(client.get(f"/veranstaltungen/{event.id}/einladungen/")))
    assert "Nicht zugestellt" not in page

    bounce(next(d for d in invitations if d.person_id == lost.id), mailbox)
    page = page_text(text(client.get(f"/veranstaltungen/{event.id}/einladungen/")))
    assert "1 unzustellbar" in page.split("Versand: Einladungen –")[1][:40]
    section = page.split("Nicht zugestellt")[1].split("Aktionen")[0]
    assert section.startswith(" Vom Mailserver abgelehnt oder später als unzustellbar gemeldet.")
    row = section.split("Bea Verzogen")[1][:300]
    assert row.startswith(f" {lost.email} Einladungen unzustellbar Unzustellbar (5.1.1): smtp; 550 5.1.1")
    assert "Till Angekommen" not in section
