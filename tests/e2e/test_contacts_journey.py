"""The office finds a person however the name is typed, corrects a phone number and sees it in the history."""
import re

import pytest
from playwright.sync_api import expect

from crm.auth.services import create_user
from crm.contacts.models import Affiliation, Organization, OrganizationKind, Person, Salutation, Tag
from crm.extensions import db

pytestmark = pytest.mark.e2e

PASSWORD = "journey-test-passwort"


@pytest.fixture(scope="module")
def journey(live_server):
    """An office user and Jürgen Müller (Bürgermeister of Heidelberg, topic Bildung) in the live server's database."""
    app, _ = live_server
    with app.app_context():
        user = create_user(
            email="sachbearbeitung@example.org", role="office", first_name="Sabine", last_name="Sachs",
            salutation="frau", password=PASSWORD, actor=None,
        )  # fmt: skip
        heidelberg = Organization(
            name="Stadt Heidelberg", kind=OrganizationKind.municipality, ags="08221000", state="08", city="Heidelberg"
        )
        juergen = Person(
            salutation=Salutation.herr, first_name="Jürgen", last_name="Müller",
            email="j.mueller@heidelberg.example", phone="06221 58-0", tags=[Tag(name="Bildung")],
        )  # fmt: skip
        namesake = Person(salutation=Salutation.frau, first_name="Jutta", last_name="Möller", email="jm@example.org")
        db.session.add_all([heidelberg, juergen, namesake])
        db.session.add(Affiliation(person=juergen, organization=heidelberg, position="Bürgermeister", is_primary=True))
        db.session.commit()
        return {"email": user.email, "person_id": juergen.id}


def test_office_finds_mueller_edits_his_phone_and_sees_it_in_the_history(page, live_server, journey):
    _, base_url = live_server
    page.goto(f"{base_url}/login")
    page.get_by_label("E-Mail-Adresse").fill(journey["email"])
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{base_url}/start")

    page.get_by_role("navigation", name="Hauptnavigation").get_by_role("link", name="Personen").click()
    page.wait_for_url(f"{base_url}/personen/")
    page.get_by_label("Suche").fill("mueller")
    page.get_by_role("button", name="Filtern").click()
    page.wait_for_url(re.compile(r"/personen/\?.*q=mueller"))
    expect(page.locator("[data-count]")).to_have_text("1")  # Jutta Möller is a different name
    page.get_by_role("link", name="Müller, Jürgen").click()

    page.wait_for_url(f"{base_url}/personen/{journey['person_id']}")
    expect(page.get_by_role("heading", name="Jürgen Müller", level=1)).to_be_visible()
    expect(page.get_by_text("Sehr geehrter Herr Bürgermeister Müller,")).to_be_visible()
    page.get_by_role("link", name="Bearbeiten", exact=True).click()

    page.wait_for_url(f"{base_url}/personen/{journey['person_id']}/bearbeiten")
    phone = page.get_by_label("Telefon", exact=True)
    expect(phone).to_have_value("06221 58-0")
    phone.fill("06221 58-1234")
    page.get_by_role("button", name="Speichern").click()

    page.wait_for_url(f"{base_url}/personen/{journey['person_id']}")
    expect(page.get_by_role("status").filter(has_text="Die Änderungen wurden gespeichert.")).to_be_visible()
    history = page.locator("section", has=page.get_by_role("heading", name="Änderungshistorie"))
    expect(history).to_contain_text("Person Jürgen Müller geändert")
    expect(history).to_contain_text("Telefon: 06221 58-0 → 06221 58-1234")
    expect(history).to_contain_text(journey["email"])
    facts = page.locator("dl.facts").first
    expect(facts).to_contain_text("06221 58-1234")
    expect(facts).to_contain_text("Bildung")  # saving the form kept his topic
