"""The newsletter journey in a real browser: the office writes a review of the Freiburg member assembly
from its session summaries, previews it at phone width, sends a test and then the newsletter to a
segment; the web version is public; a recipient unsubscribes with the link from the mail (read from
the SMTP test server) and their newsletter consent is withdrawn."""
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from crm.auth.services import create_user
from crm.contacts.models import Person, Salutation, Segment
from crm.events.models import Event, EventKind, EventSession, EventStatus, Statement
from crm.extensions import db
from crm.newsletters.models import Newsletter, NewsletterStatus
from tests.portal import plain_body

pytestmark = pytest.mark.e2e

BERLIN = ZoneInfo("Europe/Berlin")
PASSWORD = "newsletter-test-passwort"
OFFICE = "redaktion@example.org"
SUMMARY = "Die Kommunen wollen die Digitalisierung selbst gestalten und nicht nur verwalten."


@pytest.fixture(scope="module")
def setting(live_server):
    """An office user, a segment of two recipients (and one person without consent) and the Freiburg
    assembly of 2018 with a session summary and a speaker's statement."""
    app, _ = live_server
    with app.app_context():
        create_user(email=OFFICE, role="office", first_name="Rita", last_name="Redaktion", salutation="frau", password=PASSWORD, actor=None)
        lena = Person(salutation=Salutation.frau, first_name="Lena", last_name="Netzwerkerin", email="lena.netz@example.org", newsletter_consent=True)
        max_ = Person(salutation=Salutation.herr, first_name="Max", last_name="Netzwerker", email="max.netz@example.org", newsletter_consent=True)
        shy = Person(first_name="Nora", last_name="Netzwerkerin-Still", email="nora.netz@example.org")
        speaker = Person(salutation=Salutation.herr, first_name="Martin", last_name="Horn", email="martin.horn@example.org")
        starts = datetime(2018, 11, 29, 10, 0, tzinfo=BERLIN)
        assembly = Event(
            title="6. Mitgliederversammlung", kind=EventKind.general_assembly, status=EventStatus.done, city="Freiburg im Breisgau",
            starts_at=starts, ends_at=starts.replace(hour=16), ical_uid="mv-2018@crm.test",
            guiding_questions=["Was braucht die digitale Kommune?"],
        )  # fmt: skip
        session = EventSession(title="Kommune 2.0-Erfahrungsaustausch", starts_at=starts, summary=SUMMARY)
        session.statements.append(Statement(person=speaker, question=0, lead="Mut zum Ausprobieren.", body="Freiburg gestaltet mit."))
        assembly.sessions.append(session)
        db.session.add_all([lena, max_, shy, speaker, assembly, Segment(name="Netzwerk", filters={"q": "netzwerk"})])
        db.session.commit()
        return {"lena": lena.id}


def log_in(page, base_url):
    page.goto(f"{base_url}/login")
    page.get_by_label("E-Mail-Adresse").fill(OFFICE)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("link", name="Newsletter", exact=True)).to_be_visible()


def test_review_newsletter_from_composing_to_unsubscribing(page, live_server, setting, smtp_server):
    app, base_url = live_server
    mailbox = smtp_server.handler
    mailbox.clear()
    log_in(page, base_url)

    # compose: settings, then a review of the Freiburg assembly written from its summaries
    page.get_by_role("link", name="Newsletter", exact=True).click()
    page.get_by_role("link", name="Neuer Newsletter").click()
    page.get_by_label("Betreff").fill("Rückblick auf Freiburg")
    page.get_by_label("Empfängerkreis (Segment)").select_option(label="Netzwerk")
    page.get_by_role("button", name="Newsletter anlegen").click()
    expect(page.get_by_role("heading", name="Inhalt · Rückblick auf Freiburg")).to_be_visible()
    page.get_by_text("Veranstaltungsrückblick", exact=True).click()
    review = page.locator('details[data-add="event_review"]')
    review.get_by_label("Veranstaltung").select_option(label="29.11.2018 – 6. Mitgliederversammlung (abgeschlossen)")
    review.get_by_role("button", name="Block hinzufügen").click()
    block = page.locator('[data-kind="event_review"]')
    expect(block.get_by_label("Überschrift")).to_have_value("Rückblick: 6. Mitgliederversammlung")
    expect(block.get_by_label("Text")).to_contain_text(SUMMARY)
    expect(block.get_by_label("Text")).to_contain_text("Mut zum Ausprobieren.")

    # preview at phone width, as the first recipient gets it
    page.get_by_role("link", name="Vorschau und Test").click()
    expect(page.get_by_text("Alles Nötige ist vorhanden")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    phone = page.frame_locator('iframe[title="Vorschau am Smartphone"]')
    expect(phone.get_by_text("Sehr geehrter Herr Netzwerker,")).to_be_visible()  # the first recipient
    expect(phone.get_by_text("Rückblick: 6. Mitgliederversammlung")).to_be_visible()
    # (the desktop preview shows the same URL: take the phone's frame by its element, not by the URL)
    frame = page.locator('iframe[title="Vorschau am Smartphone"]').element_handle().content_frame()
    assert frame.evaluate("document.documentElement.scrollWidth") <= 375  # nothing sticks out at 375 px
    page.set_viewport_size({"width": 1280, "height": 900})

    # test mail to the office
    page.get_by_label("An (E-Mail-Adressen)").fill(f"{OFFICE}, vorstand@example.org")
    page.get_by_role("button", name="Testmail senden").click()
    expect(page.get_by_text(f"ging an: {OFFICE}, vorstand@example.org")).to_be_visible()
    test_mail = mailbox.to(OFFICE)[0]
    assert test_mail["Subject"] == "[Test] Rückblick auf Freiburg" and "Sehr geehrter Herr Netzwerker," in plain_body(test_mail)
    mailbox.clear()

    # send to the segment: two recipients, the person without consent is left out
    page.get_by_role("link", name="Versand", exact=True).click()
    expect(page.get_by_text("2 Personen erhalten den Newsletter, 1 nicht.")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Jetzt senden (2)").click()
    expect(page.get_by_text("Der Versand hat begonnen: 2 Personen erhalten den Newsletter.")).to_be_visible()
    expect(page.locator('[data-count="sent"]')).to_have_text("2")
    assert sorted(a for e in mailbox.envelopes for a in e.rcpt_tos) == ["lena.netz@example.org", "max.netz@example.org"]
    page.get_by_role("link", name="Zustellungen", exact=True).click()
    expect(page.locator("tr[data-delivery]")).to_have_count(2)

    # the web version: the same content, for everybody, without personal links
    with app.app_context():
        newsletter = db.session.scalar(sa.select(Newsletter).where(Newsletter.subject == "Rückblick auf Freiburg"))
        assert newsletter.status == NewsletterStatus.sent
        web_key = newsletter.web_key
    page.goto(f"{base_url}/archiv/{web_key}")
    expect(page.get_by_text("Rückblick: 6. Mitgliederversammlung")).to_be_visible()
    expect(page.get_by_text("Guten Tag,")).to_be_visible()
    expect(page.get_by_text("Newsletter abbestellen")).to_have_count(0)

    # Lena unsubscribes with the link in her mail: the page changes nothing, the button does
    [lena_mail] = mailbox.to("lena.netz@example.org")
    link = re.search(r"https?://\S+/abmelden/\S+", plain_body(lena_mail)).group(0)
    page.context.clear_cookies()
    page.goto(link)
    with app.app_context():
        assert db.session.get(Person, setting["lena"]).newsletter_consent is True
    page.get_by_role("button", name="Jetzt abmelden").click()
    expect(page.get_by_role("heading", name="Sie sind abgemeldet")).to_be_visible()
    with app.app_context():
        assert db.session.get(Person, setting["lena"]).newsletter_consent is False
