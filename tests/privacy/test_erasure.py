"""Art. 17: erasure anonymizes the person everywhere; the organization and the figures remain."""
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.auth.models import AccessToken, LoginAttempt, User
from crm.contacts.models import Affiliation, Consent, Organization, Person, PersonMerge
from crm.events.models import Invitation, InvitationStatus
from crm.mail.models import Delivery, DeliveryStatus
from crm.members.models import Membership, MembershipStatus
from crm.portal.models import ChangeRequest, RequestStatus
from crm.privacy.erasure import ERASED_NAME
from tests.conftest import PASSWORD
from tests.contacts.pages import listed_people
from tests.html import field_error, text
from tests.privacy.conftest import EMAIL, NAME, dump_all


def erase(client, person, name=NAME):
    return client.post(f"/personen/{person.id}/daten-loeschen", data={"confirm_name": name})


def test_confirmation_page_says_what_happens_and_a_wrong_name_erases_nothing(client, login, rich_person):
    login("office")
    page = text(client.get(f"/personen/{rich_person.id}/daten-loeschen"))
    assert "Das kann nicht rückgängig gemacht werden." in page and f"Der Zugang {EMAIL} wird gelöscht." in page
    response = erase(client, rich_person, name="Falsch")
    assert field_error(response, "confirm_name") == "Der Nachname stimmt nicht überein; es wurde nichts gelöscht."
    assert rich_person.erased_at is None and rich_person.email == EMAIL


def test_erasure_leaves_no_trace_of_name_email_phone_or_ip_anywhere_in_the_database(client, login, db, rich_person):
    login("office")
    response = erase(client, rich_person)
    assert response.status_code == 302
    everything = dump_all(db)
    for trace in (NAME, EMAIL, "quastenberg", "030 1234567", "0171 2345678", "192.0.2.7", "Firefox", "Ruft gern abends an",
                  "Lastschrift", "Hauptamt", "q.quastenberg.alt@example.org", "Quintus", "Quentin", "vegetarisch",
                  "Komme mit dem Zug", "Bürgermeister von Quellental"):  # fmt: skip
        assert trace not in everything, trace


def test_what_remains_after_erasure(client, login, db, rich_person):
    office = login("office")
    person_id, consents_before = rich_person.id, db.session.scalar(sa.select(sa.func.count(Consent.id)))
    erase(client, rich_person)
    db.session.expire_all()

    person = db.session.get(Person, person_id)
    assert person.full_name == ERASED_NAME and person.erased_at is not None
    assert (person.email, person.phone, person.mobile, person.notes, person.first_name) == (None,) * 5
    assert person.tags == [] and person.newsletter_consent is False
    # The organization keeps the (ended, anonymous) role, the membership keeps its number.
    organization = db.session.scalar(sa.select(Organization).where(Organization.name == "Gemeinde Quellental"))
    [role] = db.session.scalars(sa.select(Affiliation).where(Affiliation.person_id == person_id)).all()
    assert role.organization_id == organization.id and role.position is None and not role.is_current
    [membership] = db.session.scalars(sa.select(Membership).where(Membership.person_id == person_id)).all()
    assert membership.status == MembershipStatus.ended and membership.number > 0 and membership.notes is None
    # The ledger: consent existed and was withdrawn, without the address.
    ledger = db.session.scalars(sa.select(Consent).where(Consent.person_id == person_id).order_by(Consent.id)).all()
    assert [c.granted for c in ledger] == [True, False]
    assert all(c.email is None and c.request_ip is None and c.user_agent is None for c in ledger)
    assert db.session.scalar(sa.select(sa.func.count(Consent.id))) == consents_before + 1
    # Login, links, attempts, merge snapshots are gone; the request keeps only its kind and status.
    assert db.session.scalar(sa.select(User).where(User.person_id == person_id)) is None
    assert db.session.scalar(sa.select(sa.func.count(AccessToken.id)).where(AccessToken.person_id == person_id)) == 0
    assert db.session.scalar(sa.select(sa.func.count(LoginAttempt.id)).where(LoginAttempt.email == EMAIL)) == 0
    assert db.session.scalar(sa.select(PersonMerge).where(PersonMerge.kept_person_id == person_id)) is None
    [request] = db.session.scalars(sa.select(ChangeRequest).where(ChangeRequest.person_id == person_id)).all()
    assert request.message is None and request.data == {}
    # The event keeps its figures: one acceptance with one companion, one invitation mail sent.
    [invitation] = db.session.scalars(sa.select(Invitation).where(Invitation.person_id == person_id)).all()
    assert (invitation.status, invitation.companions, invitation.needs) == (InvitationStatus.accepted, 1, None)
    [delivery] = db.session.scalars(sa.select(Delivery).where(Delivery.person_id == person_id)).all()
    assert delivery.status == DeliveryStatus.sent and delivery.email is None
    # History: when and what kind, not the values; the erasure itself is recorded with the actor.
    entries = db.session.scalars(sa.select(AuditLog).where(AuditLog.person_id == person_id)).all()
    assert entries and all(set(e.changes.values()) <= {"[gelöscht]"} for e in entries if e.action != "erase")
    [erased] = [e for e in entries if e.action == "erase"]
    assert erased.actor_id == office.id


def test_after_erasure_no_search_finds_the_old_name_or_email(client, login, rich_person):
    login("office")
    assert listed_people(client.get("/personen/", query_string={"q": NAME}).get_data(as_text=True)) == ["Quastenberg, Quirin"]
    erase(client, rich_person)
    for term in (NAME, "quastenberg", EMAIL, "Quirin", "Bürgermeister"):
        assert listed_people(client.get("/personen/", query_string={"q": term}).get_data(as_text=True)) == [], term
    assert NAME not in text(client.get("/protokoll/"))
    assert NAME not in text(client.get(f"/protokoll/?person={rich_person.id}"))
    assert NAME not in text(client.get("/personen/duplikate/"))
    assert NAME not in text(client.get("/organisationen/", query_string={"q": "Quellental"}))


def test_the_erased_member_can_no_longer_log_in(client, login, rich_person):
    login("office")
    erase(client, rich_person)
    client.post("/logout")
    response = client.post("/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 200 and "E-Mail-Adresse oder Passwort ist falsch." in text(response)


def test_erasing_twice_is_refused(client, login, rich_person):
    login("office")
    erase(client, rich_person)
    response = erase(client, rich_person, name=ERASED_NAME)
    assert "Die Daten dieser Person wurden am" in text(response)


def test_member_request_approved_by_the_office_erases_and_logs_the_member_out(app, client, login, db, rich_person):
    member = app.test_client()
    member.post("/login", data={"email": EMAIL, "password": PASSWORD})
    page = text(member.get("/mein-bereich/loeschen"))
    assert "Was geschieht?" in page
    response = member.post("/mein-bereich/loeschen", data={"confirm": "y", "password": PASSWORD})
    assert response.status_code == 302
    request = db.session.scalars(sa.select(ChangeRequest).where(ChangeRequest.kind == "erasure")).one()
    assert request.status == RequestStatus.open

    login("office")
    assert "Löschung der Daten" in text(client.get("/antraege/"))
    response = client.post(f"/antraege/{request.id}/loeschen", data={})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Person, rich_person.id).erased_at is not None
    assert db.session.get(ChangeRequest, request.id).status == RequestStatus.approved
    assert member.get("/mein-bereich/").status_code == 302  # the session ended with the account
