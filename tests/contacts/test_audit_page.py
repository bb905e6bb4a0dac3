"""The audit log page: who changed what, filtered by person, organization, user, action, area and date."""
import re
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.contacts.models import ConsentChannel, ConsentMethod, OrganizationKind
from crm.contacts.services import add_affiliation, create_organization, create_person, record_consent, update_person
from crm.contacts.services.segments import create_segment
from tests.contacts.pages import input_value, selected_option, shown_count
from tests.html import page_text

UTC = timezone.utc


@pytest.fixture()
def log(db, make, login):
    """Entries by two office users about Hanna Huber, Stadt Heidelberg and a segment, on known days."""
    anna = login("office", email="anna@example.org")
    bernd = make.user(role="office", email="bernd@example.org")
    member = make.user(role="member", email="mitglied@example.org")
    db.session.query(AuditLog).delete()  # the factories' users are not part of this story

    hanna = create_person({"first_name": "Hanna", "last_name": "Huber", "email": "h.huber@example.org"}, actor=anna)
    heidelberg = create_organization(
        {"name": "Stadt Heidelberg", "kind": OrganizationKind.municipality, "state": "08", "ags": "08221000"},
        actor=bernd,
    )
    update_person(hanna, {"phone": "06221 58-0"}, actor=bernd)
    record_consent(
        hanna, actor=anna, channel=ConsentChannel.newsletter, granted=True, method=ConsentMethod.office, source="Karte"
    )
    add_affiliation(hanna, heidelberg, actor=anna, position="Bürgermeisterin")
    create_segment(name="Baden-Württemberg", description=None, filters={"state": "08"}, actor=anna)
    db.session.flush()
    days = [
        datetime(2024, 3, 10, 9, 0, tzinfo=UTC),  # person created
        datetime(2024, 3, 10, 23, 30, tzinfo=UTC),  # organization created: 11 March, 00:30 in Berlin
        datetime(2024, 3, 11, 8, 0, tzinfo=UTC),  # phone changed
        datetime(2024, 3, 12, 8, 0, tzinfo=UTC),  # consent
        datetime(2024, 3, 12, 9, 0, tzinfo=UTC),  # role
        datetime(2024, 3, 15, 9, 0, tzinfo=UTC),  # segment
    ]
    entries = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id)).all()
    assert len(entries) == len(days)
    for entry, day in zip(entries, days):
        entry.created_at = day
    db.session.commit()
    return {"anna": anna, "bernd": bernd, "member": member, "hanna": hanna, "heidelberg": heidelberg}


PERSON_CREATED = "Person Hanna Huber angelegt"
ORGANIZATION_CREATED = "Organisation Stadt Heidelberg angelegt"
PHONE_CHANGED = "Person Hanna Huber geändert"
CONSENT = "Person Hanna Huber Einwilligung erfasst"
ROLE = "Funktion Hanna Huber – Bürgermeisterin (Stadt Heidelberg) angelegt"
SEGMENT = "Segment Baden-Württemberg angelegt"


def entries(client, **args) -> list[str]:
    response = client.get("/protokoll/", query_string=args)
    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    found = [
        f"{page_text(subject)} {page_text(action)}"
        for subject, action in re.findall(r"<strong>(.*?)</strong>\s*([^<]+?)\s*<span class=\"muted\">", markup, re.S)
    ]
    if "page" not in args:
        assert shown_count(markup) == len(found)
    return found


def test_everything_newest_first(client, log):
    assert entries(client) == [SEGMENT, ROLE, CONSENT, PHONE_CHANGED, ORGANIZATION_CREATED, PERSON_CREATED]


def test_entry_shows_when_who_and_what_changed(client, log):
    page = page_text(client.get("/protokoll/?action=update").get_data(as_text=True))
    assert "Person Hanna Huber geändert – 11.03.2024, 09:00 Uhr, bernd@example.org Telefon: – → 06221 58-0" in page


def test_filter_by_person(client, log):
    markup = client.get("/protokoll/", query_string={"person": log["hanna"].id}).get_data(as_text=True)
    assert "Änderungsprotokoll: Hanna Huber" in page_text(markup)
    assert input_value(markup, "person") == str(log["hanna"].id)  # kept when other filters are applied
    assert entries(client, person=log["hanna"].id) == [ROLE, CONSENT, PHONE_CHANGED, PERSON_CREATED]


def test_filter_by_organization(client, log):
    assert entries(client, organization=log["heidelberg"].id) == [ROLE, ORGANIZATION_CREATED]


def test_filter_by_user(client, log):
    assert entries(client, user=log["bernd"].id) == [PHONE_CHANGED, ORGANIZATION_CREATED]
    markup = client.get("/protokoll/", query_string={"user": log["bernd"].id}).get_data(as_text=True)
    assert selected_option(markup, "user") == str(log["bernd"].id)
    assert "mitglied@example.org" not in markup  # members do not change data; they are not offered


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("create", [SEGMENT, ROLE, ORGANIZATION_CREATED, PERSON_CREATED]),
        ("update", [PHONE_CHANGED]),
        ("consent", [CONSENT]),
        ("delete", []),
    ],
)
def test_filter_by_action(client, log, action, expected):
    assert entries(client, action=action) == expected


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        ("people", [CONSENT, PHONE_CHANGED, PERSON_CREATED]),
        ("organizations", [ORGANIZATION_CREATED]),
        ("affiliations", [ROLE]),
        ("segments", [SEGMENT]),
        ("memberships", []),
    ],
)
def test_filter_by_entity(client, log, entity, expected):
    assert entries(client, entity=entity) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"from": "2024-03-10", "to": "2024-03-10"}, [PERSON_CREATED]),
        ({"from": "2024-03-11", "to": "2024-03-11"}, [PHONE_CHANGED, ORGANIZATION_CREATED]),  # Berlin days
        ({"from": "2024-03-12"}, [SEGMENT, ROLE, CONSENT]),
        ({"to": "2024-03-11"}, [PHONE_CHANGED, ORGANIZATION_CREATED, PERSON_CREATED]),
        ({"from": "2024-03-13", "to": "2024-03-14"}, []),
    ],
    ids=["one-day", "berlin-day", "from-only", "to-only", "empty-range"],
)
def test_filter_by_date_range(client, log, args, expected):
    assert entries(client, **args) == expected


def test_filters_combine(client, log):
    assert entries(client, person=log["hanna"].id, user=log["anna"].id) == [ROLE, CONSENT, PERSON_CREATED]
    assert entries(client, person=log["hanna"].id, entity="people", action="update") == [PHONE_CHANGED]
    assert entries(client, user=log["anna"].id, **{"from": "2024-03-12", "to": "2024-03-12"}) == [ROLE, CONSENT]


@pytest.mark.parametrize("args", [{"from": "31.12.2024"}, {"to": "2024-02-30"}, {"from": "gestern", "to": "heute"}])
def test_invalid_date_shows_a_german_hint_and_is_ignored(client, log, args):
    response = client.get("/protokoll/", query_string=args)

    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    assert "Bitte ein Datum im Format JJJJ-MM-TT angeben; der ungültige Wert wurde ignoriert." in page_text(markup)
    assert shown_count(markup) == 6
    for name, value in args.items():
        assert input_value(markup, name) == value


def test_unknown_action_and_entity_are_ignored(client, log):
    assert len(entries(client, action="hack", entity="passwords", user="x", person="abc")) == 6


def test_no_entries_for_the_filter_says_so(client, log):
    page = page_text(client.get("/protokoll/?action=delete").get_data(as_text=True))
    assert "Keine Einträge für diesen Filter." in page


def test_pagination_keeps_the_filter(client, db, log):
    for n in range(55):
        update_person(log["hanna"], {"notes": f"Notiz {n}"}, actor=log["anna"])
    db.session.commit()

    response = client.get("/protokoll/", query_string={"person": log["hanna"].id, "action": "update"})
    markup = response.get_data(as_text=True)

    assert shown_count(markup) == 56
    assert "Seite 1 von 2" in markup
    next_link = re.search(r'<a href="([^"]+)" rel="next">', markup).group(1).replace("&amp;", "&")
    second = client.get(next_link).get_data(as_text=True)
    assert "Seite 2 von 2" in second
    assert entries(client, person=log["hanna"].id, action="update", page=2)[-1] == PHONE_CHANGED
    assert f"person={log['hanna'].id}" in next_link and "action=update" in next_link
