"""List-Unsubscribe headers (RFC 2369, RFC 8058) on bulk mail, as a real SMTP server receives them."""
import re
from urllib.parse import unquote, urlsplit

import pytest

from crm.contacts.models import ConsentChannel
from crm.events import sending
from crm.events.invitations import Answer, invite, respond
from crm.events.models import InvitationStatus
from crm.extensions import db
from crm.newsletters.links import list_unsubscribe_headers, read_unsubscribe_token, unsubscribe_url
from tests.newsletters import ledger, suppression
from tests.portal import html_body, plain_body

HEADER = re.compile(r"<(https://[^>]+)>, <(mailto:[^>]+)>")


@pytest.fixture()
def https(app, monkeypatch):
    """Production serves the links over https (RFC 8058 requires it)."""
    monkeypatch.setitem(app.config, "BASE_URL", "https://crm.test")


def test_the_headers_name_an_https_link_then_a_mailto_address(app, make, https, monkeypatch):
    person = make.person()
    headers = list_unsubscribe_headers(person, ConsentChannel.newsletter)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url, mailto = HEADER.fullmatch(headers["List-Unsubscribe"]).groups()
    assert url == unsubscribe_url(person, ConsentChannel.newsletter) and url.startswith("https://crm.test/abmelden/")
    token = url.rsplit("/", 1)[1]
    assert read_unsubscribe_token(token) == (person.id, ConsentChannel.newsletter)
    assert mailto == f"mailto:geschaeftsstelle@example.org?subject=Abmelden%20{token}"  # the MAIL_FROM address

    monkeypatch.setitem(app.config, "UNSUBSCRIBE_MAILTO", "abmelden@example.org")
    mailto = HEADER.fullmatch(list_unsubscribe_headers(person, ConsentChannel.newsletter)["List-Unsubscribe"]).group(2)
    assert unquote(mailto) == f"mailto:abmelden@example.org?subject=Abmelden {token}"


def test_event_invitations_carry_the_headers_and_a_visible_link_that_unsubscribes(app, make, mailbox, https):
    event = make.event()
    person = make.person(email="eingeladen@example.org", invitation_consent=True, newsletter_consent=True)
    invite(event, segment=None, person_ids=[person.id], actor=None)
    db.session.commit()
    sending.deliver(event)

    [mail] = mailbox.to("eingeladen@example.org")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url, mailto = HEADER.fullmatch(mail["List-Unsubscribe"]).groups()
    assert mailto.startswith("mailto:geschaeftsstelle@example.org?subject=Abmelden%20")
    assert read_unsubscribe_token(url.rsplit("/", 1)[1]) == (person.id, ConsentChannel.event_invitation)
    assert "keine Einladungen zu Veranstaltungen mehr erhalten? Hier abmelden:" in plain_body(mail)
    assert url in plain_body(mail) and f'href="{url}"' in html_body(mail)

    # The mail program's one-click request: no cookies, no CSRF token.
    mail_program = app.test_client(use_cookies=False)
    response = mail_program.post(urlsplit(url).path, data="List-Unsubscribe=One-Click",
                                 content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert response.status_code == 200
    db.session.expire_all()
    assert person.invitation_consent is False and person.newsletter_consent is True
    assert suppression("eingeladen@example.org").channel == ConsentChannel.event_invitation
    assert [c.channel for c in ledger(person)] == [ConsentChannel.event_invitation]


def test_every_bulk_event_mail_has_them_the_personal_confirmation_not(make, mailbox, https):
    event = make.event()
    invitation = make.invitation(event=event)
    assert sending.queue_reminder(event, sending.REMINDER_OPEN) == 1
    db.session.commit()
    sending.deliver(event)
    [reminder] = mailbox.messages
    assert reminder["List-Unsubscribe"] and reminder["List-Unsubscribe-Post"]

    mailbox.clear()
    respond(invitation, Answer(status=InvitationStatus.accepted))
    db.session.commit()
    sending.confirm_answer(invitation)
    [confirmation] = mailbox.messages
    assert confirmation["List-Unsubscribe"] is None and "/abmelden/" not in plain_body(confirmation)


def test_the_test_mail_shows_a_link_that_unsubscribes_nobody(app, make, mailbox, https):
    event = make.event()
    person = make.person(invitation_consent=True)
    sending.send_test(event, person, to_email="buero@example.org", to_name=None)
    [mail] = mailbox.messages
    assert mail["List-Unsubscribe"] is None
    [link] = re.findall(r"https://crm\.test/abmelden/\S+", plain_body(mail))
    assert link.endswith("/abmelden/vorschau")
    assert app.test_client().post(urlsplit(link).path).status_code == 200
    assert ledger(person) == []
