"""Requests a member makes and the office decides: a new organization or role, erasure of the data."""
import types

import pytest
import sqlalchemy as sa

from crm.contacts.models import Organization, OrganizationKind, Salutation
from crm.extensions import db
from crm.portal.models import ChangeRequest, RequestKind, RequestStatus
from tests.conftest import PASSWORD
from tests.html import field_error, input_value, page_text, text
from tests.portal import REQUIRED, audit_rows, followed_flashes, fresh, location_path

DECIDED = "Dieser Antrag ist bereits entschieden."
CONFIRM_ERASURE = "Bitte bestätigen Sie, dass Sie die Löschung beantragen möchten."
WRONG_PASSWORD = "Das Passwort ist nicht richtig."


@pytest.fixture()
def member(client, login, make):
    """Erika Musterfrau, logged in with `client`."""
    person = make.person(salutation=Salutation.frau, first_name="Erika", last_name="Musterfrau", phone="030 1234567")
    return login("member", person=person)


@pytest.fixture()
def office(app, make):
    """A second browser, logged in as office staff."""
    user = make.user(role="office", password=PASSWORD)
    browser = app.test_client()
    assert browser.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    return types.SimpleNamespace(client=browser, user=user)


def overview(client) -> str:
    response = client.get("/mein-bereich/")
    assert response.status_code == 200
    return page_text(text(response)).replace(" :", ":")  # "<strong>abgelehnt</strong>: note"


def queue(office, status=None) -> str:
    response = office.client.get("/antraege/", query_string={"status": status} if status else {})
    assert response.status_code == 200
    return page_text(text(response))


def report(client, **data):
    return client.post("/mein-bereich/funktionen/neu", data=data)


def only_request(person, kind=RequestKind.affiliation) -> ChangeRequest:
    [request] = db.session.scalars(
        sa.select(ChangeRequest).where(ChangeRequest.person_id == person.id, ChangeRequest.kind == kind)
    ).all()
    return request


def approve(office, request, **data):
    data = {"organization": "", "position": "", "new_kind": "", "note": "", **data}
    return office.client.post(f"/antraege/{request.id}/funktion", data=data)


def reject(office, request, note=""):
    return office.client.post(f"/antraege/{request.id}/ablehnen", data={"note": note})


def current_roles(person) -> list[tuple[str, str | None]]:
    db.session.expire_all()
    return sorted((a.organization.name, a.position) for a in person.affiliations if a.is_current)


# --- a new organization or role -----------------------------------------------------------------


def test_member_reports_a_new_role_which_waits_for_the_office(client, member, office, make):
    make.organization(name="Stadt Neuhausen", kind=OrganizationKind.municipality)
    db.session.commit()
    response = client.get("/mein-bereich/funktionen/neu")
    assert response.status_code == 200
    assert "Neue Organisation oder Funktion melden" in text(response)

    response = report(client, organization="Stadt Neuhausen", position="Amtsleitung", message="Seit 1. Mai im Amt.")
    assert response.status_code == 302
    assert location_path(response) == "/mein-bereich/"
    assert "Danke! Die Geschäftsstelle prüft Ihre Angabe und trägt sie ein." in followed_flashes(client, response)

    request = only_request(member.person)
    assert request.status == RequestStatus.open
    assert request.data == {"organization": "Stadt Neuhausen", "position": "Amtsleitung"}
    assert request.message == "Seit 1. Mai im Amt."
    assert [e.actor_id for e in audit_rows("change_requests", request.id, "create")] == [member.id]
    assert current_roles(member.person) == []  # nothing in the record before the office decides
    page = overview(client)
    assert "Neue Organisation/Funktion (Stadt Neuhausen, Amtsleitung) – offen" in page
    assert "Zurückziehen" in page

    listed = queue(office)
    assert "Erika Musterfrau" in listed and "Stadt Neuhausen, Amtsleitung" in listed and "offen" in listed
    detail = office.client.get(f"/antraege/{request.id}")
    assert detail.status_code == 200
    assert "Seit 1. Mai im Amt." in text(detail)
    assert input_value(detail, "organization") == "Stadt Neuhausen"
    assert input_value(detail, "position") == "Amtsleitung"


def test_report_needs_an_organization(client, member):
    response = report(client, organization="  ", position="Amtsleitung")
    assert response.status_code == 200
    assert field_error(response, "organization") == REQUIRED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ChangeRequest)) == 0


def test_office_approves_with_an_existing_organization(client, member, office, make):
    town = make.organization(name="Stadt Neuhausen", kind=OrganizationKind.municipality)
    db.session.commit()
    organizations_before = db.session.scalar(sa.select(sa.func.count()).select_from(Organization))
    report(client, organization="Stadt Neuhausen", position="Amtsleitung")
    request = only_request(member.person)

    response = approve(office, request, organization="Stadt Neuhausen", position="Amtsleitung", note="Eingetragen.")
    assert response.status_code == 302
    assert location_path(response) == "/antraege/"
    assert "Die Funktion wurde bei Erika Musterfrau eingetragen." in followed_flashes(office.client, response)

    assert current_roles(member.person) == [("Stadt Neuhausen", "Amtsleitung")]
    [role] = member.person.affiliations
    assert role.organization_id == town.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organization)) == organizations_before
    fresh(request)
    assert request.status == RequestStatus.approved
    assert request.decided_by_id == office.user.id and request.decided_at is not None
    page = overview(client)
    assert "Stadt Neuhausen – Amtsleitung" in page
    assert "– erledigt: Eingetragen." in page
    assert "Erika Musterfrau" not in queue(office)  # no longer open


def test_office_may_correct_the_reported_role_when_approving(client, member, office, make):
    make.organization(name="Landkreis Beispiel", kind=OrganizationKind.county)
    db.session.commit()
    report(client, organization="LK Beispiel", position="Kämmerin")
    request = only_request(member.person)
    response = approve(office, request, organization="Landkreis Beispiel", position="Kreiskämmerin")
    assert response.status_code == 302
    assert current_roles(member.person) == [("Landkreis Beispiel", "Kreiskämmerin")]


def test_office_approves_with_a_new_organization(client, member, office):
    report(client, organization="Gemeinde Neudorf", position="Bürgermeisterin")
    request = only_request(member.person)

    response = approve(
        office, request, organization="Gemeinde Neudorf", position="Bürgermeisterin", new_kind="municipality"
    )
    assert response.status_code == 302
    [created] = db.session.scalars(sa.select(Organization).where(Organization.name == "Gemeinde Neudorf")).all()
    assert created.kind == OrganizationKind.municipality
    assert current_roles(member.person) == [("Gemeinde Neudorf", "Bürgermeisterin")]
    assert [e.actor_id for e in audit_rows("organizations", created.id, "create")] == [office.user.id]
    assert fresh(request).status == RequestStatus.approved


def test_unknown_organization_without_a_kind_is_refused_at_the_field(client, member, office):
    report(client, organization="Nirgendwo", position="Amtsleitung")
    request = only_request(member.person)
    response = approve(office, request, organization="Nirgendwo", position="Amtsleitung")
    assert response.status_code == 422
    assert field_error(response, "organization") == (
        "Keine Organisation „Nirgendwo“ gefunden. Bitte legen Sie sie zuerst an."
    )
    assert fresh(request).status == RequestStatus.open
    assert current_roles(member.person) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organization)) == 0


def test_rejection_note_is_shown_to_the_member(client, member, office):
    report(client, organization="Stadt Irgendwo", position="Amtsleitung")
    request = only_request(member.person)
    response = reject(office, request, note="Bitte rufen Sie uns kurz an, die Stadt kennen wir nicht.")
    assert response.status_code == 302
    assert "Der Antrag wurde abgelehnt." in followed_flashes(office.client, response)

    fresh(request)
    assert request.status == RequestStatus.rejected
    assert request.decided_by_id == office.user.id
    page = overview(client)
    assert "– abgelehnt: Bitte rufen Sie uns kurz an, die Stadt kennen wir nicht." in page
    assert "Zurückziehen" not in page
    assert current_roles(member.person) == []


def test_deciding_twice_is_refused(client, member, office, make):
    make.organization(name="Stadt Neuhausen")
    db.session.commit()
    report(client, organization="Stadt Neuhausen", position="Amtsleitung")
    request = only_request(member.person)
    assert approve(office, request, organization="Stadt Neuhausen", position="Amtsleitung").status_code == 302

    again = approve(office, request, organization="Stadt Neuhausen", position="Amtsleitung")
    assert again.status_code == 422
    assert current_roles(member.person) == [("Stadt Neuhausen", "Amtsleitung")]  # not twice

    response = reject(office, request, note="Doch nicht.")
    assert response.status_code == 422
    fresh(request)
    assert request.status == RequestStatus.approved and request.decision_note is None
    assert "Doch nicht." not in overview(client)


def test_second_decision_tells_the_office_why_it_was_refused(client, member, office):
    """Two colleagues had the request open; the second one's click is refused with a reason."""
    report(client, organization="Stadt Irgendwo")
    request = only_request(member.person)
    assert reject(office, request, note="Nein.").status_code == 302
    response = reject(office, request, note="Auch nein.")
    assert response.status_code == 422
    assert DECIDED in page_text(text(response))


def test_decided_request_offers_no_decision_buttons(client, member, office):
    report(client, organization="Stadt Irgendwo")
    request = only_request(member.person)
    reject(office, request, note="Nein.")
    page = page_text(text(office.client.get(f"/antraege/{request.id}")))
    assert "abgelehnt am" in page and office.user.email in page
    assert "Funktion eintragen" not in page and "Antrag ablehnen" not in page


def test_member_withdraws_an_open_request(client, member, office):
    report(client, organization="Stadt Neuhausen", position="Amtsleitung")
    request = only_request(member.person)
    response = client.post(f"/mein-bereich/antraege/{request.id}/zurueckziehen")
    assert response.status_code == 302
    assert location_path(response) == "/mein-bereich/"
    assert "Ihr Antrag wurde zurückgezogen." in followed_flashes(client, response)
    assert fresh(request).status == RequestStatus.withdrawn
    assert "– zurückgezogen" in overview(client)
    assert "Erika Musterfrau" not in queue(office)

    response = approve(office, request, organization="Stadt Neuhausen", new_kind="municipality")
    assert response.status_code == 422  # the office can no longer act on it
    assert current_roles(member.person) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organization)) == 0


def test_decided_request_cannot_be_withdrawn(client, member, office):
    report(client, organization="Stadt Irgendwo")
    request = only_request(member.person)
    reject(office, request, note="Nein.")
    response = client.post(f"/mein-bereich/antraege/{request.id}/zurueckziehen")
    assert response.status_code == 302
    assert DECIDED in followed_flashes(client, response)
    assert fresh(request).status == RequestStatus.rejected


def test_office_queue_lists_open_requests_and_filters_by_status(client, member, office, make):
    names = ("Offen", "Erledigt", "Abgelehnt", "Zurück")
    others = [make.person(first_name=n, last_name="Antragsteller") for n in names]
    make.change_request(others[0], "affiliation")
    make.change_request(others[1], "affiliation", status=RequestStatus.approved)
    make.change_request(others[2], "erasure", status=RequestStatus.rejected)
    make.change_request(others[3], "affiliation", status=RequestStatus.withdrawn)
    db.session.commit()

    listed = queue(office)
    assert "Offen Antragsteller" in listed
    assert not any(f"{n} Antragsteller" in listed for n in ("Erledigt", "Abgelehnt", "Zurück"))
    assert "1 Antrag" in listed
    assert "Abgelehnt Antragsteller Löschung der Daten" in queue(office, "rejected")
    assert "Offen Antragsteller" not in queue(office, "rejected")
    everything = queue(office, "alle")
    assert all(f"{n} Antragsteller" in everything for n in ("Offen", "Erledigt", "Abgelehnt", "Zurück"))
    badge = page_text(text(office.client.get("/start")))
    assert "Anträge 1" in badge


def test_deciding_a_missing_request_is_404(office):
    assert office.client.get("/antraege/999999").status_code == 404
    assert office.client.post("/antraege/999999/ablehnen", data={"note": "x"}).status_code == 404
    assert office.client.post("/antraege/999999/funktion", data={"organization": "x"}).status_code == 404


def test_an_affiliation_request_cannot_be_approved_as_erasure(client, member, office):
    report(client, organization="Stadt Irgendwo")
    request = only_request(member.person)
    response = office.client.post(f"/antraege/{request.id}/loeschen", data={"note": ""})
    assert response.status_code == 422
    person = fresh(member.person)
    assert person.erased_at is None and person.last_name == "Musterfrau" and person.phone == "030 1234567"
    assert fresh(request).status == RequestStatus.open


def test_an_erasure_request_cannot_be_approved_as_a_role(client, member, office, make):
    make.organization(name="Stadt Neuhausen")
    db.session.commit()
    erasure = make.change_request(member.person, "erasure")
    db.session.commit()
    response = approve(office, erasure, organization="Stadt Neuhausen", position="Amtsleitung")
    assert response.status_code == 422
    assert current_roles(member.person) == []
    assert fresh(erasure).status == RequestStatus.open


# --- erasure requests -----------------------------------------------------------------------------


def ask_for_erasure(client, **data):
    return client.post("/mein-bereich/loeschen", data={"message": "", **data})


def erasure_requests(person) -> list[ChangeRequest]:
    return db.session.scalars(
        sa.select(ChangeRequest).where(ChangeRequest.person_id == person.id, ChangeRequest.kind == RequestKind.erasure)
    ).all()


def test_erasure_page_explains_what_happens(client, member):
    response = client.get("/mein-bereich/loeschen")
    assert response.status_code == 200
    page = page_text(text(response))
    assert "Löschung meiner Daten beantragen" in page
    assert "Was geschieht?" in page
    assert "Ihr Passwort (zur Bestätigung)" in page
    assert "Löschung verbindlich beantragen" in page


def test_erasure_request_needs_the_checkbox(client, member):
    response = ask_for_erasure(client, password=PASSWORD)
    assert response.status_code == 200
    assert CONFIRM_ERASURE in page_text(text(response))
    assert erasure_requests(member.person) == []


@pytest.mark.parametrize("password", ["falsch-geraten", PASSWORD.upper(), ""])
def test_erasure_request_needs_the_right_password(client, member, password):
    response = ask_for_erasure(client, confirm="y", password=password)
    assert response.status_code == 200
    error = field_error(response, "password")
    assert error in (WRONG_PASSWORD, REQUIRED), error
    if password:
        assert error == WRONG_PASSWORD
    assert erasure_requests(member.person) == []


def test_erasure_request_with_checkbox_and_password_reaches_the_office(client, member, office):
    response = ask_for_erasure(client, confirm="y", password=PASSWORD, message="Bitte alles löschen.")
    assert response.status_code == 302
    assert location_path(response) == "/mein-bereich/"
    assert (
        "Ihr Löschantrag ist bei der Geschäftsstelle eingegangen. Wir informieren Sie, sobald er bearbeitet ist."
        in followed_flashes(client, response)
    )
    [request] = erasure_requests(member.person)
    assert request.status == RequestStatus.open and request.message == "Bitte alles löschen."
    assert "Löschung der Daten – offen" in overview(client)
    assert "Erika Musterfrau Löschung der Daten" in queue(office)
    assert fresh(member.person).erased_at is None  # nothing is erased before the office decides


def test_second_erasure_request_is_refused_while_one_is_open(client, member):
    ask_for_erasure(client, confirm="y", password=PASSWORD)
    response = client.get("/mein-bereich/loeschen")
    page = page_text(text(response))
    assert "liegt der Geschäftsstelle vor" in page
    assert "Löschung verbindlich beantragen" not in page

    response = ask_for_erasure(client, confirm="y", password=PASSWORD)
    assert response.status_code == 200
    assert "liegt der Geschäftsstelle vor" in page_text(text(response))
    assert len(erasure_requests(member.person)) == 1


def test_erasure_can_be_requested_again_after_withdrawing(client, member):
    ask_for_erasure(client, confirm="y", password=PASSWORD)
    [first] = erasure_requests(member.person)
    client.post(f"/mein-bereich/antraege/{first.id}/zurueckziehen")
    assert fresh(first).status == RequestStatus.withdrawn
    response = ask_for_erasure(client, confirm="y", password=PASSWORD)
    assert response.status_code == 302
    assert sorted(r.status for r in erasure_requests(member.person)) == [RequestStatus.open, RequestStatus.withdrawn]


def test_rejected_erasure_shows_the_note_and_allows_a_new_request(client, member, office):
    ask_for_erasure(client, confirm="y", password=PASSWORD)
    [request] = erasure_requests(member.person)
    reject(office, request, note="Ihre Mitgliedschaft läuft noch bis Jahresende.")
    assert "– abgelehnt: Ihre Mitgliedschaft läuft noch bis Jahresende." in overview(client)
    assert "Löschung verbindlich beantragen" in text(client.get("/mein-bereich/loeschen"))
    assert fresh(member.person).erased_at is None
