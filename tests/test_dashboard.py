"""The office start page: key figures and the most recent changes from the audit log."""
from crm.contacts.services import create_person, update_person
from crm.members.models import MembershipStatus
from crm.members.services import create_membership
from tests.html import page_text


def test_start_page_counts_and_recent_changes(client, login, make, db):
    office = login("office")
    organization = make.organization(name="Stadt Paderborn")
    active = make.person(last_name="Dreier")
    create_membership(actor=office, type="regular", status=MembershipStatus.active, person=active)
    create_membership(actor=office, type="institutional", status=MembershipStatus.applied, organization=organization)
    person = create_person({"first_name": "Nicole", "last_name": "Huber", "email": "n.huber@example.org"}, actor=office)
    update_person(person, {"first_name": "Nicola"}, actor=office)
    db.session.commit()

    markup = client.get("/start").get_data(as_text=True)
    page = page_text(markup)

    assert 'data-figure="organizations">1<' in markup
    assert 'data-figure="people">3<' in markup  # the office user's own person, Dreier, Huber
    assert 'data-figure="active_members">1<' in markup
    assert "Person Nicola Huber geändert" in page
    assert "Vorname: Nicole → Nicola" in page
    assert office.email in page  # who made the change
    assert page.index("Nicola Huber geändert") < page.index("Nicole Huber angelegt")  # newest first
