"""User administration from the admin UI: list, invite, change role, (de)activate, mail a password link."""
import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.auth.models import Role, User
from crm.auth.services import update_user
from crm.contacts.models import Person, Salutation
from crm.errors import ValidationFailed
from crm.extensions import db
from tests.html import field_error, input_value, text
from tests.conftest import PASSWORD, count

NEW_PASSWORD = "mein-eigenes-passwort"
REQUIRED = "Bitte füllen Sie dieses Feld aus."
INVALID_EMAIL = "Bitte geben Sie eine gültige E-Mail-Adresse an (z. B. name@example.org)."
ALREADY = "Für diese E-Mail-Adresse gibt es bereits einen Zugang."
NOT_YOURSELF = "Sie können sich nicht selbst die Administration entziehen oder deaktivieren."
LAST_ADMIN = "Es muss mindestens eine aktive Administration geben."



# --- helpers ----------------------------------------------------------------------------------------




def selected_option(response, field_id: str) -> str | None:
    match = re.search(rf'<select[^>]*\bid="{field_id}"[^>]*>(.*?)</select>', response.get_data(as_text=True), re.S)
    assert match, f"no select #{field_id} on the page"
    option = re.search(r'<option selected value="([^"]*)"', match.group(1))
    return option.group(1) if option else None


def location_path(response) -> str:
    parts = urlsplit(response.headers["Location"])
    return parts.path + (f"?{parts.query}" if parts.query else "")


def user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email))


def audit_rows(user: User, action: str | None = None) -> list[AuditLog]:
    stmt = sa.select(AuditLog).where(AuditLog.entity_type == "users", AuditLog.entity_id == user.id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    return db.session.scalars(stmt.order_by(AuditLog.id)).all()


def plain_body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def link_path(message) -> str:
    links = re.findall(r"https?://\S+/(?:passwort-setzen|einladung)/\S+", plain_body(message))
    assert len(links) == 1, plain_body(message)
    return urlsplit(links[0]).path


def new_user_data(**overrides) -> dict:
    data = {
        "email": "erika.neumann@example.org",
        "role": "office",
        "salutation": "frau",
        "first_name": "Erika",
        "last_name": "Neumann",
    }
    data.update(overrides)
    return data


@pytest.fixture()
def admin(login):
    return login("admin")


# --- the list ---------------------------------------------------------------------------------------


def test_list_shows_all_users_with_role_and_status(client, admin, make):
    office = make.user(role="office", password=PASSWORD, person=make.person(first_name="Olga", last_name="Office"))
    member = make.user(role="member", person=make.person(first_name="Mia", last_name="Mitglied"))
    gone = make.user(role="member", password=PASSWORD, active=False)

    response = client.get("/admin/benutzer/")
    assert response.status_code == 200
    page = text(response)
    assert "<h1>Benutzerzugänge</h1>" in page
    for user in (admin, office, member, gone):
        assert f'href="/admin/benutzer/{user.id}">{user.email}</a>' in page
    assert "Olga Office" in page and "Mia Mitglied" in page
    assert "Administration" in page and "Geschäftsstelle" in page and "Mitglied" in page
    row = lambda user: re.search(rf"<tr>\s*<td><a[^>]*>{re.escape(user.email)}</a>.*?</tr>", page, re.S).group(0)  # noqa: E731
    assert "deaktiviert" in row(gone) and "deaktiviert" not in row(office)
    assert "eingeladen" in row(member) and "eingeladen" not in row(office)


def test_user_detail_page_is_german(client, admin, make):
    user = make.user(role="member", password=PASSWORD)
    response = client.get(f"/admin/benutzer/{user.id}")
    assert response.status_code == 200
    page = text(response)
    assert f"Zugang {user.email}" in page
    assert "Rolle ändern" in page and "Zugang deaktivieren" in page and "Link zum Passwort-Setzen mailen" in page


def test_unknown_user_gives_a_german_404(client, admin):
    response = client.get("/admin/benutzer/999999")
    assert response.status_code == 404
    assert "Seite nicht gefunden" in text(response)


# --- creating users ---------------------------------------------------------------------------------


def test_new_user_form_is_german(client, admin):
    response = client.get("/admin/benutzer/neu")
    assert response.status_code == 200
    page = text(response)
    assert "<h1>Neuen Zugang anlegen</h1>" in page
    assert "Anlegen und einladen" in page
    assert selected_option(response, "role") == "office"  # the default


def test_creating_a_user_creates_a_linked_person_and_mails_an_invitation(client, admin, mailbox):
    people_before = count(Person)
    response = client.post("/admin/benutzer/neu", data=new_user_data(email="Erika.Neumann@Example.org"))
    assert response.status_code == 302

    user = user_by_email("erika.neumann@example.org")
    assert user is not None
    assert location_path(response) == f"/admin/benutzer/{user.id}"
    assert user.role == Role.office
    assert user.active
    assert user.password_hash is None  # she sets it herself
    assert count(Person) == people_before + 1
    person = user.person
    assert (person.salutation, person.first_name, person.last_name, person.email) == (
        Salutation.frau, "Erika", "Neumann", "erika.neumann@example.org",
    )  # fmt: skip

    page = text(client.get(location_path(response)))
    assert "Der Zugang für erika.neumann@example.org wurde angelegt und eine Einladung versandt." in page
    assert "Passwort noch nicht gesetzt" in page

    [message] = mailbox.messages
    assert "erika.neumann@example.org" in message["To"]
    assert message["Subject"] == "Ihr Zugang zu Kommune 2.0 e. V."
    assert message["Message-ID"] and message["Date"]
    assert {part.get_content_type() for part in message.iter_parts()} == {"text/plain", "text/html"}
    assert plain_body(message).startswith("Sehr geehrte Frau Neumann,")
    assert link_path(message).startswith("/einladung/")
    assert "14 Tage gültig" in plain_body(message)

    [created] = audit_rows(user, "create")
    assert created.actor_id == admin.id
    assert created.changes["email"] == "erika.neumann@example.org"
    assert created.changes["role"] == "office"
    assert audit_rows(user, "invitation")
    assert user.invited_at is not None


def test_invitation_link_works_end_to_end(app, client, admin, mailbox):
    client.post("/admin/benutzer/neu", data=new_user_data(role="member"))
    [message] = mailbox.to("erika.neumann@example.org")
    path = link_path(message)

    visitor = app.test_client()  # Erika, in her own browser
    form = visitor.get(path)
    assert form.status_code == 200
    assert "Passwort setzen" in text(form) and "erika.neumann@example.org" in text(form)
    response = visitor.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert location_path(response) == "/login"

    response = visitor.post("/login", data={"email": "erika.neumann@example.org", "password": NEW_PASSWORD})
    assert response.status_code == 302
    assert location_path(response) == "/mein-bereich/"
    portal = visitor.get("/mein-bereich/")
    assert portal.status_code == 200
    assert "Erika Neumann" in text(portal)

    assert visitor.get(path).status_code == 400  # the invitation is used up
    assert audit_rows(user_by_email("erika.neumann@example.org"), "password_set")


def test_creating_with_an_email_that_already_has_an_account_is_refused(client, admin, make, mailbox):
    existing = make.user(role="member", password=PASSWORD, email="schon.da@example.org")
    users_before, people_before = count(User), count(Person)

    data = new_user_data(email="Schon.Da@example.org", role="member", salutation="herr", first_name="Max")
    response = client.post("/admin/benutzer/neu", data=data)
    assert response.status_code == 200
    assert field_error(response, "email") == ALREADY
    # what the admin typed is still there
    assert input_value(response, "email") == "Schon.Da@example.org"
    assert input_value(response, "first_name") == "Max"
    assert input_value(response, "last_name") == "Neumann"
    assert selected_option(response, "role") == "member"
    assert selected_option(response, "salutation") == "herr"

    assert (count(User), count(Person)) == (users_before, people_before)
    assert user_by_email(existing.email).role == Role.member
    assert mailbox.messages == []


@pytest.mark.parametrize("email", ["kein-at-zeichen", "zwei@@example.org", "leer zeichen@example.org"])
def test_invalid_email_gets_a_german_error(client, admin, mailbox, email):
    users_before = count(User)
    response = client.post("/admin/benutzer/neu", data=new_user_data(email=email))
    assert response.status_code == 200
    assert field_error(response, "email") == INVALID_EMAIL
    assert input_value(response, "last_name") == "Neumann"
    assert count(User) == users_before
    assert mailbox.messages == []


def test_missing_email_and_last_name_get_german_errors(client, admin, mailbox):
    response = client.post("/admin/benutzer/neu", data=new_user_data(email="", last_name=""))
    assert response.status_code == 200
    assert field_error(response, "email") == REQUIRED
    assert field_error(response, "last_name") == REQUIRED
    assert "Bitte prüfen Sie die markierten Felder." in text(response)
    assert mailbox.messages == []


def test_existing_person_with_that_email_is_linked_not_duplicated(client, admin, make, mailbox):
    person = make.person(
        email="berta.bestand@example.org", salutation=Salutation.frau, first_name="Berta", last_name="Bestand"
    )
    people_before = count(Person)
    data = new_user_data(email="berta.bestand@example.org", first_name="Anders", last_name="Getippt")
    response = client.post("/admin/benutzer/neu", data=data)
    assert response.status_code == 302

    user = user_by_email("berta.bestand@example.org")
    assert user.person_id == person.id
    assert count(Person) == people_before
    assert (person.first_name, person.last_name) == ("Berta", "Bestand")  # the address book wins
    [message] = mailbox.to("berta.bestand@example.org")
    assert plain_body(message).startswith("Sehr geehrte Frau Bestand,")


# --- changing the role ------------------------------------------------------------------------------


def test_changing_the_role_is_saved_and_audited(app, client, admin, make):
    user = make.user(role="office", password=PASSWORD)
    response = client.post(f"/admin/benutzer/{user.id}", data={"role": "member"})
    assert response.status_code == 302
    assert location_path(response) == f"/admin/benutzer/{user.id}"
    page = text(client.get(location_path(response)))
    assert "Die Rolle wurde gespeichert." in page
    assert "<dt>Rolle</dt><dd>Mitglied</dd>" in page

    assert user_by_email(user.email).role == Role.member
    [row] = audit_rows(user, "update")
    assert row.changes == {"role": ["office", "member"]}
    assert row.actor_id == admin.id and row.actor_label == admin.email

    # the user notices: no more office start page
    own = app.test_client()
    assert own.post("/login", data={"email": user.email, "password": PASSWORD}).headers["Location"] == "/mein-bereich/"
    assert own.get("/start").status_code == 403


def test_saving_the_same_role_writes_no_audit_row(client, admin, make):
    user = make.user(role="office", password=PASSWORD)
    assert client.post(f"/admin/benutzer/{user.id}", data={"role": "office"}).status_code == 302
    assert audit_rows(user, "update") == []


def test_admin_can_promote_and_demote_another_admin(client, admin, make):
    other = make.user(role="office", password=PASSWORD)
    assert client.post(f"/admin/benutzer/{other.id}", data={"role": "admin"}).status_code == 302
    assert user_by_email(other.email).role == Role.admin
    assert client.post(f"/admin/benutzer/{other.id}", data={"role": "office"}).status_code == 302
    assert user_by_email(other.email).role == Role.office
    assert [r.changes for r in audit_rows(other, "update")] == [
        {"role": ["office", "admin"]},
        {"role": ["admin", "office"]},
    ]


# --- deactivating and activating --------------------------------------------------------------------


def test_deactivate_and_activate_work_and_are_audited(app, client, admin, make):
    user = make.user(role="member", password=PASSWORD)

    response = client.post(f"/admin/benutzer/{user.id}/deaktivieren")
    assert response.status_code == 302
    assert location_path(response) == f"/admin/benutzer/{user.id}"
    page = text(client.get(location_path(response)))
    assert f"Der Zugang {user.email} ist jetzt deaktiviert." in page
    assert "Zugang wieder aktivieren" in page
    assert user_by_email(user.email).active is False

    own = app.test_client()
    refused = own.post("/login", data={"email": user.email, "password": PASSWORD})
    assert refused.status_code == 200
    assert "Ihr Zugang ist deaktiviert." in text(refused)

    response = client.post(f"/admin/benutzer/{user.id}/aktivieren")
    assert response.status_code == 302
    assert f"Der Zugang {user.email} ist jetzt aktiv." in text(client.get(location_path(response)))
    assert user_by_email(user.email).active is True
    assert own.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302

    assert [(r.changes, r.actor_id) for r in audit_rows(user, "update")] == [
        ({"active": [True, False]}, admin.id),
        ({"active": [False, True]}, admin.id),
    ]


@pytest.mark.parametrize("action", ["deaktivieren", "aktivieren", "passwort-link"])
def test_account_actions_are_post_only(client, admin, make, mailbox, action):
    user = make.user(role="member", password=PASSWORD)
    response = client.get(f"/admin/benutzer/{user.id}/{action}")
    assert response.status_code == 405
    assert "Nicht erlaubt" in text(response)
    assert user_by_email(user.email).active is True
    assert mailbox.messages == []


def test_admin_cannot_deactivate_themselves(client, admin, make):
    make.user(role="admin")  # not the last admin: it is about oneself
    response = client.post(f"/admin/benutzer/{admin.id}/deaktivieren")
    assert response.status_code == 302
    page = text(client.get(location_path(response)))
    assert NOT_YOURSELF in page
    assert user_by_email(admin.email).active is True
    assert audit_rows(admin, "update") == []
    assert client.get("/admin/benutzer/").status_code == 200  # still logged in, still admin


@pytest.mark.parametrize("role", ["office", "member"])
def test_admin_cannot_demote_themselves(client, admin, make, role):
    make.user(role="admin")
    response = client.post(f"/admin/benutzer/{admin.id}", data={"role": role})
    assert response.status_code == 200
    assert field_error(response, "role") == NOT_YOURSELF
    assert user_by_email(admin.email).role == Role.admin
    assert audit_rows(admin, "update") == []
    assert client.get("/admin/benutzer/").status_code == 200


def test_last_active_admin_cannot_be_demoted_or_deactivated(make):
    only = make.user(role="admin")
    make.user(role="admin", active=False)  # an inactive admin does not count
    office = make.user(role="office")
    for actor in (None, office):
        for change in ({"role": "office"}, {"role": "member"}, {"active": False}):
            with pytest.raises(ValidationFailed) as refused:
                update_user(only, actor=actor, **change)
            assert refused.value.message == LAST_ADMIN
    db.session.commit()
    assert (only.role, only.active) == (Role.admin, True)
    assert user_by_email(only.email).role == Role.admin
    assert audit_rows(only, "update") == []


def test_an_admin_may_be_demoted_while_another_active_admin_remains(make):
    first = make.user(role="admin")
    make.user(role="admin")
    assert update_user(first, actor=None, role="office") == {"role": ["admin", "office"]}
    db.session.commit()
    assert user_by_email(first.email).role == Role.office


# --- password link ----------------------------------------------------------------------------------


def test_send_reset_link_button_mails_a_working_link(app, client, admin, make, mailbox):
    person = make.person(salutation=Salutation.herr, first_name="Paul", last_name="Passwort")
    user = make.user(role="office", password=PASSWORD, person=person)
    response = client.post(f"/admin/benutzer/{user.id}/passwort-link")
    assert response.status_code == 302
    assert location_path(response) == f"/admin/benutzer/{user.id}"
    page = text(client.get(location_path(response)))
    assert f"Ein Link zum Setzen des Passworts wurde an {user.email} geschickt." in page

    [message] = mailbox.messages
    assert user.email in message["To"]
    assert message["Subject"] == "Neues Passwort für Kommune 2.0 e. V."
    assert plain_body(message).startswith("Sehr geehrter Herr Passwort,")
    [row] = audit_rows(user, "password_link")
    assert row.actor_id == admin.id

    own = app.test_client()
    path = link_path(message)
    assert own.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    assert own.post("/login", data={"email": user.email, "password": NEW_PASSWORD}).status_code == 302


# --- access -----------------------------------------------------------------------------------------


ROUTES = [
    ("get", "/admin/benutzer/", None),
    ("get", "/admin/benutzer/neu", None),
    ("post", "/admin/benutzer/neu", new_user_data(email="eindringling@example.org")),
    ("get", "/admin/benutzer/{id}", None),
    ("post", "/admin/benutzer/{id}", {"role": "admin"}),
    ("post", "/admin/benutzer/{id}/deaktivieren", None),
    ("post", "/admin/benutzer/{id}/aktivieren", None),
    ("post", "/admin/benutzer/{id}/passwort-link", None),
]


@pytest.mark.parametrize("role", ["office", "member"])
@pytest.mark.parametrize(("method", "url", "data"), ROUTES)
def test_user_administration_is_refused_for_non_admins(client, login, make, mailbox, role, method, url, data):
    login(role)
    target = make.user(role="office", password=PASSWORD)
    users_before = count(User)
    response = getattr(client, method)(url.format(id=target.id), data=data)
    assert response.status_code == 403
    page = text(response)
    assert "Kein Zugriff" in page
    assert "Sie haben keine Berechtigung, diese Seite zu sehen." in page
    target = user_by_email(target.email)
    assert (target.role, target.active) == (Role.office, True)
    assert count(User) == users_before
    assert mailbox.messages == []


@pytest.mark.parametrize(("method", "url", "data"), ROUTES)
def test_user_administration_sends_anonymous_visitors_to_login(client, make, mailbox, method, url, data):
    target = make.user(role="office", password=PASSWORD)
    users_before = count(User)
    response = getattr(client, method)(url.format(id=target.id), data=data)
    assert response.status_code == 302
    assert location_path(response).startswith("/login?next=")
    target = user_by_email(target.email)
    assert (target.role, target.active) == (Role.office, True)
    assert count(User) == users_before
    assert mailbox.messages == []


def test_only_admins_see_the_users_menu(app, client, login, make):
    login("office")
    assert 'href="/admin/benutzer/"' not in text(client.get("/start"))
    admin = make.user(role="admin", password=PASSWORD)
    admin_client = app.test_client()
    admin_client.post("/login", data={"email": admin.email, "password": PASSWORD})
    assert 'href="/admin/benutzer/"' in text(admin_client.get("/start"))
