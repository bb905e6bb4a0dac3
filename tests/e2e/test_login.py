"""A person logs in with a real browser and sees the office start page."""
import pytest

from crm.auth.services import create_user
from crm.contacts.models import Organization, OrganizationKind
from crm.extensions import db

pytestmark = pytest.mark.e2e

PASSWORD = "browser-test-passwort"


@pytest.fixture(scope="module")
def office_user(live_server):
    app, _ = live_server
    with app.app_context():
        user = create_user(
            email="buero@example.org", role="office", first_name="Kim", last_name="Beispiel",
            salutation="frau", password=PASSWORD, actor=None,
        )  # fmt: skip
        db.session.add(Organization(name="Stadt Heidelberg", kind=OrganizationKind.municipality,
                                    ags="08221000", state="08"))  # fmt: skip
        db.session.commit()
        return user.email


def log_in(page, base_url, email, password):
    page.goto(f"{base_url}/start")
    assert page.url.startswith(f"{base_url}/login")  # sent to the login first
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort").fill(password)
    page.get_by_role("button", name="Anmelden").click()


def test_office_logs_in_and_sees_start_page(page, live_server, office_user):
    _, base_url = live_server
    log_in(page, base_url, office_user, PASSWORD)
    page.wait_for_url(f"{base_url}/start")
    assert page.get_by_role("heading", name="Guten Tag, Kim").is_visible()
    assert page.locator("[data-figure=organizations]").inner_text() == "1"
    assert page.locator("[data-figure=people]").inner_text() == "1"
    changes = page.locator(".recent-changes").inner_text()
    assert "Person Kim Beispiel angelegt" in changes
    assert "Zugang buero@example.org angelegt" in changes

    page.get_by_role("button", name="Abmelden").click()
    page.wait_for_url(f"{base_url}/login")
    assert page.get_by_text("Sie wurden abgemeldet.").is_visible()


def test_wrong_password_shows_german_message_and_keeps_email(page, live_server, office_user):
    _, base_url = live_server
    log_in(page, base_url, office_user, "falsches-passwort")
    assert page.get_by_text("E-Mail-Adresse oder Passwort ist falsch.").is_visible()
    assert page.get_by_label("E-Mail-Adresse").input_value() == office_user


def test_start_page_fits_a_small_phone(page, live_server, office_user):
    _, base_url = live_server
    page.set_viewport_size({"width": 375, "height": 740})
    log_in(page, base_url, office_user, PASSWORD)
    page.wait_for_url(f"{base_url}/start")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    # Keyboard users can skip to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Zum Inhalt springen"
