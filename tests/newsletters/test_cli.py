"""`flask newsletters list|send`: what the office's buttons do, from the shell."""
import sqlalchemy as sa

from crm.extensions import db
from crm.mail.models import Delivery
from crm.newsletters.models import NewsletterStatus


def subscribers(make, n=2):
    return [make.person(newsletter_consent=True) for _ in range(n)]


def test_list_shows_number_status_segment_and_subject(runner, make):
    newsletter = make.newsletter(subject="Rückblick Freiburg", segment=make.segment(name="Alle Abonnenten"))
    db.session.commit()
    result = runner.invoke(args=["newsletters", "list"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "Rückblick Freiburg" in line)
    assert line.split()[0] == str(newsletter.id) and "Entwurf" in line and "Alle Abonnenten" in line


def test_send_test_goes_to_the_given_address_only(runner, make, mailbox):
    subscribers(make)
    newsletter = make.newsletter()
    db.session.commit()
    result = runner.invoke(args=["newsletters", "send", "--test", "redaktion@example.org", str(newsletter.id)])
    assert result.exit_code == 0, result.output
    assert len(mailbox.messages) == 1 and mailbox.messages[0]["Subject"].startswith("[Test] ")
    assert mailbox.messages[0]["To"].addresses[0].addr_spec == "redaktion@example.org"
    assert "Testmail an redaktion@example.org gesendet (personalisiert für Kim Beispiel" in result.output
    assert db.session.scalar(sa.select(sa.func.count(Delivery.id))) == 0  # a test is not part of the mailing
    db.session.refresh(newsletter)
    assert newsletter.status == NewsletterStatus.draft


def test_send_test_refuses_a_wrong_address(runner, make, mailbox):
    subscribers(make)
    newsletter = make.newsletter()
    db.session.commit()
    result = runner.invoke(args=["newsletters", "send", "--test", "kein-at-zeichen", str(newsletter.id)])
    assert result.exit_code != 0 and "Keine gültige E-Mail-Adresse: kein-at-zeichen" in result.output
    assert mailbox.messages == []


def test_send_sends_to_the_segment_once(runner, make, mailbox):
    people = subscribers(make, 3)
    newsletter = make.newsletter()
    db.session.commit()
    result = runner.invoke(args=["newsletters", "send", str(newsletter.id)])
    assert result.exit_code == 0, result.output
    assert "3 Empfänger" in result.output and "3 versandt" in result.output
    assert sorted(m["To"].addresses[0].addr_spec for m in mailbox.messages) == sorted(p.email for p in people)

    again = runner.invoke(args=["newsletters", "send", str(newsletter.id)])
    assert again.exit_code != 0 and "Nicht gesendet" in again.output
    assert len(mailbox.messages) == 3


def test_send_refuses_with_the_reason(runner, make, mailbox, app, monkeypatch):
    subscribers(make)
    newsletter = make.newsletter()
    db.session.commit()
    monkeypatch.setitem(app.config, "IMPRINT_CONTACT", "")
    result = runner.invoke(args=["newsletters", "send", str(newsletter.id)])
    assert result.exit_code != 0 and "Im Impressum fehlt: Kontakt" in result.output
    assert mailbox.messages == []


def test_an_unknown_newsletter_is_named(runner):
    result = runner.invoke(args=["newsletters", "send", "999"])
    assert result.exit_code != 0 and "Einen Newsletter Nr. 999 gibt es nicht" in result.output
