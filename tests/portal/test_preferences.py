"""Newsletter, invitations and topics chosen by the member: every change of consent is proven in the ledger."""
import re

import sqlalchemy as sa

from crm.contacts.models import Consent, ConsentChannel, ConsentMethod, Person, Tag
from crm.extensions import db
from tests.html import page_text, text
from tests.portal import audit_rows, followed_flashes, fresh, location_path

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Testbrowser/1.0"}
FROM = {"REMOTE_ADDR": "203.0.113.7"}


def save(client, **fields):
    """Submit the preferences form as a browser does: only checked boxes are sent.

    A browser always sends the form's CSRF token too (switched off in these tests), so a form with
    every box unticked is still a submitted form and not an empty request.
    """
    data = {"csrf_token": "", **{name: value for name, value in fields.items() if value not in (False, None)}}
    return client.post("/mein-bereich/einstellungen", data=data, headers=BROWSER, environ_base=FROM)


def is_checked(markup: str, name: str) -> bool:
    [tag] = re.findall(rf'<input[^>]*\bname="{name}"[^>]*>', markup)
    return re.search(r"\schecked\b", tag) is not None


def ledger(person: Person) -> list[Consent]:
    return db.session.scalars(sa.select(Consent).where(Consent.person_id == person.id).order_by(Consent.id)).all()


def shown_wording(client, channel: ConsentChannel) -> str:
    """The sentence next to the checkbox, as the member reads it."""
    page = page_text(text(client.get("/mein-bereich/einstellungen")))
    start = {
        ConsentChannel.newsletter: "Ich möchte den Newsletter",
        ConsentChannel.event_invitation: "Ich möchte Einladungen",
    }
    assert start[channel] in page
    return page[page.index(start[channel]):]


def test_preferences_page_is_german_and_shows_the_current_choices(client, login, make):
    tag = Tag(name="Digitalisierung")
    db.session.add_all([tag, Tag(name="Klimaschutz")])
    user = login("member", person=make.person(newsletter_consent=True, tags=[tag]))
    response = client.get("/mein-bereich/einstellungen")
    assert response.status_code == 200
    markup = text(response)
    assert "Themen und E-Mails" in markup
    assert "Was möchten Sie von uns erhalten?" in markup
    assert is_checked(markup, "newsletter")
    assert not is_checked(markup, "invitations")
    topics = dict(re.findall(r'<input([^>]*name="tags"[^>]*)>\s*<label[^>]*>([^<]*)</label>', markup))
    assert sorted(topics.values()) == ["Digitalisierung", "Klimaschutz"]
    assert [name for attrs, name in topics.items() if " checked" in attrs] == ["Digitalisierung"]
    assert user.person.newsletter_consent is True


def test_granting_the_newsletter_is_recorded_with_method_source_ip_and_wording(client, login, make):
    user = login("member", person=make.person(email="erika@example.org"))
    person = user.person
    wording = shown_wording(client, ConsentChannel.newsletter)

    response = save(client, newsletter="y")
    assert response.status_code == 302
    assert location_path(response) == "/mein-bereich/einstellungen"
    assert "Gespeichert: Newsletter." in followed_flashes(client, response)

    [consent] = ledger(person)
    assert consent.channel == ConsentChannel.newsletter
    assert consent.granted is True
    assert consent.method == ConsentMethod.portal
    assert consent.source == "Mitgliederbereich"
    assert consent.email == "erika@example.org"
    assert consent.wording and wording.startswith(consent.wording)  # exactly what the member saw
    assert consent.wording_version
    assert consent.request_ip == consent.confirmed_ip == "203.0.113.7"
    assert consent.user_agent == BROWSER["User-Agent"]
    assert consent.requested_at is not None and consent.confirmed_at is not None
    assert consent.recorded_by_id == user.id
    assert fresh(person).newsletter_consent is True
    assert fresh(person).invitation_consent is None  # not touched

    overview = page_text(text(client.get("/mein-bereich/")))
    assert "Newsletter: erteilt am" in overview and "Mitgliederportal: Mitgliederbereich" in overview


def test_granting_invitations_stores_its_own_wording(client, login, make):
    user = login("member")
    wording = shown_wording(client, ConsentChannel.event_invitation)
    save(client, invitations="y")
    [consent] = ledger(user.person)
    assert consent.channel == ConsentChannel.event_invitation and consent.granted
    assert consent.wording and wording.startswith(consent.wording)
    assert "Einladungen" in consent.wording
    assert fresh(user.person).invitation_consent is True
    assert fresh(user.person).newsletter_consent is None


def test_withdrawing_appends_a_row_and_keeps_the_grant(client, login, make):
    user = login("member")
    person = user.person
    save(client, newsletter="y", invitations="y")
    granted = {c.id: (c.channel, c.granted, c.wording) for c in ledger(person)}

    response = save(client, invitations="y")  # newsletter unticked
    assert response.status_code == 302
    assert "Gespeichert: Newsletter." in followed_flashes(client, response)

    rows = ledger(person)
    assert len(rows) == 3
    assert {c.id: (c.channel, c.granted, c.wording) for c in rows[:2]} == granted  # earlier rows untouched
    withdrawal = rows[-1]
    assert withdrawal.channel == ConsentChannel.newsletter
    assert withdrawal.granted is False
    assert withdrawal.method == ConsentMethod.portal
    assert withdrawal.source == "Mitgliederbereich"
    assert withdrawal.request_ip == "203.0.113.7"
    assert withdrawal.user_agent == BROWSER["User-Agent"]
    assert withdrawal.recorded_by_id == user.id
    assert fresh(person).newsletter_consent is False
    assert fresh(person).invitation_consent is True
    assert "Newsletter: widerrufen am" in page_text(text(client.get("/mein-bereich/")))


def test_consent_changes_are_in_the_history_with_the_member_as_actor(client, login, make):
    user = login("member")
    save(client, newsletter="y")
    save(client)
    entries = audit_rows("people", user.person_id, "consent")
    assert [e.changes for e in entries] == [
        {"consent.newsletter": [None, "erteilt"]}, {"consent.newsletter": [None, "widerrufen"]}
    ]
    assert {e.actor_id for e in entries} == {user.id}


def test_saving_without_a_change_adds_no_row(client, login, make):
    user = login("member")
    save(client, newsletter="y")
    rows_before = len(ledger(user.person))
    audit_before = len(audit_rows("people", user.person_id))

    response = save(client, newsletter="y")
    assert response.status_code == 302
    assert "Es gab nichts zu ändern." in followed_flashes(client, response)
    assert len(ledger(user.person)) == rows_before == 1
    assert len(audit_rows("people", user.person_id)) == audit_before


def test_never_given_consent_is_not_withdrawn(client, login, make):
    """Unticked boxes of someone never asked are no withdrawal: nothing to record."""
    user = login("member")
    response = save(client)
    assert "Es gab nichts zu ändern." in followed_flashes(client, response)
    assert ledger(user.person) == []
    assert fresh(user.person).newsletter_consent is None


def test_only_the_changed_channel_gets_a_row(client, login, make):
    user = login("member")
    save(client, newsletter="y")
    response = save(client, newsletter="y", invitations="y")
    assert "Gespeichert: Veranstaltungseinladungen." in followed_flashes(client, response)
    rows = ledger(user.person)
    assert [(c.channel, c.granted) for c in rows] == [
        (ConsentChannel.newsletter, True), (ConsentChannel.event_invitation, True)
    ]


def test_topics_are_set_and_audited(client, login, make):
    education, climate, digital = Tag(name="Bildung"), Tag(name="Klimaschutz"), Tag(name="Digitalisierung")
    db.session.add_all([education, climate, digital])
    user = login("member", person=make.person(tags=[education]))
    person = user.person

    response = save(client, tags=[str(climate.id), str(digital.id)])
    assert response.status_code == 302
    assert "Gespeichert: Themen." in followed_flashes(client, response)
    assert sorted(t.name for t in fresh(person).tags) == ["Digitalisierung", "Klimaschutz"]
    [entry] = [e for e in audit_rows("people", person.id, "update") if "tags" in e.changes]
    assert entry.changes["tags"] == [["Bildung"], ["Digitalisierung", "Klimaschutz"]]
    assert entry.actor_id == user.id
    assert ledger(person) == []  # topics are no consent
    assert "Digitalisierung, Klimaschutz" in page_text(text(client.get("/mein-bereich/")))

    response = save(client)  # all topics unticked
    assert "Gespeichert: Themen." in followed_flashes(client, response)
    assert fresh(person).tags == []


def test_unknown_topic_ids_are_ignored(client, login, make):
    user = login("member")
    response = save(client, tags=["999999"])
    assert response.status_code == 302
    assert fresh(user.person).tags == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Tag)) == 0


def test_person_without_email_cannot_subscribe(client, login, make):
    person = make.person(email=None)
    user = login("member", person=person, email="nur-login@example.org")
    for choice in ({"newsletter": "y"}, {"invitations": "y"}):
        response = save(client, **choice)
        assert response.status_code == 200
        assert "Ohne E-Mail-Adresse können wir Ihnen nichts zusenden." in page_text(text(response))
    assert ledger(user.person) == []
    assert fresh(person).newsletter_consent is None and fresh(person).invitation_consent is None


def test_person_without_email_can_still_withdraw(client, login, make):
    """Withdrawing never needs an address."""
    person = make.person(email=None, newsletter_consent=True)
    login("member", person=person, email="nur-login@example.org")
    response = save(client)
    assert response.status_code == 302
    [withdrawal] = ledger(person)
    assert withdrawal.granted is False and withdrawal.channel == ConsentChannel.newsletter
    assert fresh(person).newsletter_consent is False
