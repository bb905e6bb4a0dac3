"""A member sees and changes only their own record: never another person's, never the office's pages.

The route lists are read from the app's URL map, so a route added later is checked without
anyone remembering to add it here.
"""
import json
import types

import pytest
import sqlalchemy as sa
from werkzeug.routing.converters import AnyConverter, IntegerConverter

from crm.audit.models import AuditLog
from crm.auth.models import AccessToken
from crm.contacts.models import (
    Affiliation, Consent, ConsentChannel, ConsentMethod, DuplicateDismissal, Person, Salutation,
)  # fmt: skip
from crm.extensions import db
from crm.portal.models import ChangeRequest, RequestStatus
from tests.conftest import PASSWORD
from tests.html import page_text, text
from tests.portal import link_path, location_path

SECRETS_OF_B = ("Bettina", "Geheimnis", "bettina.geheimnis@example.org", "030 9876543", "0171 5550000",
                "Stadtkämmerin", "Vertrauliche Notiz", "Geheimverband", "Bitte um Prüfung B")  # fmt: skip
POSTED = {  # what a curious member might send along, to any route
    "person_id": None, "user_id": None, "id": None, "organization": "Stadt Gemeinsam", "position": "Übernommen",
    "department": "Übernahme", "note": "vom Mitglied", "confirm_name": "Geheimnis", "last_name": "Gehackt",
    "email": "gehackt@example.org", "role": "admin", "newsletter": "y", "confirm": "y", "password": PASSWORD,
}  # fmt: skip


@pytest.fixture()
def world(make):
    """Anna (the member under test) and Bettina, her colleague at the same town hall, with a bit of history."""
    town = make.organization(name="Stadt Gemeinsam")
    bettina = make.person(
        salutation=Salutation.frau, first_name="Bettina", last_name="Geheimnis", email="bettina.geheimnis@example.org",
        phone="030 9876543", mobile="0171 5550000", notes="Vertrauliche Notiz",
    )  # fmt: skip
    anna = make.person(salutation=Salutation.frau, first_name="Anna", last_name="Achtsam", email="anna@example.org",
                       phone="030 1111111")  # fmt: skip
    b_role = make.affiliation(bettina, town, position="Stadtkämmerin")
    a_role = make.affiliation(anna, town, position="Amtsleitung")
    wish = {"organization": "Geheimverband", "position": "Vorsitz"}
    b_request = make.change_request(bettina, "affiliation", data=wish, message="Bitte um Prüfung B")
    b_erasure = make.change_request(bettina, "erasure")
    a_request = make.change_request(anna, "affiliation")
    db.session.add(Consent(person=bettina, channel=ConsentChannel.newsletter, granted=True, method=ConsentMethod.office,
                           email=bettina.email, source="Telefonat mit Bettina"))  # fmt: skip
    bettina.newsletter_consent = True
    low, high = sorted((anna.id, bettina.id))
    db.session.add(DuplicateDismissal(person_a_id=low, person_b_id=high))  # the office once compared the two
    b_user = make.user(role="member", password=PASSWORD, person=bettina)  # commits
    return types.SimpleNamespace(
        town=town, anna=anna, bettina=bettina, b_role=b_role, a_role=a_role, b_request=b_request, b_erasure=b_erasure,
        a_request=a_request, b_user=b_user,
    )  # fmt: skip


def state_of_bettina(world) -> dict:
    """Everything about Bettina a member might try to change, read fresh from the database."""
    db.session.expire_all()
    b = world.bettina
    columns = ("salutation", "title", "first_name", "last_name", "email", "phone", "mobile", "notes",
               "newsletter_consent", "invitation_consent", "erased_at")  # fmt: skip
    return {
        "person": {c: getattr(b, c) for c in columns},
        "tags": [t.name for t in b.tags],
        "roles": [(a.organization_id, a.position, a.department, a.end_date, a.is_primary) for a in b.affiliations],
        "requests": sorted((r.id, r.status, r.decision_note) for r in db.session.scalars(
            sa.select(ChangeRequest).where(ChangeRequest.person_id == b.id))),
        "consents": db.session.scalar(sa.select(sa.func.count()).select_from(Consent).where(Consent.person_id == b.id)),
        "account": (world.b_user.email, world.b_user.active, world.b_user.password_hash, world.b_user.session_version),
        "links": db.session.scalar(sa.select(sa.func.count()).select_from(AccessToken).where(
            sa.or_(AccessToken.person_id == b.id, AccessToken.user_id == world.b_user.id))),
    }  # fmt: skip


def anna_logs_in(login, world, role="member"):
    return login(role, person=world.anna)


def routes(app, endpoint_prefix=None, *, exclude=()):
    """(endpoint, method, rule) for every route, or those of one blueprint."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in exclude or rule.endpoint == "static":
            continue
        if endpoint_prefix and not rule.endpoint.startswith(endpoint_prefix):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, rule


def url_for_rule(rule, ids: dict) -> list[str]:
    """Concrete URLs for a rule: ids from `ids` by argument name, every choice of an any() part."""
    urls = [{}]
    for name, converter in rule._converters.items():  # noqa: SLF001 (werkzeug keeps them there)
        if isinstance(converter, AnyConverter):
            choices = sorted(converter.items)
        elif isinstance(converter, IntegerConverter):
            assert name in ids, f"{rule.rule}: no id for <{name}> (add it to the test)"
            choices = [ids[name]]
        else:
            choices = [ids.get(name, "x")]
        urls = [{**values, name: choice} for values in urls for choice in choices]
    return [rule.build(values, append_unknown=False)[1] for values in urls]


def send(client, method: str, url: str, data: dict | None = None):
    return client.get(url) if method == "GET" else client.post(url, data=data or {})


# --- ids in portal URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["member", "office"])  # staff use their own area too; it is still only theirs
def test_every_portal_route_with_an_id_refuses_another_persons_record(app, client, login, world, role):
    me = anna_logs_in(login, world, role)
    before = state_of_bettina(world)
    posted = {**POSTED, "person_id": world.bettina.id, "user_id": world.b_user.id, "id": world.bettina.id}
    checked, failures = 0, []
    for endpoint, method, rule in routes(app, "portal."):
        if not rule.arguments & {"affiliation_id", "request_id"}:
            continue
        for ids in ({"affiliation_id": world.b_role.id, "request_id": world.b_request.id},
                    {"affiliation_id": world.b_role.id, "request_id": world.b_erasure.id}):  # fmt: skip
            for url in url_for_rule(rule, ids):
                response = send(client, method, url, posted)
                checked += 1
                if response.status_code != 404 or any(s in text(response) for s in SECRETS_OF_B):
                    failures.append(f"{method} {url}: {response.status_code}")
    assert checked >= 4
    assert failures == []
    assert state_of_bettina(world) == before
    by_me_about_her = sa.select(AuditLog).where(AuditLog.actor_id == me.id, AuditLog.person_id == world.bettina.id)
    assert db.session.scalars(by_me_about_her).all() == []


def test_guessed_and_missing_ids_lead_to_404(app, client, login, world):
    anna_logs_in(login, world)
    before = state_of_bettina(world)
    top = max(db.session.scalar(sa.select(sa.func.max(model.id))) for model in (Affiliation, ChangeRequest))
    own = {world.a_role.id} | {world.a_request.id}
    for guess in [*range(1, top + 3), 999999, 2**31 - 1]:
        if guess not in own:
            assert client.get(f"/mein-bereich/funktionen/{guess}").status_code == 404, guess
            response = client.post(f"/mein-bereich/funktionen/{guess}", data={"position": "Geraten"})
            assert response.status_code == 404, guess
            assert client.post(f"/mein-bereich/funktionen/{guess}/beenden").status_code == 404, guess
            assert client.post(f"/mein-bereich/antraege/{guess}/zurueckziehen").status_code == 404, guess
    assert state_of_bettina(world) == before
    assert "Seite nicht gefunden" in text(client.get("/mein-bereich/funktionen/999999"))


def test_own_records_are_reachable_by_their_ids(client, login, world):
    """The counterpart of the 404s above: the same routes do work for Anna's own role and request."""
    anna_logs_in(login, world)
    assert client.get(f"/mein-bereich/funktionen/{world.a_role.id}").status_code == 200
    assert client.post(f"/mein-bereich/antraege/{world.a_request.id}/zurueckziehen").status_code == 302
    db.session.expire_all()
    assert world.a_request.status == RequestStatus.withdrawn


def test_writes_without_ids_change_only_the_own_record(client, login, world, mailbox):
    """Ids slipped into the form data (person_id, user_id, id) are ignored."""
    me = anna_logs_in(login, world)
    before = state_of_bettina(world)
    extra = {"person_id": world.bettina.id, "user_id": world.b_user.id, "id": world.bettina.id}

    profile = {"salutation": "frau", "first_name": "Anna", "last_name": "Achtsam-Neu", "phone": "030 2222222"}
    response = client.post("/mein-bereich/profil", data={**extra, **profile})
    assert response.status_code == 302
    response = client.post("/mein-bereich/einstellungen", data={**extra, "newsletter": "y"})
    assert response.status_code == 302
    response = client.post("/mein-bereich/funktionen/neu", data={**extra, "organization": "Neuer Verband"})
    assert response.status_code == 302
    response = client.post("/mein-bereich/email", data={**extra, "email": "anna.neu@example.org"})
    assert response.status_code == 302
    response = client.post("/mein-bereich/loeschen", data={**extra, "confirm": "y", "password": PASSWORD})
    assert response.status_code == 302

    db.session.expire_all()
    anna = world.anna
    assert (anna.last_name, anna.phone, anna.newsletter_consent) == ("Achtsam-Neu", "030 2222222", True)
    kinds = sorted(r.kind.value for r in db.session.scalars(sa.select(ChangeRequest).where(
        ChangeRequest.person_id == world.anna.id, ChangeRequest.status == RequestStatus.open)))  # fmt: skip
    assert kinds == ["affiliation", "affiliation", "erasure"]
    [link] = db.session.scalars(sa.select(AccessToken).where(AccessToken.purpose == "email")).all()
    assert link.user_id == me.id and link.data == {"email": "anna.neu@example.org"}
    assert [m["To"] for m in mailbox.messages] == ["Anna Achtsam-Neu <anna.neu@example.org>"]
    assert state_of_bettina(world) == before


# --- what the pages show ---------------------------------------------------------------------------


def own_pages(app, world) -> list[str]:
    """Every page of the portal a member opens (GET), with Anna's own ids."""
    urls = []
    for endpoint, method, rule in routes(app, "portal.", exclude=("portal.confirm_email",)):
        if method == "GET":
            urls += url_for_rule(rule, {"affiliation_id": world.a_role.id, "request_id": world.a_request.id})
    return urls


def test_pages_and_download_show_nothing_of_another_person(app, client, login, world):
    anna_logs_in(login, world)
    urls = own_pages(app, world)
    assert {"/mein-bereich/", "/mein-bereich/daten", "/mein-bereich/daten.json", "/mein-bereich/profil"} <= set(urls)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        body = text(response)
        leaked = [s for s in SECRETS_OF_B if s in body]
        assert leaked == [], url

    # The pages are not simply empty: Anna's own data is there.
    for url in ("/mein-bereich/", "/mein-bereich/daten", "/mein-bereich/daten.json"):
        body = text(client.get(url))
        assert "030 1111111" in body and "anna@example.org" in body, url


def strings_in(value) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *strings_in(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return [str(value)]


def test_json_export_holds_only_the_own_record(client, login, world):
    anna_logs_in(login, world)
    response = client.get("/mein-bereich/daten.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["person"]["last_name"] == "Achtsam" and data["person"]["email"] == "anna@example.org"
    assert [a["position"] for a in data["affiliations"]] == ["Amtsleitung"]
    assert len(data["requests"]) == 1
    assert data["consents"] == []
    everything = " ".join(strings_in(data))
    assert [s for s in SECRETS_OF_B if s in everything] == []
    assert str(world.b_user.id) not in [str(v) for v in strings_in(data["account"])]


def test_office_staff_are_not_named_in_the_members_own_pages(app, client, login, make, world):
    """What the office did to Anna's record is shown, but not who in the office did it."""
    from crm.contacts.services import record_consent, update_person
    from crm.portal.office import approve_affiliation

    gerda = make.person(first_name="Gerda", last_name="Sachbearbeiterin", email="gerda.intern@example.org")
    clerk = make.user(role="office", password=PASSWORD, person=gerda)
    update_person(world.anna, {"phone": "030 3333333"}, actor=clerk)
    record_consent(world.anna, actor=clerk, channel=ConsentChannel.event_invitation, granted=True,
                   method=ConsentMethod.office, source="Telefonat")  # fmt: skip
    approve_affiliation(world.a_request, actor=clerk, organization="Stadt Gemeinsam", position="Bürgermeisterin")
    db.session.commit()

    anna_logs_in(login, world)
    for url in own_pages(app, world):
        body = text(client.get(url))
        assert "gerda.intern@example.org" not in body and "Sachbearbeiterin" not in body, url
    data = json.loads(client.get("/mein-bereich/daten.json").get_data(as_text=True))
    assert "030 3333333" == data["person"]["phone"]
    assert {entry["by"] for entry in data["history"]} >= {"Geschäftsstelle"}


# --- office routes --------------------------------------------------------------------------------


def staff_only(app, rule) -> bool:
    view = app.view_functions[rule.endpoint]
    return not getattr(view, "is_public", False) and "member" not in getattr(view, "allowed_roles", ())


def test_member_reaches_no_office_route(app, client, login, world, mailbox):
    anna_logs_in(login, world)
    before = state_of_bettina(world)
    people_before = db.session.scalar(sa.select(sa.func.count()).select_from(Person))
    ids = {
        "person_id": world.bettina.id, "request_id": world.b_erasure.id, "affiliation_id": world.b_role.id,
        "organization_id": world.town.id, "user_id": world.b_user.id, "a_id": min(world.anna.id, world.bettina.id),
        "b_id": max(world.anna.id, world.bettina.id), "merge_id": 1, "job_id": 1, "segment_id": 1, "membership_id": 1,
        "event_id": 1, "session_id": 1, "speaker_id": 1, "invitation_id": 1, "statement_id": 1, "newsletter_id": 1,
        "block_id": 1, "suppression_id": 1,
    }  # fmt: skip
    posted = {**POSTED, "person_id": world.bettina.id, "user_id": world.b_user.id, "id": world.bettina.id}
    checked, failures = [], []
    for endpoint, method, rule in routes(app):
        if not staff_only(app, rule):
            continue
        for url in url_for_rule(rule, ids):
            response = send(client, method, url, posted)
            checked.append(endpoint)
            if response.status_code != 403 or any(s in text(response) for s in SECRETS_OF_B):
                failures.append(f"{method} {url}: {response.status_code}")
            elif "Kein Zugriff" not in text(response):
                failures.append(f"{method} {url}: 403 without the German page")
    assert {"portal_office.requests", "portal_office.show_request", "portal_office.approve_affiliation",
            "portal_office.accounts", "portal_office.invite", "portal_office.export_person", "portal_office.erase",
            "people.show"} <= set(checked)  # fmt: skip
    assert failures == []
    assert state_of_bettina(world) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == people_before
    assert mailbox.messages == []


def test_member_cannot_decide_their_own_request(client, login, world):
    anna_logs_in(login, world)
    url = f"/antraege/{world.a_request.id}/funktion"
    response = client.post(url, data={"organization": "Stadt Gemeinsam", "position": "Bürgermeisterin"})
    assert response.status_code == 403
    db.session.expire_all()
    assert world.a_request.status == RequestStatus.open
    assert [a.position for a in world.anna.affiliations] == ["Amtsleitung"]


# --- visitors ---------------------------------------------------------------------------------------


def test_visitors_are_sent_to_the_login_from_every_portal_route(app, client, world, mailbox):
    before = state_of_bettina(world)
    checked, failures = 0, []
    for endpoint, method, rule in routes(app, "portal.", exclude=("portal.confirm_email",)):
        for url in url_for_rule(rule, {"affiliation_id": world.b_role.id, "request_id": world.b_request.id}):
            response = send(client, method, url, {**POSTED, "person_id": world.bettina.id})
            checked += 1
            if response.status_code != 302 or not location_path(response).startswith("/login?next="):
                failures.append(f"{method} {url}: {response.status_code}")
    assert checked >= 14
    assert failures == []
    assert state_of_bettina(world) == before
    assert mailbox.messages == []
    response = client.get("/mein-bereich/profil")
    assert "Bitte melden Sie sich an, um diese Seite zu sehen." in text(client.get(response.headers["Location"]))


def test_email_confirmation_is_open_to_visitors(app, client, login, world, mailbox):
    """The mailed link is the proof, opened perhaps in another browser: no login needed, nothing else shown."""
    login("member", person=world.anna)
    client.post("/mein-bereich/email", data={"email": "anna.neu@example.org"})
    [message] = mailbox.to("anna.neu@example.org")
    path = link_path(message, "/mein-bereich/email-bestaetigen/")

    visitor = app.test_client()
    response = visitor.get(path)
    assert response.status_code == 200
    page = page_text(text(response))
    assert "anna.neu@example.org" in page
    assert "030 1111111" not in page and "Achtsam" not in page  # no other data of the person
    assert visitor.get("/mein-bereich/email-bestaetigen/erfunden").status_code == 400
    assert visitor.get("/mein-bereich/").status_code == 302  # the link is no login
