"""The preference centre behind a personal link: choices into the consent ledger, topics audited."""
import re

import sqlalchemy as sa

from crm.contacts.models import ConsentChannel, ConsentMethod, Tag
from crm.extensions import db
from crm.mail.models import Suppression, SuppressionReason
from crm.mail.pipeline import suppress
from crm.newsletters import subscription
from crm.newsletters.links import preferences_token, preferences_url, unsubscribe_token
from tests.html import page_text, text
from tests.newsletters import BROWSER, FROM, enable_csrf, ledger, suppression
from tests.portal import audit_rows, followed_flashes, move_clock

NEWSLETTER, INVITATIONS = ConsentChannel.newsletter, ConsentChannel.event_invitation


def path_of(person) -> str:
    return f"/einstellungen/{preferences_token(person)}"


def save(client, person, **fields):
    """Submit the form as a browser does: only ticked boxes are sent."""
    data = {"csrf_token": "", **{name: value for name, value in fields.items() if value not in (False, None)}}
    return client.post(path_of(person), data=data, headers=BROWSER, environ_base=FROM)


def is_checked(markup: str, name: str, value: str | None = None) -> bool:
    pattern = rf'<input[^>]*\bname="{name}"[^>]*' + (rf'\bvalue="{value}"[^>]*' if value else "") + ">"
    [tag] = re.findall(pattern, markup)
    return re.search(r"\schecked\b", tag) is not None


def test_the_page_shows_the_current_choices_and_the_portals_topics(client, make):
    digital, climate = Tag(name="Digitalisierung"), Tag(name="Klimaschutz")
    db.session.add_all([digital, climate])
    person = make.person(email="wahl@example.org", newsletter_consent=True, invitation_consent=False, tags=[climate])
    db.session.commit()
    response = client.get(path_of(person))
    assert response.status_code == 200
    markup = text(response)
    assert "Ihre Einstellungen" in markup and "w***@example.org" in markup and "wahl@example.org" not in markup
    assert is_checked(markup, "newsletter") and not is_checked(markup, "invitations")
    assert is_checked(markup, "tags", str(climate.id)) and not is_checked(markup, "tags", str(digital.id))
    assert re.findall(r'<input[^>]*name="tags"[^>]*>\s*<label[^>]*>([^<]*)</label>', markup) == ["Digitalisierung", "Klimaschutz"]
    for wording in subscription.PREFERENCES_WORDING.values():
        assert wording in page_text(markup)


def test_each_changed_choice_is_a_ledger_row_with_wording_ip_and_source(client, make):
    person = make.person(email="neu.gewaehlt@example.org", newsletter_consent=None, invitation_consent=True)
    db.session.commit()
    response = save(client, person, newsletter="y")  # invitations unticked: withdrawn
    assert "Gespeichert: Newsletter, Veranstaltungseinladungen." in followed_flashes(client, response)

    db.session.expire_all()
    granted, withdrawn = ledger(person)
    assert (granted.channel, granted.granted, granted.method) == (NEWSLETTER, True, ConsentMethod.link)
    assert granted.wording == subscription.PREFERENCES_WORDING[NEWSLETTER]
    assert granted.wording_version == subscription.PREFERENCES_WORDING_VERSION
    assert granted.source == "Einstellungsseite" and granted.email == "neu.gewaehlt@example.org"
    assert granted.request_ip == granted.confirmed_ip == "203.0.113.7" and granted.user_agent == BROWSER["User-Agent"]
    assert granted.recorded_by is None
    assert (withdrawn.channel, withdrawn.granted, withdrawn.method, withdrawn.wording) == (INVITATIONS, False, ConsentMethod.link, None)
    assert person.newsletter_consent is True and person.invitation_consent is False

    response = save(client, person, newsletter="y")
    assert "Es gab nichts zu ändern." in followed_flashes(client, response)
    assert len(ledger(person)) == 2


def test_topic_changes_are_audited(client, make):
    old, new = Tag(name="Breitband"), Tag(name="Smart City")
    db.session.add_all([old, new])
    person = make.person(tags=[old])
    db.session.commit()
    save(client, person, tags=[str(new.id)])
    db.session.expire_all()
    assert [t.name for t in person.tags] == ["Smart City"]
    [entry] = audit_rows("people", person.id, "update")
    assert entry.changes == {"tags": [["Breitband"], ["Smart City"]]} and entry.actor_id is None
    assert ledger(person) == []


def test_granting_again_lifts_the_unsubscribe_of_that_list_only(client, make):
    person = make.person(email="zurueck@example.org", newsletter_consent=False, invitation_consent=False)
    suppress("zurueck@example.org", SuppressionReason.unsubscribed, channel=NEWSLETTER)
    db.session.commit()
    save(client, person, newsletter="y")
    assert suppression("zurueck@example.org") is None

    suppress("zurueck@example.org", SuppressionReason.unsubscribed, channel=INVITATIONS)
    suppress("zurueck@example.org", SuppressionReason.unsubscribed, channel=NEWSLETTER)  # widens to all bulk mail
    db.session.commit()
    save(client, person, invitations="y")  # newsletter unticked: withdrawn; its block stays
    assert suppression("zurueck@example.org").channel == NEWSLETTER


def test_a_bounce_or_complaint_is_never_lifted(client, make):
    person = make.person(email="bounce@example.org", newsletter_consent=False)
    db.session.add(Suppression(email="bounce@example.org", reason=SuppressionReason.hard_bounce))
    db.session.commit()
    save(client, person, newsletter="y")
    row = suppression("bounce@example.org")
    assert (row.channel, row.reason) == (None, SuppressionReason.hard_bounce)


def test_after_unsubscribing_the_preference_centre_can_undo_it(client, make):
    person = make.person(email="versehen@example.org", newsletter_consent=True, invitation_consent=True)
    db.session.commit()
    response = client.post(f"/abmelden/{unsubscribe_token(person, NEWSLETTER)}", data="List-Unsubscribe=One-Click")
    [link] = re.findall(r'href="(/einstellungen/[^"]+)"', text(response))
    client.post(link, data={"csrf_token": "", "newsletter": "y", "invitations": "y"}, environ_base=FROM)
    db.session.expire_all()
    assert person.newsletter_consent is True and suppression("versehen@example.org") is None
    assert [(c.granted, c.method) for c in ledger(person)] == [(False, ConsentMethod.unsubscribe), (True, ConsentMethod.link)]


def test_the_form_needs_its_csrf_token(app, client, make, monkeypatch):
    enable_csrf(app, monkeypatch)
    person = make.person(newsletter_consent=None)
    db.session.commit()
    response = client.post(path_of(person), data={"newsletter": "y"})
    assert response.status_code == 400 and "Das Formular ist abgelaufen" in text(response)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text(client.get(path_of(person)))).group(1)
    assert client.post(path_of(person), data={"newsletter": "y", "csrf_token": token}).status_code == 302
    assert len(ledger(person)) == 1


def test_links_expire_and_tampered_links_are_refused(client, make, monkeypatch):
    person = make.person(newsletter_consent=True)
    db.session.commit()
    url = preferences_url(person)
    assert url.startswith("http://crm.test/einstellungen/")
    assert client.get(url[:-3] + "abc").status_code == 400
    assert client.get(f"/einstellungen/{unsubscribe_token(person, NEWSLETTER)}").status_code == 400
    move_clock(monkeypatch, 366 * 24 * 3600)
    response = client.get(url)
    assert response.status_code == 410 and "Dieser Link ist abgelaufen" in text(response)
    assert "Abmelden können Sie sich jederzeit über den Abmeldelink" in text(response)


def test_an_erased_person_has_no_preference_centre(client, make):
    person = make.person(newsletter_consent=None)
    db.session.commit()
    path = path_of(person)
    person.erased_at = person.created_at
    db.session.commit()
    assert client.get(path).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Suppression)) == 0
