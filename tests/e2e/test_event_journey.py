"""The invitation journey in a real browser: the office invites a segment, the invitee answers from the
link in the mail (read from the SMTP test server), the office sees it and checks them in at the door."""
import csv
import http.cookiejar
import io
import re
import time
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from crm.auth.services import create_user
from crm.contacts.models import Person, Salutation, Segment
from crm.events.links import token_digest
from crm.events.models import Event, EventKind, EventStatus, Invitation, InvitationStatus
from crm.events.ics import BERLIN
from crm.extensions import db, utcnow

pytestmark = pytest.mark.e2e

PASSWORD = "einladungs-test-passwort"
OFFICE = "einladungen@example.org"
MANY = 1_200  # more than one export batch of 500


@pytest.fixture(scope="module")
def setting(live_server):
    """An office user, a segment of three people (one without consent) and a workshop with its agenda."""
    app, _ = live_server
    with app.app_context():
        create_user(email=OFFICE, role="office", first_name="Olga", last_name="Office", salutation="frau", password=PASSWORD, actor=None)
        lena = Person(salutation=Salutation.frau, first_name="Lena", last_name="Lotse", email="lena.lotse@example.org", invitation_consent=True)
        max_ = Person(salutation=Salutation.herr, first_name="Max", last_name="Lotse", email="max.lotse@example.org", invitation_consent=True)
        shy = Person(first_name="Nora", last_name="Lotse", email="nora.lotse@example.org")
        speaker = Person(salutation=Salutation.herr, first_name="Michael", last_name="Dreier", email="dreier@example.org")
        segment = Segment(name="Digitallotsen", filters={"q": "lotse"})
        db.session.add_all([lena, max_, shy, speaker, segment])
        db.session.commit()
        return {"start": utcnow().replace(second=0, microsecond=0) + timedelta(days=21)}


def create_event_in_browser(page, base_url, start) -> int:
    """The office creates the workshop with its agenda and a speaker, then publishes it."""
    local = start.astimezone(BERLIN)
    page.goto(f"{base_url}/veranstaltungen/")
    page.get_by_role("link", name="Neue Veranstaltung").click()
    page.get_by_label("Titel", exact=True).fill("Werkstatt Digitale Dörfer")
    page.get_by_label("Art", exact=True).select_option(label="Workshop")
    page.get_by_label("Datum", exact=True).fill(local.strftime("%Y-%m-%d"))
    page.get_by_label("Beginn", exact=True).fill(local.strftime("%H:%M"))
    page.get_by_label("Ende", exact=True).fill((local + timedelta(hours=6)).strftime("%H:%M"))
    page.get_by_label("Veranstaltungsort", exact=True).fill("Rathaus")
    page.get_by_label("Ort", exact=True).fill("Kaiserslautern")
    page.get_by_label("Plätze", exact=True).fill("20")
    page.get_by_label("Anmeldeschluss", exact=True).fill((local - timedelta(days=7)).strftime("%Y-%m-%d"))
    page.get_by_role("button", name="Veranstaltung anlegen").click()
    page.wait_for_url(re.compile(r".*/veranstaltungen/\d+/ablauf$"))  # straight on to the agenda
    event_id = int(re.search(r"/veranstaltungen/(\d+)/ablauf$", page.url).group(1))
    form = page.locator("form", has=page.get_by_role("button", name="Hinzufügen"))
    form.get_by_label("Beginn", exact=True).fill(local.strftime("%H:%M"))
    form.get_by_label("Ende", exact=True).fill((local + timedelta(minutes=30)).strftime("%H:%M"))
    form.get_by_label("Titel", exact=True).fill("Begrüßung und Impuls")
    form.get_by_role("button", name="Hinzufügen").click()
    form = page.locator("form", has=page.get_by_role("button", name="Hinzufügen"))
    form.get_by_label("Beginn", exact=True).fill((local + timedelta(hours=1)).strftime("%H:%M"))
    form.get_by_label("Titel", exact=True).fill("Werkstattgespräche")
    form.get_by_role("button", name="Hinzufügen").click()
    page.get_by_role("link", name="Bearbeiten und Mitwirkende").first.click()
    page.get_by_label("Person", exact=True).fill("Michael Dreier")
    page.get_by_label("Funktion im Programm", exact=True).fill("Bürgermeister")
    page.get_by_role("button", name="Hinzufügen").click()
    expect(page.get_by_role("heading", name="Mitwirkende (1)")).to_be_visible()

    page.goto(f"{base_url}/veranstaltungen/{event_id}")
    page.get_by_role("button", name="Veröffentlichen").click()
    expect(page.get_by_role("heading", name="Status: veröffentlicht")).to_be_visible()
    return event_id


def log_in(page, base_url):
    page.goto(f"{base_url}/login")
    page.get_by_label("E-Mail-Adresse").fill(OFFICE)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{base_url}/start")


def mail_to(mailbox, address: str, subject: str):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [m for m in mailbox.to(address) if m["Subject"] == subject]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no mail {subject!r} to {address}: {[m['Subject'] for m in mailbox.messages]}")


def test_office_invites_a_segment_the_invitee_accepts_and_is_checked_in(browser, page, live_server, setting, mailbox):
    app, base_url = live_server
    log_in(page, base_url)
    event_id = create_event_in_browser(page, base_url, setting["start"])
    invitations = f"{base_url}/veranstaltungen/{event_id}/einladungen"

    page.goto(f"{invitations}/neu")
    page.get_by_label("Segment", exact=True).select_option(label="Digitallotsen")
    page.get_by_role("button", name="Segment übernehmen").click()
    recipients = page.get_by_role("region", name="3. Wer eingeladen wird")
    expect(recipients).to_contain_text("2 Personen werden eingeladen, 1 nicht.")
    expect(recipients).to_contain_text("keine Einwilligung für Einladungen: 1")
    expect(recipients.get_by_role("list", name="Eingeladen werden")).to_contain_text("Lena Lotse")
    preview = page.frame_locator("iframe[title='Vorschau der Einladung']")
    expect(preview.get_by_text("Sehr geehrte Frau Lotse,")).to_be_visible()
    expect(preview.get_by_text("Begrüßung und Impuls")).to_be_visible()

    page.get_by_role("button", name="Test an mich senden").click()
    expect(page.get_by_role("status").filter(has_text=f"ist an {OFFICE} unterwegs")).to_be_visible()
    assert mail_to(mailbox, OFFICE, "[Test] Einladung: Werkstatt Digitale Dörfer")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Jetzt einladen (2)").click()
    page.wait_for_url(f"{invitations}/")
    expect(page.get_by_role("status").filter(has_text="2 Einladungen werden versandt.")).to_be_visible()

    invitation_mail = mail_to(mailbox, "lena.lotse@example.org", "Einladung: Werkstatt Digitale Dörfer")
    plain = invitation_mail.get_body(preferencelist=("plain",)).get_content()
    [link] = re.findall(rf"{re.escape(base_url)}/teilnahme/\S+", plain)
    assert [p.get_filename() for p in invitation_mail.iter_attachments()] == ["veranstaltung.ics"]

    lenas_browser = browser.new_context(locale="de-DE")  # Lena opens the mail on her own computer
    try:
        lena = lenas_browser.new_page()
        lena.set_default_timeout(10_000)
        lena.goto(link)
        expect(lena.get_by_role("heading", name="Werkstatt Digitale Dörfer", level=1)).to_be_visible()
        expect(lena.get_by_text("Michael Dreier, Bürgermeister")).to_be_visible()
        expect(lena.locator(".current-answer")).to_contain_text("noch keine Antwort")
        lena.get_by_label("Ja, ich komme").check()
        lena.get_by_label("Begleitpersonen").select_option("1")
        lena.get_by_label("Namen der Begleitung").fill("Jonas Lotse")
        lena.get_by_label("vegetarisch").check()
        lena.get_by_label("Nachricht an die Geschäftsstelle").fill("Wir kommen mit der Bahn.")
        lena.get_by_role("button", name="Antwort speichern").click()
        expect(lena.get_by_role("status").filter(has_text="Vielen Dank für Ihre Zusage!")).to_be_visible()
        expect(lena.locator(".current-answer")).to_contain_text("zugesagt")
        expect(lena.locator(".current-answer")).to_contain_text("mit 1 Begleitperson")
        with lena.expect_download() as download:
            lena.get_by_role("link", name="Termin in den Kalender übernehmen (.ics)").click()
        assert download.value.suggested_filename == "veranstaltung.ics"
    finally:
        lenas_browser.close()
    assert "vielen Dank für die Zusage" in mail_to(mailbox, "lena.lotse@example.org", "Ihre Antwort: Werkstatt Digitale Dörfer").get_body(
        preferencelist=("plain",)).get_content()  # fmt: skip

    page.reload()
    expect(page.locator("[data-count=accepted]")).to_have_text("1")
    answers = page.locator("table.answers")
    expect(answers).to_contain_text("Lotse, Lena")
    expect(answers).to_contain_text("Jonas Lotse")
    expect(answers).to_contain_text("Wir kommen mit der Bahn.")
    expect(answers).to_contain_text("vegetarisch")

    page.set_viewport_size({"width": 390, "height": 844})  # at the door, on a phone
    page.get_by_role("link", name="Einlass (auch am Telefon)").click()
    page.get_by_placeholder("Name suchen").fill("lena")
    page.get_by_role("button", name="Suchen").click()
    page.get_by_role("button", name="Einchecken (Lena Lotse)").click()
    expect(page.get_by_role("status").filter(has_text="Lena Lotse ist da.")).to_be_visible()
    expect(page.get_by_role("button", name="Rückgängig (Lena Lotse)")).to_be_visible()
    with app.app_context():
        checked = db.session.scalar(sa.select(Invitation.checked_in_at).join(Person).where(Person.email == "lena.lotse@example.org"))
        assert checked is not None


def test_the_participant_download_is_complete_through_a_real_server(live_server, setting):
    app, base_url = live_server
    with app.app_context():
        start = utcnow().replace(second=0, microsecond=0) + timedelta(days=30)
        event = Event(title="Große Werkstatt", kind=EventKind.workshop, status=EventStatus.published, starts_at=start,
                      ends_at=start + timedelta(hours=6), ical_uid="grosse-werkstatt-e2e@crm.test")  # fmt: skip
        db.session.add(event)
        people = [Person(first_name="Tina", last_name=f"Teilnehmerin{i:04d}", email=f"tina{i}@example.org") for i in range(MANY)]
        db.session.add_all(people)
        db.session.flush()
        db.session.add_all([Invitation(event=event, person=p, status=InvitationStatus.accepted, token_digest=token_digest(event, p.id))
                            for p in people])  # fmt: skip
        db.session.commit()
        expected = db.session.scalar(sa.select(sa.func.count()).where(Invitation.event_id == event.id))
        event_id = event.id
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(f"{base_url}/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    opener.open(f"{base_url}/login", urllib.parse.urlencode({"csrf_token": token, "email": OFFICE, "password": PASSWORD}).encode())
    body = opener.open(f"{base_url}/veranstaltungen/{event_id}/einladungen/export.csv").read().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body), delimiter=";"))
    assert len(rows) - 1 == expected >= MANY
