"""The suppression list page: the office sees which addresses get no bulk mail and why, blocks an address
by hand and lifts a bounce; a person's own unsubscribe stays. Blocks and lifts are in the audit log."""
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.contacts.models import ConsentChannel
from crm.extensions import db
from crm.mail.models import Delivery, DeliveryStatus, Suppression, SuppressionReason
from crm.mail.suppressions import suppress
from crm.newsletters import sending, subscription
from tests.html import page_text, text


def blocked(email: str) -> Suppression | None:
    return db.session.scalar(sa.select(Suppression).where(Suppression.email == email))


def rows(client, query: str = "") -> list[str]:
    body = text(client.get(f"/sperrliste/{query}"))
    return [part.split('"')[0] for part in body.split('<tr data-suppression="')[1:]]


def test_the_office_sees_why_addresses_get_no_mail_and_filters_them(client, login):
    login("office")
    suppress("alt@example.org", SuppressionReason.hard_bounce, note="550 5.1.1 Mailbox unbekannt")
    suppress("genug@example.org", SuppressionReason.unsubscribed, channel=ConsentChannel.newsletter, note="Abmeldelink")
    db.session.commit()

    body = page_text(text(client.get("/sperrliste/")))
    assert "2 Adressen" in body
    assert "alt@example.org unzustellbar alle Rundschreiben 550 5.1.1 Mailbox unbekannt" in body
    assert "genug@example.org abgemeldet Newsletter Abmeldelink" in body and "nur durch die Person" in body
    assert rows(client, "?q=ALT") == ["alt@example.org"]
    assert rows(client, "?reason=unsubscribed") == ["genug@example.org"]
    assert "Keine gesperrte Adresse für diesen Filter." in page_text(text(client.get("/sperrliste/?q=niemand")))


def test_lifting_a_bounce_lets_the_next_newsletter_reach_the_address_and_is_audited(client, login, make, mailbox):
    office = login("office")
    bea = make.person(first_name="Bea", last_name="Zurück", email="bea@example.org", newsletter_consent=True)
    row = suppress("bea@example.org", SuppressionReason.hard_bounce, note="552 Postfach voll")
    db.session.commit()

    response = client.post(f"/sperrliste/{row.id}/aufheben", follow_redirects=True)

    assert "Die Sperre für bea@example.org ist aufgehoben." in page_text(text(response))
    assert blocked("bea@example.org") is None
    entry = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "suppressions")).one()
    assert (entry.action, entry.person_id, entry.actor_id) == ("delete", bea.id, office.id)
    assert entry.entity_label == "Sperre für bea@example.org"
    assert entry.changes == {"email": "bea@example.org", "reason": "unzustellbar", "note": "552 Postfach voll"}
    newsletter = make.newsletter(segment=make.segment(filters={}), subject="Wieder dabei")
    sending.start(newsletter, actor=None)
    db.session.commit()
    sending.deliver(newsletter)
    assert [str(m["To"]) for m in mailbox.to("bea@example.org")] == ["Bea Zurück <bea@example.org>"]


def test_a_persons_own_unsubscribe_cannot_be_lifted_by_the_office(client, login):
    login("office")
    row = suppress("genug@example.org", SuppressionReason.unsubscribed, channel=ConsentChannel.newsletter)
    db.session.commit()

    response = client.post(f"/sperrliste/{row.id}/aufheben", follow_redirects=True)

    assert "Eine Abmeldung kann nur die Person selbst zurücknehmen" in page_text(text(response))
    assert blocked("genug@example.org") is not None
    assert not db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.entity_type == "suppressions"))


def test_lifting_a_block_that_widened_an_unsubscribe_keeps_the_unsubscribe(client, login, make):
    login("office")
    eva = make.person(email="eva@example.org", newsletter_consent=True, invitation_consent=True)
    subscription.unsubscribe(eva, ConsentChannel.newsletter, source=subscription.PAGE_SOURCE)
    db.session.commit()
    client.post("/sperrliste/", data={"email": "eva@example.org", "note": "bat am Telefon um Ruhe"})
    row = blocked("eva@example.org")
    assert (row.reason, row.channel) == (SuppressionReason.manual, None)  # one row per address: widened

    response = client.post(f"/sperrliste/{row.id}/aufheben", follow_redirects=True)

    assert ("Die Sperre für eva@example.org ist aufgehoben; die eigene Abmeldung (Newsletter) bleibt bestehen."
            in page_text(text(response)))  # fmt: skip
    db.session.expire_all()
    row = blocked("eva@example.org")
    assert (row.reason, row.channel) == (SuppressionReason.unsubscribed, ConsentChannel.newsletter)
    assert "eva@example.org abgemeldet Newsletter" in page_text(text(client.get("/sperrliste/")))

    # Subscribed again in the meantime: lifting a later bounce leaves nothing behind.
    subscription.save_preferences(eva, newsletter=True, invitations=True, tag_ids=[], ip=None, user_agent=None)
    bounce = suppress("eva@example.org", SuppressionReason.hard_bounce)
    db.session.commit()
    assert "bleibt bestehen" not in page_text(text(client.post(f"/sperrliste/{bounce.id}/aufheben", follow_redirects=True)))
    assert blocked("eva@example.org") is None


def test_an_address_blocked_by_hand_gets_no_newsletter(client, login, make, mailbox):
    office = login("office")
    carl = make.person(first_name="Carl", last_name="Ruhe", email="carl@example.org", newsletter_consent=True)
    make.person(first_name="Dora", last_name="Da", email="dora@example.org", newsletter_consent=True)

    response = client.post("/sperrliste/", data={"email": " Carl@Example.org ", "note": "am Telefon gewünscht"})

    assert response.status_code == 302
    row = blocked("carl@example.org")
    assert (row.reason, row.channel, row.note) == (SuppressionReason.manual, None, "am Telefon gewünscht")
    entry = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "suppressions")).one()
    assert (entry.action, entry.person_id, entry.actor_id) == ("create", carl.id, office.id)
    for page in (f"/personen/{carl.id}", "/protokoll/"):  # the person's history and the audit log say so
        assert "Sperre für carl@example.org" in page_text(text(client.get(page)))
    newsletter = make.newsletter(segment=make.segment(filters={}), subject="Rundschreiben")
    sending.start(newsletter, actor=None)
    db.session.commit()
    sending.deliver(newsletter)
    assert mailbox.to("dora@example.org") and not mailbox.to("carl@example.org")
    sent_to = db.session.scalars(sa.select(Delivery.email).where(Delivery.status == DeliveryStatus.sent)).all()
    assert "carl@example.org" not in sent_to


def test_a_bad_or_blocked_address_is_refused_next_to_the_field_and_nothing_is_written(client, login):
    login("office")
    suppress("schon@example.org", SuppressionReason.hard_bounce)
    db.session.commit()

    for email, message in (
        ("kein-at-zeichen", "E-Mail"),
        ("", "Bitte eine E-Mail-Adresse angeben."),
        ("schon@example.org", "schon@example.org ist bereits gesperrt."),
    ):
        response = client.post("/sperrliste/", data={"email": email, "note": "x"})
        body = text(response)
        assert response.status_code == 422
        error = body.split('<p class="error-text" id="email-error">')[1].split("</p>")[0]
        assert message in error, error
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Suppression)) == 1
    assert not db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.entity_type == "suppressions"))
