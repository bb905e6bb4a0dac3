"""Unsubscribing by mail (List-Unsubscribe mailto, RFC 2369): the request a mail program sends lands in the
bounce mailbox, and `flask mail process-bounces` withdraws the consent it names, with the mail as proof."""
import email
import email.policy
import re
from email.message import EmailMessage
from datetime import datetime, timezone
from email.utils import format_datetime, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.contacts.models import ConsentChannel, ConsentMethod
from crm.events import sending as event_sending
from crm.events.invitations import invite
from crm.extensions import db
from crm.newsletters import sending
from crm.newsletters.links import unsubscribe_mailto, unsubscribe_token
from tests.newsletters import ledger, suppression

MAILTO = re.compile(r"<mailto:([^>]+)>")
BOUNCES = "bounces@example.org"
SENT_AT = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)


@pytest.fixture()
def bounce_mailbox(app, db, monkeypatch, tmp_path):
    """VERP on (CRM_BOUNCE_ADDRESS) and the Maildir its mail is delivered to."""
    monkeypatch.setitem(app.config, "BOUNCE_ADDRESS", BOUNCES)
    root = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    return root


def request_from(received, *, sender: str, subject: str | None = None) -> bytes:
    """The mail a mail program sends for the mailto URL of `received`'s List-Unsubscribe header."""
    address, _, query = MAILTO.search(received["List-Unsubscribe"]).group(1).partition("?")
    message = EmailMessage()
    message["From"] = f"Leserin <{sender}>"
    message["To"] = unquote(address)
    message["Subject"] = subject if subject is not None else parse_qs(query)["subject"][0]
    message["Date"] = format_datetime(SENT_AT)
    message["Message-ID"] = "<abmelden-1@mail.example.com>"
    message.set_content("Diese Nachricht wurde von Ihrem E-Mail-Programm zum Abmelden gesendet.\n")
    return message.as_bytes(policy=email.policy.SMTP)


def deliver(maildir, name: str, data: bytes) -> None:
    (maildir / "new" / name).write_bytes(data)


def process(runner, maildir):
    result = runner.invoke(args=["mail", "process-bounces", "--maildir", str(maildir)])
    assert result.exit_code == 0, result.output
    return result.output


def names(directory) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def send_newsletter(make, edition: int = 1):
    segment = make.segment(name=f"Alle ({edition})", filters={})
    newsletter = make.newsletter(segment=segment, subject="Neues aus dem Verein")
    sending.start(newsletter, actor=None)
    db.session.commit()
    sending.deliver(newsletter)
    return newsletter


def test_the_mail_program_s_request_withdraws_the_newsletter_consent_with_the_mail_as_proof(
    runner, make, mailbox, bounce_mailbox
):
    reader = make.person(email="leserin@example.org", newsletter_consent=True, invitation_consent=True)
    send_newsletter(make)
    [received] = mailbox.to("leserin@example.org")
    assert f"<mailto:{BOUNCES}?subject=Abmelden%20" in received["List-Unsubscribe"]  # the mailbox that is read
    deliver(bounce_mailbox, "1795400000.M1P1.mail.example.org", request_from(received, sender="leserin@example.org"))

    output = process(runner, bounce_mailbox)

    assert output == "0 Unzustellbarkeitsmeldungen verarbeitet, 0 Adressen gesperrt, 1 Abmeldung per E-Mail, 0 Nachrichten übersprungen.\n"
    db.session.expire_all()
    assert reader.newsletter_consent is False and reader.invitation_consent is True
    [withdrawal] = ledger(reader)[-1:]
    assert (withdrawal.channel, withdrawal.granted, withdrawal.method) == (ConsentChannel.newsletter, False, ConsentMethod.unsubscribe)
    assert withdrawal.source == (
        f"Abmeldung per E-Mail von leserin@example.org an {BOUNCES}, Message-ID <abmelden-1@mail.example.com>"
    )
    assert withdrawal.requested_at.replace(tzinfo=timezone.utc) == SENT_AT
    assert suppression("leserin@example.org").note == "Abmeldung per E-Mail"
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditLog.person_id == reader.id, AuditLog.action == "consent")) == 1
    # Filed away like a processed DSN.
    assert names(bounce_mailbox / "new") == [] and len(names(bounce_mailbox / ".Verarbeitet" / "cur")) == 1

    send_newsletter(make, 2)
    assert len(mailbox.to("leserin@example.org")) == 1  # the second newsletter did not reach her


def test_an_invitation_s_request_leaves_the_newsletter_alone(runner, make, mailbox, bounce_mailbox):
    guest = make.person(email="gast@example.org", newsletter_consent=True, invitation_consent=True)
    event = make.event()
    invite(event, segment=None, person_ids=[guest.id], actor=None)
    db.session.commit()
    event_sending.deliver(event)
    [invitation] = mailbox.to("gast@example.org")
    deliver(bounce_mailbox, "einladung", request_from(invitation, sender="gast@example.org"))

    assert "1 Abmeldung per E-Mail" in process(runner, bounce_mailbox)
    db.session.expire_all()
    assert guest.invitation_consent is False and guest.newsletter_consent is True
    assert suppression("gast@example.org").channel == ConsentChannel.event_invitation


def test_a_reply_with_an_encoded_subject_counts_and_a_second_request_changes_nothing(runner, make, bounce_mailbox):
    reader = make.person(email="leser@example.org", newsletter_consent=True)
    db.session.commit()
    token = unsubscribe_token(reader, ConsentChannel.newsletter)
    first = EmailMessage()
    first["From"], first["To"] = "leser@example.org", BOUNCES
    first["Subject"] = f"AW: Abmelden {token} – bitte keine Post mehr, danke schön"  # non-ASCII: an encoded word
    first.set_content("Bitte abmelden.")
    data = first.as_bytes(policy=email.policy.SMTP)
    assert b"=?utf-8?" in data
    deliver(bounce_mailbox, "erste", data)
    deliver(bounce_mailbox, "zweite", data)

    assert "2 Abmeldungen per E-Mail" in process(runner, bounce_mailbox)
    db.session.expire_all()
    assert [c.granted for c in ledger(reader)] == [False]  # one withdrawal, not two
    assert reader.newsletter_consent is False and ledger(reader)[0].source.endswith("Message-ID ohne Message-ID")
    assert names(bounce_mailbox / "new") == []


def test_mail_without_a_valid_token_stays_for_the_office(runner, make, mailbox, bounce_mailbox):
    reader = make.person(email="leserin@example.org", newsletter_consent=True)
    send_newsletter(make)
    [received] = mailbox.to("leserin@example.org")
    token = unsubscribe_token(reader, ConsentChannel.newsletter)
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    deliver(bounce_mailbox, "gefaelscht", request_from(received, sender="jemand@example.com", subject=f"Abmelden {forged}"))
    deliver(bounce_mailbox, "von-hand", request_from(received, sender="leserin@example.org", subject="Bitte streichen Sie mich"))
    # An auto-reply quoting the newsletter: its tokens are inside the links, never after "Abmelden".
    auto_reply = EmailMessage()
    auto_reply["From"], auto_reply["To"] = "leserin@example.org", BOUNCES
    auto_reply["Subject"] = "Abwesend: Neues aus dem Verein"
    auto_reply.set_content("Ich bin bis Montag abwesend.\n\n> " + email.message_from_bytes(received.as_bytes()).as_string())
    deliver(bounce_mailbox, "abwesend", auto_reply.as_bytes(policy=email.policy.SMTP))

    output = process(runner, bounce_mailbox)

    assert output == "0 Unzustellbarkeitsmeldungen verarbeitet, 0 Adressen gesperrt, 3 Nachrichten übersprungen.\n"
    db.session.expire_all()
    assert reader.newsletter_consent is True and suppression("leserin@example.org") is None
    assert names(bounce_mailbox / "new") == ["abwesend", "gefaelscht", "von-hand"]


def test_a_request_for_a_deleted_person_is_filed_away(runner, make, bounce_mailbox):
    reader = make.person(email="weg@example.org", newsletter_consent=True)
    db.session.commit()
    token = unsubscribe_token(reader, ConsentChannel.newsletter)
    db.session.delete(reader)
    db.session.commit()
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "weg@example.org", BOUNCES, f"Abmelden {token}"
    message["Message-ID"] = make_msgid(domain="example.com")
    message.set_content("")
    deliver(bounce_mailbox, "geloescht", message.as_bytes(policy=email.policy.SMTP))

    assert "1 Abmeldung per E-Mail" in process(runner, bounce_mailbox)
    assert names(bounce_mailbox / "new") == []


def test_the_mailto_address_is_the_configured_one_else_the_bounce_mailbox_else_the_sender(app, make, monkeypatch):
    assert unsubscribe_mailto() == "geschaeftsstelle@example.org"  # MAIL_FROM: no mailbox is read
    monkeypatch.setitem(app.config, "BOUNCE_ADDRESS", BOUNCES)
    assert unsubscribe_mailto() == BOUNCES
    monkeypatch.setitem(app.config, "UNSUBSCRIBE_MAILTO", "abmelden@example.org")
    assert unsubscribe_mailto() == "abmelden@example.org"
    assert urlsplit(f"mailto:{unsubscribe_mailto()}").path == "abmelden@example.org"
