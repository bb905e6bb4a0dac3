"""The member portal in a real browser: a member updates their data and takes it home; the office invites someone."""
import json
import re
import time

import pytest
from playwright.sync_api import expect

from crm.auth.services import create_user
from crm.contacts.models import Affiliation, Organization, OrganizationKind, Person, Salutation
from crm.extensions import db

pytestmark = pytest.mark.e2e

PASSWORD = "portal-test-passwort"
NEW_PASSWORD = "paulas-eigenes-passwort"


@pytest.fixture(scope="module")
def portal(live_server):
    """A member with a role at Stadt Heidelberg, an office user, and Paula (email, no account yet)."""
    app, _ = live_server
    with app.app_context():
        member = create_user(
            email="mitglied@example.org", role="member", first_name="Monika", last_name="Mitglied",
            salutation="frau", password=PASSWORD, actor=None,
        )  # fmt: skip
        create_user(
            email="geschaeftsstelle@example.org", role="office", first_name="Gerd", last_name="Geschäft",
            salutation="herr", password=PASSWORD, actor=None,
        )  # fmt: skip
        town = Organization(name="Stadt Heidelberg", kind=OrganizationKind.municipality, ags="08221000", state="08")
        paula = Person(salutation=Salutation.frau, first_name="Paula", last_name="Portal", email="paula@example.org")
        db.session.add_all([town, paula])
        db.session.add(
            Affiliation(person=member.person, organization=town, position="Sachbearbeitung", is_primary=True)
        )
        db.session.commit()
        return {"paula_id": paula.id}


def log_in(page, base_url, email, password):
    page.goto(f"{base_url}/login")
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort").fill(password)
    page.get_by_role("button", name="Anmelden").click()


def test_member_updates_phone_and_role_then_downloads_the_data(page, live_server, portal, tmp_path):
    _, base_url = live_server
    log_in(page, base_url, "mitglied@example.org", PASSWORD)
    page.wait_for_url(f"{base_url}/mein-bereich/")
    expect(page.get_by_role("heading", name="Mein Bereich", level=1)).to_be_visible()

    page.get_by_role("link", name="Daten bearbeiten").click()
    page.wait_for_url(f"{base_url}/mein-bereich/profil")
    page.get_by_label("Telefon", exact=True).fill("06221 58-1234")
    page.get_by_role("button", name="Speichern").click()
    page.wait_for_url(f"{base_url}/mein-bereich/")
    expect(page.get_by_role("status").filter(has_text="Ihre Angaben wurden gespeichert.")).to_be_visible()
    expect(page.get_by_role("region", name="Meine Daten", exact=True)).to_contain_text("06221 58-1234")

    roles = page.get_by_role("region", name="Meine Organisationen und Funktionen")
    roles.get_by_role("link", name="ändern", exact=True).click()
    page.wait_for_url(re.compile(r"/mein-bereich/funktionen/\d+$"))
    expect(page.get_by_label("Funktion")).to_have_value("Sachbearbeitung")
    page.get_by_label("Funktion").fill("Amtsleitung")
    page.get_by_role("button", name="Speichern").click()
    page.wait_for_url(f"{base_url}/mein-bereich/")
    expect(page.get_by_text("Ihre Funktion bei Stadt Heidelberg wurde gespeichert.")).to_be_visible()
    expect(page.get_by_text("Stadt Heidelberg – Amtsleitung")).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Als JSON herunterladen").click()
    download = download_info.value
    assert re.fullmatch(r"meine-daten-\d{4}-\d{2}-\d{2}\.json", download.suggested_filename)
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["person"]["phone"] == "06221 58-1234"
    assert data["person"]["email"] == "mitglied@example.org"
    assert [(a["organization"], a["position"]) for a in data["affiliations"]] == [("Stadt Heidelberg", "Amtsleitung")]

    page.get_by_role("link", name="Meine Daten ansehen").click()
    page.wait_for_url(f"{base_url}/mein-bereich/daten")
    expect(page.get_by_role("heading", name="Auskunft über meine gespeicherten Daten")).to_be_visible()
    expect(page.get_by_role("region", name="Stammdaten", exact=True)).to_contain_text("06221 58-1234")
    expect(page.get_by_role("region", name="Organisationen und Funktionen", exact=True)).to_contain_text(
        "Amtsleitung"
    )


def invitation_link(mailbox, address: str, base_url: str) -> str:
    """The link in the invitation mail, read from the SMTP test server."""
    deadline = time.monotonic() + 5
    while not mailbox.to(address) and time.monotonic() < deadline:
        time.sleep(0.05)
    [message] = mailbox.to(address)
    assert message["Subject"] == "Ihr Zugang zu Kommune 2.0 e. V."
    plain = message.get_body(preferencelist=("plain",)).get_content()
    [link] = re.findall(rf"{re.escape(base_url)}/einladung/\S+", plain)
    return link


def test_office_invites_a_person_who_sets_a_password_and_reaches_the_portal(
    browser, page, live_server, portal, mailbox
):
    _, base_url = live_server
    log_in(page, base_url, "geschaeftsstelle@example.org", PASSWORD)
    page.wait_for_url(f"{base_url}/start")
    page.goto(f"{base_url}/personen/{portal['paula_id']}")
    privacy = page.get_by_role("region", name="Mitgliederbereich und Datenschutz", exact=True)
    expect(privacy).to_contain_text("Kein Zugang zum Mitgliederbereich.")
    privacy.get_by_role("button", name="Zum Mitgliederbereich einladen").click()
    sent = page.get_by_role("status").filter(has_text="Die Einladung an paula@example.org ist verschickt.")
    expect(sent).to_be_visible()
    expect(privacy).to_contain_text("das Passwort ist noch nicht gesetzt")

    link = invitation_link(mailbox, "paula@example.org", base_url)

    paulas_browser = browser.new_context(locale="de-DE")  # Paula opens the mail on her own computer
    try:
        paula = paulas_browser.new_page()
        paula.set_default_timeout(10_000)
        paula.goto(link)
        expect(paula.get_by_role("heading", name="Willkommen – Passwort festlegen")).to_be_visible()
        paula.get_by_label("Neues Passwort").fill(NEW_PASSWORD)
        paula.get_by_label("Passwort wiederholen").fill(NEW_PASSWORD)
        paula.get_by_role("button", name="Passwort speichern").click()
        paula.wait_for_url(f"{base_url}/login")
        expect(paula.get_by_text("Ihr Passwort wurde gespeichert. Sie können sich jetzt anmelden.")).to_be_visible()

        paula.get_by_label("E-Mail-Adresse").fill("paula@example.org")
        paula.get_by_label("Passwort").fill(NEW_PASSWORD)
        paula.get_by_role("button", name="Anmelden").click()
        paula.wait_for_url(f"{base_url}/mein-bereich/")
        expect(paula.get_by_role("heading", name="Mein Bereich", level=1)).to_be_visible()
        expect(paula.get_by_role("region", name="Meine Daten", exact=True)).to_contain_text("Paula Portal")
    finally:
        paulas_browser.close()

    page.reload()
    expect(privacy).to_contain_text("Zugang paula@example.org ist aktiv")
    expect(privacy.get_by_role("button", name="Zum Mitgliederbereich einladen")).to_have_count(0)
