"""Preview as a recipient (desktop, mobile, text), what still blocks sending, and test mails through
the real SMTP test server."""
import sqlalchemy as sa

from crm.contacts.models import Salutation
from crm.extensions import db
from crm.mail.models import Delivery
from tests.html import field_error, page_text, text
from tests.portal import followed_flashes, html_body, plain_body


def setting(make):
    """A newsletter to a segment of two people with consent (and one without)."""
    segment = make.segment(name="Fraunhofer", filters={"q": "Vorschau"})
    first = make.person(salutation=Salutation.frau, title="Dr.", first_name="Anna", last_name="Vorschau-Albers", newsletter_consent=True)
    second = make.person(salutation=Salutation.herr, first_name="Bernd", last_name="Vorschau-Berg", newsletter_consent=True)
    make.person(last_name="Vorschau-Ohne")
    return make.newsletter(subject="Neues aus Kaiserslautern", segment=segment), first, second


def test_preview_shows_desktop_mobile_and_text_as_the_first_recipient_gets_it(client, login, make):
    login("office")
    newsletter, first, second = setting(make)
    response = client.get(f"/newsletters/{newsletter.id}/vorschau")
    body, page = text(response), page_text(text(response))
    assert "Personalisiert für Dr. Anna Vorschau-Albers" in page
    assert "Anrede „Sehr geehrte Frau Dr. Vorschau-Albers“" in page
    assert 'title="Vorschau am Desktop"' in body and 'width="640"' in body
    assert 'title="Vorschau am Smartphone"' in body and 'width="375"' in body
    assert f'src="/newsletters/{newsletter.id}/vorschau.html?person={first.id}"' in body
    plain = body.split("<pre class=\"mail-text\" data-text-version>")[1].split("</pre>")[0]
    assert plain.startswith("Neues aus Kaiserslautern\n===") and "Sehr geehrte Frau Dr. Vorschau-Albers," in plain
    assert "Wir berichten kurz." in plain and "<strong>" not in plain

    frame = client.get(f"/newsletters/{newsletter.id}/vorschau.html?person={first.id}")
    assert frame.mimetype == "text/html" and "Sehr geehrte Frau Dr. Vorschau-Albers," in text(frame)
    assert frame.headers["Content-Security-Policy"] == "sandbox"
    assert "<strong>kurz</strong>" in text(frame) and "Neues aus Kaiserslautern" in text(frame)

    page = page_text(text(client.get(f"/newsletters/{newsletter.id}/vorschau?person={second.id}")))
    assert "Sehr geehrter Herr Vorschau-Berg," in page
    assert "Sehr geehrter Herr Vorschau-Berg," in text(client.get(f"/newsletters/{newsletter.id}/vorschau.html?person={second.id}"))


def test_preview_can_be_personalized_for_anyone_found_by_search(client, login, make):
    login("office")
    newsletter, _, _ = setting(make)
    outsider = make.person(salutation=Salutation.herr, first_name="Michael", last_name="Dreier")
    page = page_text(text(client.get(f"/newsletters/{newsletter.id}/vorschau?q=dreier")))
    assert "Michael Dreier" in page
    frame = text(client.get(f"/newsletters/{newsletter.id}/vorschau.html?person={outsider.id}"))
    assert "Sehr geehrter Herr Dreier," in frame


def test_without_recipients_the_preview_is_neutral_and_the_problems_are_listed(client, login, make):
    login("office")
    newsletter = make.newsletter(blocks=False, segment=None)
    page = page_text(text(client.get(f"/newsletters/{newsletter.id}/vorschau")))
    assert "neutrale Anrede „Guten Tag“" in page and "Guten Tag," in page
    assert "Das fehlt noch vor dem Versand:" in page
    assert "Es ist kein Segment als Empfängerkreis gewählt." in page
    assert "Der Newsletter hat noch keinen Inhalt (keinen Block)." in page
    assert "Guten Tag," in text(client.get(f"/newsletters/{newsletter.id}/vorschau.html"))

    ready, _, _ = setting(make)
    page = page_text(text(client.get(f"/newsletters/{ready.id}/vorschau")))
    assert "Alles Nötige ist vorhanden" in page and "Das fehlt noch" not in page


def test_missing_impressum_settings_block_sending(client, login, make, app, monkeypatch):
    login("office")
    monkeypatch.setitem(app.config, "IMPRINT_REGISTER", "")
    newsletter, _, _ = setting(make)
    page = page_text(text(client.get(f"/newsletters/{newsletter.id}/versand")))
    assert "Im Impressum fehlt: Registereintrag (Einstellung CRM_IMPRINT_REGISTER)." in page
    assert "Jetzt senden" not in page


def test_test_mail_goes_to_each_address_as_the_chosen_recipient_gets_it(client, login, make, mailbox):
    login("office")
    newsletter, first, second = setting(make)
    response = client.post(
        f"/newsletters/{newsletter.id}/test", data={"person": str(second.id), "addresses": "redaktion@example.org,\nvorstand@example.org"}
    )
    assert followed_flashes(client, response) == [
        "Die Testmail (so, wie Bernd Vorschau-Berg sie erhält) ging an: redaktion@example.org, vorstand@example.org."
    ]
    assert sorted(a for e in mailbox.envelopes for a in e.rcpt_tos) == ["redaktion@example.org", "vorstand@example.org"]
    message = mailbox.to("redaktion@example.org")[0]
    assert message["Subject"] == "[Test] Neues aus Kaiserslautern"
    assert "Sehr geehrter Herr Vorschau-Berg," in plain_body(message) and "Sehr geehrter Herr Vorschau-Berg," in html_body(message)
    # a test is not part of the mailing: nobody counts as having received the newsletter
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0


def test_test_mail_addresses_are_checked(client, login, make, mailbox):
    login("office")
    newsletter, _, _ = setting(make)
    response = client.post(f"/newsletters/{newsletter.id}/test", data={"addresses": "gut@example.org, schlecht@"})
    assert response.status_code == 200 and field_error(response, "addresses") == "Keine gültige E-Mail-Adresse: schlecht@."
    many = ", ".join(f"test{n}@example.org" for n in range(11))
    response = client.post(f"/newsletters/{newsletter.id}/test", data={"addresses": many})
    assert field_error(response, "addresses") == "Höchstens 10 Adressen auf einmal."
    response = client.post(f"/newsletters/{newsletter.id}/test", data={"addresses": " , ;"})
    assert field_error(response, "addresses") == "Bitte geben Sie mindestens eine E-Mail-Adresse an."
    assert mailbox.messages == []


def test_preview_and_test_mail_unsubscribe_nobody(client, login, make, mailbox):
    login("office")
    newsletter, first, _ = setting(make)
    frame = text(client.get(f"/newsletters/{newsletter.id}/vorschau.html?person={first.id}"))
    assert 'href="http://crm.test/abmelden/vorschau"' in frame

    client.post(f"/newsletters/{newsletter.id}/test", data={"person": str(first.id), "addresses": "redaktion@example.org"})
    [message] = mailbox.messages
    assert "http://crm.test/abmelden/vorschau" in plain_body(message)
    assert message["List-Unsubscribe"] == "<http://crm.test/abmelden/vorschau>"
    client.post("/abmelden/vorschau", data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    db.session.expire_all()
    assert first.newsletter_consent is True
