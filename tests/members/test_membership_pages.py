"""Membership pages: detail with history and representatives, create, edit, status changes, delete."""
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.contacts.models import OrganizationKind
from crm.members.models import Membership, MembershipStatus, MembershipType
from tests.conftest import count
from tests.contacts.pages import field_error, flashes, main_form, selected_option
from tests.html import page_text



@pytest.fixture()
def office(login):
    return login("office")


@pytest.fixture()
def heidelberg(db, make):
    """Stadt Heidelberg with its Oberbürgermeister, a Referentin and a former Kämmerer."""
    city = make.organization(name="Stadt Heidelberg", kind=OrganizationKind.municipality, ags="08221000", state="08")
    make.affiliation(make.person(first_name="Eckart", last_name="Würzner"), city, position="Oberbürgermeister")
    make.affiliation(make.person(first_name="Nora", last_name="Neu"), city, position="Referentin", department="Amt für Digitales")
    make.affiliation(
        make.person(first_name="Alf", last_name="Alt"), city, position="Kämmerer", start_date=date(2000, 1, 1), end_date=date(2015, 12, 31)
    )
    db.session.commit()
    return city


def text_of(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return page_text(response.get_data(as_text=True))


def status_buttons(markup: str) -> list[str]:
    """The labels of the status buttons on a membership page."""
    section = re.search(r'<section class="card" id="status".*?</section>', markup, flags=re.S).group(0)
    return [page_text(label) for label in re.findall(r"<button[^>]*>(.*?)</button>", section, flags=re.S)]


# --- detail ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "buttons"),
    [
        ("applied", ["Aktivieren", "Antrag beenden (Ablehnung oder Rücknahme)"]),
        ("active", ["Ruhen lassen", "Mitgliedschaft beenden"]),
        ("suspended", ["Aktivieren", "Mitgliedschaft beenden"]),
        ("ended", []),
    ],
)
def test_detail_offers_only_the_allowed_status_changes(client, make, office, status, buttons):
    membership = make.membership(status=status, start_date=date(2020, 1, 1), end_date=date(2021, 1, 1) if status == "ended" else None)
    markup = client.get(f"/mitglieder/{membership.id}").get_data(as_text=True)
    assert status_buttons(markup) == buttons
    if status == "ended":
        assert "legen Sie bitte eine neue Mitgliedschaft an; sie erhält eine neue Nummer" in page_text(markup)
        assert f'href="/mitglieder/neu/person/{membership.person_id}"' in markup


def test_detail_of_an_institutional_member_shows_its_representatives(client, make, office, heidelberg):
    membership = make.membership(organization=heidelberg, type="institutional", start_date=date(2018, 7, 1))
    page = text_of(client, f"/mitglieder/{membership.id}")
    assert f"Mitgliedschaft Nr. {membership.number} · Stadt Heidelberg" in page
    assert "Art Institutionelles Mitglied Status aktiv Beginn 1. Juli 2018 Ende –" in page
    assert "Vertretung (2) Nora Neu – Referentin (Amt für Digitales)" in page
    assert "Eckart Würzner – Oberbürgermeister" in page
    assert "Alf Alt" not in page  # a former role does not represent the city


def test_detail_of_a_person_member_shows_the_primary_organization(client, make, office, heidelberg):
    person = make.person(first_name="Paula", last_name="Person", email="paula@example.org")
    make.affiliation(person, heidelberg, position="CDO")
    membership = make.membership(person=person, start_date=date(2019, 1, 1))
    page = text_of(client, f"/mitglieder/{membership.id}")
    assert "Mitglied Paula Person (Person) Organisation Stadt Heidelberg – CDO E-Mail paula@example.org" in page
    assert "Vertretung" not in page


def test_detail_history_reads_german(client, make, office):
    membership = make.membership(status="applied")
    client.post(f"/mitglieder/{membership.id}/status", data={"status": "active"})
    page = text_of(client, f"/mitglieder/{membership.id}")
    history = page[page.index("Verlauf"):]
    assert f"Mitgliedschaft Nr. {membership.number}" in history
    assert "geändert – " in history and office.email in history
    assert f"Status: beantragt → aktiv Beginn: – → {date.today():%d.%m.%Y}" in history
    assert "angelegt" in history


def test_unknown_membership_is_not_found(client, office):
    assert client.get("/mitglieder/999999").status_code == 404


# --- create ------------------------------------------------------------------------------------


def test_create_for_a_person_from_the_person_page(client, db, make, office):
    person = make.person(first_name="Marc", last_name="Groß")
    db.session.commit()
    person_page = client.get(f"/personen/{person.id}").get_data(as_text=True)
    assert f'href="/mitglieder/neu/person/{person.id}">Mitgliedschaft anlegen</a>' in person_page

    form = client.get(f"/mitglieder/neu/person/{person.id}").get_data(as_text=True)
    assert (selected_option(form, "type"), selected_option(form, "status")) == ("regular", "active")
    data = main_form(form) | {"start_date": "01.06.2016", "notes": "Beitritt beim Zukunftsworkshop"}
    response = client.post(f"/mitglieder/neu/person/{person.id}", data=data, follow_redirects=True)

    membership = db.session.scalar(sa.select(Membership).where(Membership.person_id == person.id))
    assert (membership.type, membership.status, membership.start_date) == (MembershipType.regular, MembershipStatus.active, date(2016, 6, 1))
    assert flashes(response.get_data(as_text=True)) == [f"Mitgliedschaft Nr. {membership.number} für Marc Groß wurde angelegt."]
    assert f"Mitgliedsnummer {membership.number}" in page_text(response.get_data(as_text=True))
    assert f'href="/mitglieder/{membership.id}">Nr. {membership.number}</a>' in client.get(f"/personen/{person.id}").get_data(as_text=True)


def test_create_for_an_organization_defaults_to_institutional(client, db, make, office, heidelberg):
    org_page = client.get(f"/organisationen/{heidelberg.id}").get_data(as_text=True)
    assert f'href="/mitglieder/neu/organisation/{heidelberg.id}">Mitgliedschaft anlegen</a>' in org_page
    form = client.get(f"/mitglieder/neu/organisation/{heidelberg.id}").get_data(as_text=True)
    assert selected_option(form, "type") == "institutional"
    response = client.post(f"/mitglieder/neu/organisation/{heidelberg.id}", data=main_form(form) | {"status": "applied"})
    membership = db.session.scalar(sa.select(Membership).where(Membership.organization_id == heidelberg.id))
    assert response.headers["Location"] == f"/mitglieder/{membership.id}"
    assert (membership.status, membership.start_date) == (MembershipStatus.applied, None)
    assert f"Nr. {membership.number} · Institutionelles Mitglied · beantragt" in text_of(client, f"/organisationen/{heidelberg.id}")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"start_date": "01.05.2022", "end_date": "30.04.2022"}, "end_date", "Das Ende darf nicht vor dem Beginn (01.05.2022) liegen."),
        ({"start_date": "31.02.2022"}, "start_date", "Bitte ein Datum im Format TT.MM.JJJJ angeben."),
        ({"type": "gold"}, "type", "Bitte wählen Sie einen Eintrag aus der Liste."),
        ({"status": "ended"}, "status", "Bitte wählen Sie einen Eintrag aus der Liste."),  # ending comes later
        ({"notes": "x" * 10001}, "notes", "Höchstens 10000 Zeichen."),
    ],
    ids=["end-before-start", "bad-date", "type", "status", "notes"],
)
def test_create_refuses_bad_input_next_to_the_field_and_writes_nothing(client, db, make, office, data, field, message):
    person = make.person()
    db.session.commit()
    before = (count(Membership), count(AuditLog))
    url = f"/mitglieder/neu/person/{person.id}"
    response = client.post(url, data=main_form(client.get(url).get_data(as_text=True)) | data)
    assert response.status_code == 200
    assert field_error(response.get_data(as_text=True), field) == message
    assert (count(Membership), count(AuditLog)) == before


def test_a_refused_create_uses_up_no_number(client, db, make, office):
    last = make.membership().number
    person = make.person()
    db.session.commit()
    url = f"/mitglieder/neu/person/{person.id}"
    client.post(url, data={"type": "regular", "status": "active", "start_date": "02.01.2020", "end_date": "01.01.2020"})
    client.post(url, data={"type": "regular", "status": "active"})
    assert db.session.scalar(sa.select(Membership.number).where(Membership.person_id == person.id)) == last + 1


def test_create_while_a_membership_is_running_is_refused_with_a_link(client, db, make, office):
    running = make.membership(status="suspended", start_date=date(2020, 1, 1))
    db.session.commit()
    url = f"/mitglieder/neu/person/{running.person_id}"
    notice = client.get(url).get_data(as_text=True)
    assert f'<a href="/mitglieder/{running.id}">Mitgliedschaft Nr. {running.number}</a> (ruhend)' in notice
    response = client.post(url, data={"type": "regular", "status": "active"})
    assert "Eine neue Mitgliedschaft kann erst angelegt werden, wenn diese beendet ist." in page_text(response.get_data(as_text=True))
    assert count(Membership) == 1


# --- edit --------------------------------------------------------------------------------------


def test_edit_type_dates_and_notes(client, db, make, office):
    membership = make.membership(start_date=date(2020, 1, 1))
    db.session.commit()
    url = f"/mitglieder/{membership.id}/bearbeiten"
    form = client.get(url).get_data(as_text=True)
    assert main_form(form)["start_date"] == "2020-01-01"
    response = client.post(url, data=main_form(form) | {"type": "honorary", "notes": "Ehrenmitglied seit der MV 2024"})
    assert response.headers["Location"] == f"/mitglieder/{membership.id}"
    page = text_of(client, f"/mitglieder/{membership.id}")
    assert "Art Ehrenmitglied" in page and "Ehrenmitglied seit der MV 2024" in page
    assert "Art: Ordentliches Mitglied → Ehrenmitglied" in page


def test_edit_refuses_to_clear_the_start_of_an_active_membership(client, db, make, office):
    membership = make.membership(start_date=date(2020, 1, 1))
    db.session.commit()
    url = f"/mitglieder/{membership.id}/bearbeiten"
    response = client.post(url, data=main_form(client.get(url).get_data(as_text=True)) | {"start_date": "", "notes": "neu"})
    assert field_error(response.get_data(as_text=True), "start_date") == "Eine Mitgliedschaft mit Status „aktiv“ braucht ein Beginndatum."
    db.session.expire_all()
    assert (membership.start_date, membership.notes) == (date(2020, 1, 1), None)


# --- status ------------------------------------------------------------------------------------


def test_suspend_then_reactivate(client, db, make, office):
    membership = make.membership(start_date=date(2020, 1, 1))
    db.session.commit()
    response = client.post(f"/mitglieder/{membership.id}/status", data={"status": "suspended"}, follow_redirects=True)
    assert flashes(response.get_data(as_text=True)) == [f"Die Mitgliedschaft Nr. {membership.number} ist jetzt „ruhend“."]
    client.post(f"/mitglieder/{membership.id}/status", data={"status": "active"})
    db.session.expire_all()
    assert (membership.status, membership.start_date) == (MembershipStatus.active, date(2020, 1, 1))


def test_end_with_the_date_the_form_suggests(client, db, make, office):
    membership = make.membership(start_date=date(2020, 1, 1))
    db.session.commit()
    markup = client.get(f"/mitglieder/{membership.id}").get_data(as_text=True)
    assert f'id="end_date" name="end_date" type="date" value="{date.today().isoformat()}"' in markup
    client.post(f"/mitglieder/{membership.id}/status", data={"status": "ended", "end_date": date.today().isoformat()})
    db.session.expire_all()
    assert (membership.status, membership.end_date) == (MembershipStatus.ended, date.today())


def test_ending_before_the_start_shows_the_error_at_the_date(client, db, make, office):
    membership = make.membership(start_date=date(2020, 1, 1))
    db.session.commit()
    response = client.post(f"/mitglieder/{membership.id}/status", data={"status": "ended", "end_date": "31.12.2019"})
    assert response.status_code == 200
    assert field_error(response.get_data(as_text=True), "end_date") == "Das Ende darf nicht vor dem Beginn (01.01.2020) liegen."
    db.session.expire_all()
    assert (membership.status, membership.end_date) == (MembershipStatus.active, None)


def test_an_ended_membership_cannot_be_reactivated(client, db, make, office):
    membership = make.membership(status="ended", start_date=date(2015, 1, 1), end_date=date(2018, 12, 31))
    db.session.commit()
    response = client.post(f"/mitglieder/{membership.id}/status", data={"status": "active"})
    assert response.status_code == 200
    assert "ist beendet und bleibt es. Für eine Rückkehr legen Sie bitte eine neue Mitgliedschaft an" in page_text(
        response.get_data(as_text=True)
    )
    db.session.expire_all()
    assert membership.status == MembershipStatus.ended


# --- delete ------------------------------------------------------------------------------------


def test_delete_after_confirmation_keeps_the_number_used(client, db, make, office, heidelberg):
    membership = make.membership(organization=heidelberg, type="institutional", notes="Beitrag erlassen")
    db.session.commit()
    membership_id, number = membership.id, membership.number
    confirm = text_of(client, f"/mitglieder/{membership_id}/loeschen")
    assert f"Mitgliedschaft Nr. {number} löschen?" in confirm
    assert "Die Organisation selbst bleibt erhalten." in confirm
    assert f"Die Mitgliedsnummer {number} wird nicht erneut vergeben." in confirm
    assert "sowie den Notizen" in confirm

    response = client.post(f"/mitglieder/{membership_id}/loeschen", follow_redirects=True)
    assert response.request.path == f"/organisationen/{heidelberg.id}"
    assert flashes(response.get_data(as_text=True)) == [
        f"Die Mitgliedschaft Nr. {number} von Stadt Heidelberg wurde gelöscht. Die Nummer wird nicht erneut vergeben."
    ]
    assert db.session.get(Membership, membership_id) is None
    assert client.get(f"/mitglieder/{membership_id}").status_code == 404
    again = client.post(f"/mitglieder/neu/organisation/{heidelberg.id}", data={"type": "institutional", "status": "active"})
    assert again.status_code == 302
    assert db.session.scalar(sa.select(Membership.number).where(Membership.organization_id == heidelberg.id)) == number + 1


# --- navigation --------------------------------------------------------------------------------


def test_staff_see_the_members_link_members_do_not(client, login):
    login("office")
    assert '<a href="/mitglieder/" ' in client.get("/start").get_data(as_text=True)
    client.post("/logout")
    login("member")
    assert "/mitglieder/" not in client.get("/mein-bereich/").get_data(as_text=True)


def test_planned_end_is_kept_when_ending_later(client, db, make, office):
    planned = date.today() + timedelta(days=30)
    membership = make.membership(start_date=date(2020, 1, 1), end_date=planned, type="sponsoring")
    db.session.commit()
    markup = client.get(f"/mitglieder/{membership.id}").get_data(as_text=True)
    assert f'id="end_date" name="end_date" type="date" value="{planned.isoformat()}"' in markup
