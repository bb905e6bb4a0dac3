"""Bounces after acceptance: VERP return paths on the wire, and DSNs in the shapes real mail servers send."""
import base64
import email
import re
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.contacts.models import ConsentChannel
from crm.extensions import db
from crm.mail import pipeline
from crm.mail.bounces import process_message
from crm.mail.dsn import parse
from crm.mail.models import Delivery, DeliveryStatus, Suppression, SuppressionReason
from crm.mail.verp import delivery_id, return_path
from crm.newsletters import sending
from tests.conftest import count
from tests.mail.conftest import BOUNCE_ADDRESS, dsn, postfix_hard_bounce


def suppressions() -> dict[str, tuple]:
    rows = db.session.execute(sa.select(Suppression.email, Suppression.reason, Suppression.channel))
    return {email: (reason, channel) for email, reason, channel in rows}


def fresh(delivery: Delivery) -> Delivery:
    db.session.expire_all()
    return db.session.get(Delivery, delivery.id)


# --- VERP ---------------------------------------------------------------------------------------------------------


def test_return_path_is_signed_and_read_back(verp):
    # The DSN files carry this address: it is what the test SECRET_KEY signs for delivery 4711.
    assert return_path(Delivery(id=4711)) == "bounces+4711-a6b47c206819@example.org"
    assert delivery_id("bounces+4711-a6b47c206819@example.org") == 4711
    assert delivery_id("<Bounces+4711-A6B47C206819@EXAMPLE.ORG>") == 4711  # servers may change the case
    assert delivery_id("bounces+4712-a6b47c206819@example.org") is None  # the signature of another id
    assert delivery_id("bounces+4711-a6b47c206818@example.org") is None
    assert delivery_id("bounces+4711-a6b47c206819@example.com") is None
    assert delivery_id("geschaeftsstelle+4711-a6b47c206819@example.org") is None
    assert delivery_id("bounces@example.org") is None


def test_without_bounce_address_nothing_changes(app, db):
    assert app.config["BOUNCE_ADDRESS"] is None
    assert return_path(Delivery(id=4711)) is None
    assert delivery_id("bounces+4711-a6b47c206819@example.org") is None


def send_newsletter(make):
    people = [make.person(newsletter_consent=True) for _ in range(2)]
    newsletter = make.newsletter(segment=make.segment(filters={}), subject="Neues aus dem Verein")
    sending.start(newsletter, actor=None)
    db.session.commit()
    sending.deliver(newsletter)
    rows = db.session.scalars(sa.select(Delivery).where(Delivery.subject_id == newsletter.id).order_by(Delivery.id)).all()
    return people, list(rows)


def test_each_delivery_goes_out_with_its_own_return_path(verp, make, mailbox):
    people, rows = send_newsletter(make)
    assert [d.status for d in rows] == [DeliveryStatus.sent] * 2
    by_recipient = {envelope.rcpt_tos[0]: envelope for envelope in mailbox.envelopes}
    for delivery in rows:
        envelope = by_recipient[delivery.email]
        assert envelope.mail_from == return_path(delivery)
        assert re.fullmatch(rf"bounces\+{delivery.id}-[0-9a-f]{{12}}@example\.org", envelope.mail_from)
    message = mailbox.messages[0]
    assert message["From"].addresses[0].addr_spec == "geschaeftsstelle@example.org"  # the visible sender stays


def test_envelope_sender_is_the_from_address_without_bounce_address(make, mailbox):
    send_newsletter(make)
    assert {envelope.mail_from for envelope in mailbox.envelopes} == {"geschaeftsstelle@example.org"}


def test_a_dsn_for_what_really_went_out_bounces_it(verp, make, mailbox):
    """End to end: the return path and Message-ID the SMTP server received, in a Postfix DSN."""
    people, rows = send_newsletter(make)
    delivery = rows[0]
    received = next(e for e in mailbox.envelopes if e.rcpt_tos == [delivery.email])
    result = process_message(postfix_hard_bounce(delivery, received.mail_from))
    assert (result.processed, result.bounced, result.suppressed) == (1, 1, 1)
    assert fresh(delivery).status == DeliveryStatus.bounced
    assert fresh(rows[1]).status == DeliveryStatus.sent
    assert suppressions() == {delivery.email: (SuppressionReason.hard_bounce, None)}


# --- DSNs ---------------------------------------------------------------------------------------------------------


def test_postfix_hard_bounce_marks_bounced_and_suppresses_once(verp, sent):
    delivery = sent("postfix-5.1.1-verp.eml")["postfix-5.1.1-verp.eml"]
    audit_entries = count(AuditLog)

    result = process_message(dsn("postfix-5.1.1-verp.eml"))
    assert (result.processed, result.bounced, result.suppressed, result.skipped) == (1, 1, 1, 0)
    delivery = fresh(delivery)
    assert delivery.status == DeliveryStatus.bounced
    assert delivery.last_error.startswith("Unzustellbar (5.1.1): smtp; 550 5.1.1 <anna.beispiel@example.com>: Recipient")
    assert "User unknown in virtual mailbox table" in delivery.last_error  # the folded line, unfolded
    [row] = db.session.scalars(sa.select(Suppression)).all()
    assert (row.email, row.reason, row.channel) == ("anna.beispiel@example.com", SuppressionReason.hard_bounce, None)
    assert row.note.startswith("Unzustellbarkeitsmeldung (5.1.1)")
    # As the pipeline's own suppression of hard bounces: no audit entry (the delivery keeps the reason).
    assert count(AuditLog) == audit_entries

    again = process_message(dsn("postfix-5.1.1-verp.eml"))
    assert (again.processed, again.bounced, again.suppressed) == (1, 0, 0)
    assert fresh(delivery).last_error == delivery.last_error
    assert count(Suppression) == 1


def test_exim_bounce_without_verp_is_found_by_the_original_message_id(sent):
    delivery = sent("exim-5.1.1-original-headers.eml")["exim-5.1.1-original-headers.eml"]
    result = process_message(dsn("exim-5.1.1-original-headers.eml"))
    assert (result.processed, result.bounced, result.suppressed) == (1, 1, 1)
    # Exim says "Status: 5.0.0"; the remote server's own code in the diagnostic is more precise.
    assert fresh(delivery).last_error.startswith("Unzustellbar (5.1.1): smtp; 550 5.1.1 <bernd.muster@example.com>")
    assert set(suppressions()) == {"bernd.muster@example.com"}


def test_exchange_recipient_not_found_5_1_10_suppresses(verp, sent):
    delivery = sent("exchange-5.1.10-unzustellbar.eml")["exchange-5.1.10-unzustellbar.eml"]
    result = process_message(dsn("exchange-5.1.10-unzustellbar.eml"))
    assert (result.processed, result.bounced, result.suppressed) == (1, 1, 1)
    assert "RESOLVER.ADR.RecipientNotFound" in fresh(delivery).last_error
    assert set(suppressions()) == {"clara.klein@example.com"}


def test_full_mailbox_bounces_but_the_address_stays(verp, sent):
    delivery = sent("postfix-5.2.2-mailbox-full.eml")["postfix-5.2.2-mailbox-full.eml"]
    result = process_message(dsn("postfix-5.2.2-mailbox-full.eml"))
    assert (result.processed, result.bounced, result.suppressed) == (1, 1, 0)
    assert fresh(delivery).status == DeliveryStatus.bounced
    assert fresh(delivery).last_error.startswith("Unzustellbar (5.2.2): smtp; 552 5.2.2")
    assert suppressions() == {}


def test_delay_notice_is_noted_without_a_status_change(verp, sent):
    delivery = sent("postfix-4.4.1-delayed.eml")["postfix-4.4.1-delayed.eml"]
    result = process_message(dsn("postfix-4.4.1-delayed.eml"))
    assert (result.processed, result.bounced, result.suppressed) == (1, 0, 0)
    delivery = fresh(delivery)
    assert delivery.status == DeliveryStatus.sent
    assert delivery.last_error == (
        "Verzögert (4.4.1): X-Postfix; connect to mx.example.com[192.0.2.25]:25: Connection timed out"
        " – der Mailserver versucht es weiter."
    )


def test_a_delay_notice_after_the_bounce_keeps_the_bounce(verp, sent):
    delivery = sent("postfix-4.4.1-delayed.eml")["postfix-4.4.1-delayed.eml"]
    delivery.status, delivery.last_error = DeliveryStatus.bounced, "Unzustellbar (5.2.2): voll"
    process_message(dsn("postfix-4.4.1-delayed.eml"))
    assert (fresh(delivery).status, fresh(delivery).last_error) == (DeliveryStatus.bounced, "Unzustellbar (5.2.2): voll")


def test_auto_reply_is_no_dsn_and_left_alone(verp, sent):
    delivery = sent("abwesenheitsnotiz.eml")["abwesenheitsnotiz.eml"]
    assert parse(dsn("abwesenheitsnotiz.eml")) is None
    result = process_message(dsn("abwesenheitsnotiz.eml"))
    assert (result.processed, result.skipped) == (0, 1)
    assert (fresh(delivery).status, fresh(delivery).last_error) == (DeliveryStatus.sent, None)


def test_forged_return_path_marks_nothing(verp, sent):
    delivery = sent("forged-hmac.eml")["forged-hmac.eml"]
    result = process_message(dsn("forged-hmac.eml"))
    assert (result.processed, result.bounced, result.suppressed, result.skipped) == (0, 0, 0, 1)
    assert fresh(delivery).status == DeliveryStatus.sent
    assert suppressions() == {}


def test_list_expanded_by_the_receiver_bounces_without_suppressing_anyone(verp, sent):
    """info@example.com expanded to two mailboxes that both failed: the message reached nobody, but
    neither failure says info@example.com is dead, and the DSN's other addresses are none of ours."""
    delivery = sent("postfix-multi-recipient-alias.eml")["postfix-multi-recipient-alias.eml"]
    report = parse(dsn("postfix-multi-recipient-alias.eml"))
    assert [(r.final_recipient, r.original_recipient, r.status) for r in report.recipients] == [
        ("carla.alt@example.com", "info@example.com", "5.1.1"),
        ("dora.neu@example.com", "info@example.com", "5.2.2"),
    ]
    result = process_message(dsn("postfix-multi-recipient-alias.eml"))
    assert (result.processed, result.bounced, result.suppressed) == (1, 1, 0)
    assert fresh(delivery).last_error == 'Unzustellbar (5.1.1): X-Postfix; unknown user: "carla.alt" [weitergeleitet an carla.alt@example.com]'
    assert suppressions() == {}


def test_expanded_list_that_still_reaches_someone_is_not_bounced(verp, sent):
    delivery = sent("postfix-multi-recipient-alias.eml")["postfix-multi-recipient-alias.eml"]
    data = dsn("postfix-multi-recipient-alias.eml").replace(b"Action: failed\nStatus: 5.2.2", b"Action: delayed\nStatus: 4.2.2")
    assert process_message(data).bounced == 0
    assert fresh(delivery).status == DeliveryStatus.sent


def test_hard_bounce_widens_an_unsubscribe_from_one_list(verp, sent):
    sent("postfix-5.1.1-verp.eml")
    pipeline.suppress("anna.beispiel@example.com", SuppressionReason.unsubscribed, channel=ConsentChannel.newsletter)
    assert process_message(dsn("postfix-5.1.1-verp.eml")).suppressed == 1
    assert suppressions() == {"anna.beispiel@example.com": (SuppressionReason.hard_bounce, None)}


def test_only_sent_deliveries_become_bounced(verp, sent):
    delivery = sent("postfix-5.2.2-mailbox-full.eml")["postfix-5.2.2-mailbox-full.eml"]
    delivery.status = DeliveryStatus.skipped
    assert process_message(dsn("postfix-5.2.2-mailbox-full.eml")).bounced == 0
    assert fresh(delivery).status == DeliveryStatus.skipped


def test_a_signature_from_an_earlier_secret_key_falls_back_to_the_message_id(verp, sent, app, monkeypatch):
    delivery = sent("postfix-5.2.2-mailbox-full.eml")["postfix-5.2.2-mailbox-full.eml"]
    monkeypatch.setitem(app.config, "SECRET_KEY", "a-new-secret-key-after-rotation")
    assert process_message(dsn("postfix-5.2.2-mailbox-full.eml")).bounced == 1
    assert fresh(delivery).status == DeliveryStatus.bounced


def test_status_part_in_base64_and_original_as_message_rfc822(db):
    """Some servers encode the delivery-status part; the parser's block splitting does not apply then."""
    fields = (
        b"Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; Gerda.Gross@Example.com\r\n"
        b"Action: failed\r\nStatus: 5.1.2\r\nDiagnostic-Code: smtp; 550 5.1.2 Host unknown\r\n"
    )
    data = (
        b"To: bounces@example.org\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type="delivery-status"; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nDie Nachricht konnte nicht zugestellt werden.\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(fields).replace(b"\n", b"\r\n")
        + b"--b\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <original.1@example.org>\r\nSubject: Hallo\r\n\r\nHallo\r\n"
        b"--b--\r\n"
    )
    parsed = parse(data)
    assert [(r.action, r.status, r.final_recipient) for r in parsed.recipients] == [("failed", "5.1.2", "gerda.gross@example.com")]
    assert parsed.original_message_id == "<original.1@example.org>"
    assert parsed.delivered_to == (BOUNCE_ADDRESS,)


def test_a_returned_dsn_inside_a_message_is_not_read_as_the_report():
    """A plain message that quotes a DSN as an attachment is no DSN itself."""
    outer = MIMEMultipart("mixed")
    outer.attach(MIMEText("Weitergeleitet, bitte prüfen.", "plain", "utf-8"))
    attached = MIMEBase("message", "rfc822")
    attached.set_payload([email.message_from_bytes(dsn("postfix-5.1.1-verp.eml"))])
    outer.attach(attached)
    assert parse(outer.as_bytes()) is None


def test_smtputf8_report_in_message_global_delivery_status(db):
    """RFC 6533: the report of a message to an internationalized address; the parser leaves it as text."""
    data = (
        "To: bounces@example.org\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: message/global-delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        "Final-Recipient: utf-8; jürgen.groß@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--b--\r\n"
    ).encode()
    [recipient] = parse(data).recipients
    assert (recipient.final_recipient, recipient.status) == ("jürgen.groß@example.com", "5.1.1")


def test_a_late_bounce_of_an_erased_person_brings_no_address_back(verp, sent):
    delivery = sent("postfix-5.1.1-verp.eml")["postfix-5.1.1-verp.eml"]
    delivery.email = None  # as the erasure (Art. 17) leaves it
    result = process_message(dsn("postfix-5.1.1-verp.eml"))
    assert (result.bounced, result.suppressed) == (1, 0)
    assert fresh(delivery).last_error == "Unzustellbar (5.1.1)."
    assert suppressions() == {}
