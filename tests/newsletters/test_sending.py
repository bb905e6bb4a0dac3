"""Sending a newsletter: who gets it, every header a mail client and a mailbox provider need,
exactly one message per person (twice started, crashed, paused, cancelled), and the web version."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.contacts.models import ConsentChannel
from crm.errors import ValidationFailed
from crm.extensions import db, utcnow
from crm.mail import pipeline
from crm.mail.models import Delivery, DeliveryStatus, SuppressionReason
from crm.newsletters import sending
from crm.newsletters.models import NewsletterStatus
from tests.events.test_pipeline import CrashingTransport, addresses


@pytest.fixture()
def audience(make):
    """Three subscribers, and one of each kind the newsletter must not reach."""
    subscribers = [make.person(newsletter_consent=True) for _ in range(3)]
    excluded = {
        "no_consent": make.person(newsletter_consent=None),
        "withdrawn": make.person(newsletter_consent=False),
        "no_email": make.person(newsletter_consent=True, email=None),
        "suppressed": make.person(newsletter_consent=True, email="abgemeldet@example.org"),
        "invitations_only": make.person(newsletter_consent=True, email="nur-einladungen@example.org"),
    }
    pipeline.suppress("abgemeldet@example.org", SuppressionReason.unsubscribed, channel=ConsentChannel.newsletter)
    # Unsubscribed from invitations only: still gets the newsletter.
    pipeline.suppress("nur-einladungen@example.org", SuppressionReason.unsubscribed, channel=ConsentChannel.event_invitation)
    subscribers.append(excluded.pop("invitations_only"))
    return subscribers, excluded


@pytest.fixture()
def newsletter(make, audience):
    segment = make.segment(name="Alle", filters={})
    return make.newsletter(segment=segment, subject="Neues aus dem Verein", sender_name="Kommune 2.0 Redaktion")


def statuses(newsletter) -> list[DeliveryStatus]:
    db.session.expire_all()
    return sorted(db.session.scalars(sa.select(Delivery.status).where(Delivery.subject_id == newsletter.id,
                                                                     Delivery.mailing == sending.MAILING)))  # fmt: skip


def send(newsletter):
    queued = sending.start(newsletter, actor=None)
    db.session.commit()
    sending.deliver(newsletter)  # inline in tests
    return queued


def test_audience_counts_recipients_and_reasons(newsletter, audience):
    result = sending.audience(newsletter)
    assert result.total == 4
    assert {reason.value: n for reason, n in result.excluded_counts.items()} == {"no_consent": 2, "no_email": 1, "suppressed": 1}


def test_every_subscriber_gets_one_message_with_all_headers(newsletter, audience, mailbox):
    subscribers, excluded = audience
    assert send(newsletter) == 4
    assert addresses(mailbox) == sorted(p.email for p in subscribers)
    db.session.refresh(newsletter)
    assert newsletter.status == NewsletterStatus.sent and newsletter.finished_at is not None

    message = mailbox.to(subscribers[0].email)[0]
    assert message["Subject"] == "Neues aus dem Verein"
    assert message["From"].addresses[0].display_name == "Kommune 2.0 Redaktion"
    assert message["From"].addresses[0].addr_spec == "geschaeftsstelle@example.org"
    assert message["Message-ID"] and message["Date"]
    assert message["List-Id"] == "Newsletter Kommune 2.0 e. V. <newsletter.example.org>"
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<http://crm.test/abmelden/")  # https in production (CRM_BASE_URL)
    assert "<mailto:" in unsubscribe
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert subscribers[0].letter_salutation in plain.get_content() and "Impressum" in plain.get_content()
    assert "Newsletter abbestellen" in html.get_content()


def test_starting_twice_sends_once(newsletter, audience, mailbox):
    send(newsletter)
    with pytest.raises(ValidationFailed, match="versandt"):
        sending.start(newsletter, actor=None)
    # Even the queue itself refuses a second row per person.
    assert pipeline.queue(sending.MAILING, newsletter.id, sending.recipients(newsletter.segment)) == 0
    sending.deliver_now(newsletter.id)
    assert len(mailbox.messages) == 4


def test_a_crash_mid_send_is_resumed_without_doubles(app, newsletter, audience, mailbox, smtp_server):
    sending.start(newsletter, actor=None)
    db.session.commit()
    transport = CrashingTransport(smtp_server.port, survive=2)
    with pytest.raises(RuntimeError, match="Absturz"):
        pipeline.dispatch(sending.MAILING, newsletter.id, transport=transport, batch_size=3)
    transport.close()
    assert statuses(newsletter).count(DeliveryStatus.sent) == 2

    pipeline.dispatch_pending()  # what a restart (scheduler or `flask mail dispatch`) does
    assert addresses(mailbox) == sorted(p.email for p in audience[0])
    db.session.refresh(newsletter)
    assert newsletter.status == NewsletterStatus.sent


def test_pause_keeps_the_rest_queued_and_resume_sends_it(app, newsletter, audience, mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BATCH_SIZE", 2)
    sending.start(newsletter, actor=None)
    sending.pause(newsletter, actor=None)
    db.session.commit()
    assert sending.deliver_now(newsletter.id).stopped == "angehalten"
    assert mailbox.messages == [] and statuses(newsletter) == [DeliveryStatus.queued] * 4

    sending.resume(newsletter, actor=None)
    db.session.commit()
    sending.deliver_now(newsletter.id)
    assert len(mailbox.messages) == 4


def test_cancel_skips_what_is_still_queued(newsletter, audience, mailbox):
    sending.start(newsletter, actor=None)
    assert sending.cancel(newsletter, actor=None) == 4
    db.session.commit()
    sending.deliver_now(newsletter.id)
    assert mailbox.messages == []
    assert statuses(newsletter) == [DeliveryStatus.skipped] * 4
    assert newsletter.status == NewsletterStatus.cancelled


def test_a_withdrawal_after_queueing_is_respected(newsletter, audience, mailbox):
    subscribers, _ = audience
    sending.start(newsletter, actor=None)
    subscribers[0].newsletter_consent = False
    db.session.commit()
    sending.deliver_now(newsletter.id)
    assert subscribers[0].email not in addresses(mailbox) and len(mailbox.messages) == 3


def test_scheduled_newsletters_start_when_due(newsletter, audience, mailbox):
    sending.schedule(newsletter, utcnow() + timedelta(hours=1), actor=None)
    assert sending.start_due() == []
    assert sending.start_due(utcnow() + timedelta(hours=2)) == [newsletter.id]
    pipeline.dispatch_pending()
    assert len(mailbox.messages) == 4


def test_scheduling_in_the_past_is_refused(newsletter):
    with pytest.raises(ValidationFailed, match="Zukunft"):
        sending.schedule(newsletter, utcnow() - timedelta(minutes=1), actor=None)


def test_without_impressum_nothing_is_sent(app, newsletter, audience, mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "IMPRINT_ADDRESS", "")
    with pytest.raises(ValidationFailed, match="Im Impressum fehlt: Anschrift"):
        sending.start(newsletter, actor=None)
    assert statuses(newsletter) == [] and newsletter.status == NewsletterStatus.draft


def test_the_web_version_is_the_sent_content_without_personal_data(client, newsletter, audience, mailbox):
    subscribers, _ = audience
    send(newsletter)
    newsletter.blocks[0].body = "Später geändert"  # the archive shows what was sent
    db.session.commit()
    page = client.get(f"/archiv/{newsletter.web_key}").get_data(as_text=True)
    assert "Wir berichten" in page and "Später geändert" not in page
    assert "Guten Tag," in page and "abbestellen" not in page
    assert not [p for p in subscribers if p.email in page or p.last_name in page]
    listing = client.get("/archiv/").get_data(as_text=True)
    assert newsletter.subject in listing


def test_drafts_have_no_web_version(client, newsletter):
    assert client.get(f"/archiv/{newsletter.web_key}").status_code == 404
