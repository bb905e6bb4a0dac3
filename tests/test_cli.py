"""The shell commands: `flask users create` and `flask demo load`."""
import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
import yaml

from crm.audit.models import AuditLog
from crm.auth.models import Role, User
from crm.contacts.models import Organization, Person
from crm.demo.loader import DATA_FILE, DEMO_PASSWORD
from crm.extensions import db
from crm.members.models import Membership
from tests.conftest import count

PASSWORD = "ein-sicheres-passwort"



def user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email))


def log_in(client, email, password):
    return client.post("/login", data={"email": email, "password": password})


def create(runner, *args, input=None):
    return runner.invoke(args=["users", "create", *args], input=input)


# --- flask users create -----------------------------------------------------------------------------


def test_create_admin_with_password_option(client, runner):
    result = create(runner, "--role", "admin", "Chefin@Example.org", "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    assert "Zugang chefin@example.org (Administration) angelegt." in result.output

    user = user_by_email("chefin@example.org")
    assert user is not None
    assert user.role == Role.admin and user.active
    assert user.person is not None and user.person.email == "chefin@example.org"
    assert user.person.last_name  # a person needs a name; derived from the address when none is given

    audit = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == "users", AuditLog.entity_id == user.id))
    assert audit.action == "create" and audit.actor_id is None and audit.actor_label == "System"

    response = log_in(client, "chefin@example.org", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/start"
    assert client.get("/admin/benutzer/").status_code == 200


def test_create_with_names_uses_them_for_the_person(runner):
    result = create(
        runner, "--role", "office", "--first-name", "Kim", "--last-name", "Kommandozeile",
        "kim@example.org", "--password", PASSWORD,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "(Geschäftsstelle)" in result.output
    person = user_by_email("kim@example.org").person
    assert (person.first_name, person.last_name) == ("Kim", "Kommandozeile")


def test_create_defaults_to_office_role(runner):
    result = create(runner, "buero@example.org", "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    assert user_by_email("buero@example.org").role == Role.office


def test_create_links_an_existing_person(runner, make):
    person = make.person(email="bekannt@example.org", last_name="Bekannt")
    people_before = count(Person)
    result = create(runner, "--role", "member", "bekannt@example.org", "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    assert user_by_email("bekannt@example.org").person_id == person.id
    assert count(Person) == people_before


def test_create_prompts_for_the_password(client, runner):
    result = create(runner, "--role", "admin", "prompt@example.org", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Passwort" in result.output and "Passwort wiederholen" in result.output
    assert PASSWORD not in result.output  # hidden input
    assert user_by_email("prompt@example.org").role == Role.admin
    assert log_in(client, "prompt@example.org", PASSWORD).status_code == 302


def test_create_prompt_repeats_when_the_confirmation_differs(runner):
    result = create(runner, "prompt@example.org", input=f"{PASSWORD}\nanders-getippt\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert user_by_email("prompt@example.org").check_password(PASSWORD)


def test_duplicate_email_exits_non_zero_with_german_message_and_creates_nothing(runner, make):
    make.user(role="member", email="doppelt@example.org")
    users_before, people_before = count(User), count(Person)
    result = create(runner, "--role", "admin", "Doppelt@example.org", "--password", PASSWORD)
    assert result.exit_code != 0
    assert "Für diese E-Mail-Adresse gibt es bereits einen Zugang." in result.output
    assert (count(User), count(Person)) == (users_before, people_before)
    assert user_by_email("doppelt@example.org").role == Role.member


def test_too_short_password_is_refused_and_creates_nothing(runner):
    users_before, people_before, audit_before = count(User), count(Person), count(AuditLog)
    result = create(runner, "--role", "admin", "kurz@example.org", "--password", "kurz")
    assert result.exit_code != 0
    assert "Das Passwort muss mindestens 10 Zeichen lang sein." in result.output
    assert user_by_email("kurz@example.org") is None
    assert (count(User), count(Person), count(AuditLog)) == (users_before, people_before, audit_before)


def test_invalid_email_is_refused_in_german(runner):
    users_before = count(User)
    result = create(runner, "kein-at-zeichen", "--password", PASSWORD)
    assert result.exit_code != 0
    assert "Bitte geben Sie eine gültige E-Mail-Adresse an" in result.output
    assert count(User) == users_before


def test_unknown_role_is_refused(runner):
    result = create(runner, "--role", "superuser", "x@example.org", "--password", PASSWORD)
    assert result.exit_code != 0
    assert user_by_email("x@example.org") is None


def test_send_link_mails_a_working_welcome_link(app, client, runner, mailbox):
    result = create(runner, "--role", "office", "--last-name", "Eingeladen", "einladung@example.org", "--send-link")
    assert result.exit_code == 0, result.output
    user = user_by_email("einladung@example.org")
    assert user.password_hash is None  # no prompt, no password

    [message] = mailbox.to("einladung@example.org")
    assert message["Subject"] == "Ihr Zugang zu Kommune 2.0 e. V."
    assert {part.get_content_type() for part in message.iter_parts()} == {"text/plain", "text/html"}
    plain = message.get_body(preferencelist=("plain",)).get_content()
    [link] = re.findall(r"https?://\S+/einladung/\S+", plain)
    assert link.startswith(app.config["BASE_URL"] + "/")  # absolute, although sent from the shell

    path = urlsplit(link).path
    assert client.get(path).status_code == 200
    assert client.post(path, data={"password": PASSWORD, "confirm": PASSWORD}).status_code == 302
    response = log_in(client, "einladung@example.org", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/start"


def test_send_link_for_a_duplicate_sends_nothing(runner, make, mailbox):
    make.user(role="member", email="doppelt@example.org")
    result = create(runner, "doppelt@example.org", "--send-link")
    assert result.exit_code != 0
    assert mailbox.messages == []


# --- flask demo load --------------------------------------------------------------------------------


DEMO_DATA = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
DEMO_USERS = {"admin@example.org": Role.admin, "geschaeftsstelle@example.org": Role.office}


def counts() -> tuple[int, ...]:
    return tuple(count(model) for model in (Person, Organization, User, Membership, AuditLog))


@pytest.fixture()
def demo(runner):
    """`flask demo load` on the empty test database (its exit status is checked in its own test)."""
    return runner.invoke(args=["demo", "load"])


def test_demo_load_succeeds_and_lists_the_demo_logins(demo):
    assert demo.exit_code == 0, f"{demo.output}\n{demo.exception!r}"
    organizations, people = len(DEMO_DATA["organizations"]), len(DEMO_DATA["people"])
    assert f"Demo-Daten geladen: {organizations} Organisationen, {people} Personen." in demo.output
    assert f"Demo-Zugänge (Passwort jeweils: {DEMO_PASSWORD}):" in demo.output
    assert re.search(r"Administration\s+admin@example\.org", demo.output)
    assert re.search(r"Geschäftsstelle\s+geschaeftsstelle@example\.org", demo.output)
    assert re.search(r"Mitglied\s+\S+@\S+", demo.output)


def test_demo_load_loads_people_organizations_and_three_users(demo):
    assert "Demo-Daten geladen" in demo.output
    assert count(Person) == len(DEMO_DATA["people"]) > 10
    assert count(Organization) == len(DEMO_DATA["organizations"]) > 10
    assert count(Membership) == len(DEMO_DATA["memberships"])

    users = db.session.scalars(sa.select(User)).all()
    assert len(users) == 3
    roles = {user.email: user.role for user in users}
    for email, role in DEMO_USERS.items():
        assert roles.pop(email) == role
    [(member_email, member_role)] = roles.items()
    assert member_role == Role.member
    for user in users:
        assert user.person is not None and user.person.email == user.email


def test_demo_load_twice_changes_nothing(runner, demo):
    before = counts()
    result = runner.invoke(args=["demo", "load"])
    assert "Die Datenbank enthält bereits Daten; Demo-Daten wurden nicht (erneut) geladen." in result.output
    assert "Demo-Daten geladen" not in result.output
    assert counts() == before


def test_demo_load_does_not_touch_a_database_with_data(runner, make):
    make.user(role="admin")
    before = counts()
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "bereits" in result.output
    assert counts() == before


def _is_reserved_example_address(email: str) -> bool:
    domain = email.rpartition("@")[2]
    return any(domain == d or domain.endswith("." + d) for d in ("example.org", "example.com", "example.test"))


def test_demo_uses_only_reserved_example_addresses(demo):
    emails = [
        *db.session.scalars(sa.select(Person.email).where(Person.email.is_not(None))),
        *db.session.scalars(sa.select(User.email)),
        *db.session.scalars(sa.select(Organization.email).where(Organization.email.is_not(None))),
    ]
    assert len(emails) > 20
    offending = [e for e in emails if not _is_reserved_example_address(e)]
    assert offending == []


def test_reserved_address_check_can_tell_the_difference():
    assert _is_reserved_example_address("a@kgst.example.org")
    assert _is_reserved_example_address("a@example.com")
    assert not _is_reserved_example_address("a@heidelberg.de")
    assert not _is_reserved_example_address("a@notexample.org")


def test_demo_heidelberg_has_its_official_key(demo):
    heidelberg = db.session.scalar(sa.select(Organization).where(Organization.name == "Stadt Heidelberg"))
    assert heidelberg is not None
    assert heidelberg.ags == "08221000"
    assert heidelberg.state == "08"


@pytest.mark.parametrize(
    ("first_name", "last_name", "salutation"),
    [
        ("Michael", "Dreier", "Sehr geehrter Herr Bürgermeister Dreier"),
        ("Julia", "Mohrbacher", "Sehr geehrte Frau Dr. Mohrbacher"),
    ],
)
def test_demo_letter_salutations(demo, first_name, last_name, salutation):
    person = db.session.scalar(
        sa.select(Person).where(Person.first_name == first_name, Person.last_name == last_name)
    )
    assert person is not None
    assert person.letter_salutation == salutation


@pytest.mark.parametrize(
    ("email", "home"), [("admin@example.org", "/start"), ("geschaeftsstelle@example.org", "/start")]
)
def test_demo_staff_logins_work(client, demo, email, home):
    response = log_in(client, email, DEMO_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == home
    assert client.get(home).status_code == 200


def test_demo_member_login_works(client, demo):
    member = db.session.scalar(sa.select(User).where(User.role == Role.member))
    response = log_in(client, member.email, DEMO_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/mein-bereich/"
    portal = client.get("/mein-bereich/")
    assert portal.status_code == 200
    assert member.person.last_name in portal.get_data(as_text=True)
