"""Merging keeps a person's event world: invitations (and their links), programme roles, statements,
requests to the office, the mails sent, sign-ups, personal links and "kein Duplikat" decisions; the
undo gives each back with the same id.

Hanns Meyer is invited to the Sommerempfang by mail and accepts through the link in it; he speaks on
the podium of the Werkstatt and said something there, and has an open request. He is merged into
Hans Meier. The tests read the pages the office (and Hanns, through his link) reads.
"""
import json
import re

import pytest
import sqlalchemy as sa

from crm.auth.models import AccessToken
from crm.auth.tokens import issue
from crm.contacts.merge_relations import HANDLED_IN_MERGE, RELATIONS
from crm.contacts.models import DuplicateDismissal
from crm.events import agenda, sending
from crm.events.invitations import invite
from crm.events.links import find_invitation
from crm.events.models import Invitation, InvitationStatus, SessionSpeaker, Statement
from crm.events.statements import add_statement
from crm.extensions import db as _db
from crm.mail.models import Delivery
from crm.newsletters.models import Signup
from crm.portal.models import ChangeRequest
from tests.contacts.pages import flashes
from tests.contacts.test_merge import fresh, merge_url, merged, person_page, undo_url
from tests.html import page_text, text
from tests.portal import followed_flashes, plain_body
from tests.privacy.test_export import tables_with_personal_data

EVENT_ROWS = (Invitation, SessionSpeaker, Statement, ChangeRequest, Delivery, Signup, AccessToken)


@pytest.fixture()
def office(login, make):
    return login("office", person=make.person(first_name="Olga", last_name="Office", email="olga@example.org"))


class Scene:
    def __init__(self, client, make, office, mailbox):
        self.keep = make.person(first_name="Hans", last_name="Meier", email="hans.meier@example.org", invitation_consent=True)
        self.remove = make.person(first_name="Hanns", last_name="Meyer", email="h.meyer@example.org", invitation_consent=True)
        self.reception = make.event(title="Sommerempfang", capacity=20)
        invite(self.reception, segment=None, person_ids=[self.remove.id], actor=office)
        _db.session.commit()
        sending.deliver_now(self.reception.id)
        [mail] = mailbox.to("h.meyer@example.org")
        self.link = re.search(r"http://crm\.test(/teilnahme/\S+)", plain_body(mail)).group(1)
        answer = {"status": "accepted", "companions": "1", "companion_names": "Eva Meyer"}
        assert "Vielen Dank für Ihre Zusage!" in followed_flashes(client, client.post(self.link, data=answer))[0]
        self.invitation = _db.session.scalar(sa.select(Invitation).where(Invitation.person_id == self.remove.id))

        self.workshop = make.event(title="Werkstatt Verwaltung")
        self.podium = agenda.add_session(self.workshop, {"title": "Podium Digitale Dörfer"}, actor=office)
        self.speaker = agenda.add_speaker(self.podium, self.remove, actor=office, role_text="Werkleiter Stadtwerke")
        self.statement = add_statement(self.podium, self.remove, {"lead": "Glasfaser zuerst.", "body": "Dann der Rest."}, actor=office)
        self.request = make.change_request(self.remove, message="Bitte meine neue Funktion eintragen.")
        self.signup = Signup(email="h.meyer@example.org", token_digest="a" * 64, wording="Ja, bitte.", wording_version="1",
                             expires_at=self.invitation.created_at, person_id=self.remove.id)  # fmt: skip
        _db.session.add(self.signup)
        issue("email", person=self.remove, email="hanns.neu@example.org")
        _db.session.commit()


@pytest.fixture()
def scene(client, db, make, office, mailbox):
    return Scene(client, make, office, mailbox)


def rows() -> dict[str, list[tuple]]:
    """Who holds each row of the event world (and the invitations' links and answers)."""
    _db.session.expire_all()
    found = {m.__tablename__: sorted(_db.session.execute(sa.select(m.id, m.person_id)).all()) for m in EVENT_ROWS}
    found["answers"] = sorted(_db.session.execute(sa.select(Invitation.id, Invitation.status, Invitation.token_digest)).all())
    return found


def export(client, person_id: int) -> dict:
    return json.loads(client.get(f"/personen/{person_id}/auskunft.json").get_data(as_text=True))


# --- merging ------------------------------------------------------------------------------------------------


def test_merge_page_counts_what_each_record_brings(client, scene):
    page = page_text(client.get(merge_url(scene.keep, scene.remove)).get_data(as_text=True))

    for label in ("Einladungen 0 1", "Mitwirkungen im Programm 0 1", "Aussagen in Veranstaltungsberichten 0 1",
                  "Anträge an die Geschäftsstelle 0 1", "E-Mails im Versandprotokoll 0 1"):  # fmt: skip
        assert label in page
    assert "Bei beiden vorhanden" not in page


def test_invitation_role_statement_request_and_mails_move_to_the_kept_person(client, scene):
    merged(client, scene.keep, scene.remove, keep=scene.keep)
    _db.session.expire_all()  # in production every request has a fresh session

    answers = page_text(text(client.get(f"/veranstaltungen/{scene.reception.id}/einladungen/")))
    assert "1 Einladung" in answers and "Meier, Hans zugesagt 1 Eva Meyer" in answers
    assert "2 Plätze vergeben (mit Begleitung) von 20" in answers
    programme = page_text(text(client.get(f"/veranstaltungen/{scene.workshop.id}/programm")))
    assert "Hans Meier" in programme and "Werkleiter Stadtwerke" in programme and "Meyer" not in programme
    said = page_text(text(client.get(f"/veranstaltungen/{scene.workshop.id}/rueckblick/personen/{scene.keep.id}")))
    assert "Glasfaser zuerst." in said
    assert "Neue Organisation/Funktion: Hans Meier" in page_text(text(client.get(f"/antraege/{scene.request.id}")))
    data = export(client, scene.keep.id)
    assert [(d["mailing"], d["email"]) for d in data["deliveries"]] == [("event_invitation", "h.meyer@example.org")]
    assert [i["event"] for i in data["invitations"]] == ["Sommerempfang"]
    assert [s["session"] for s in data["speaking"]] == ["Podium Digitale Dörfer"]
    assert [s["lead"] for s in data["statements"]] == ["Glasfaser zuerst."]
    assert [r["message"] for r in data["requests"]] == ["Bitte meine neue Funktion eintragen."]
    assert [s["email"] for s in data["signups"]] == ["h.meyer@example.org"]
    assert [link["data"] for link in data["links"]] == [{"email": "hanns.neu@example.org"}]
    holders = {person_id for model in EVENT_ROWS for _, person_id in rows()[model.__tablename__]}
    assert holders == {scene.keep.id}
    assert rows()["invitations"] == [(scene.invitation.id, scene.keep.id)]


def test_the_link_in_the_mail_answers_for_the_kept_person(client, scene):
    merged(client, scene.keep, scene.remove, keep=scene.keep)
    _db.session.expire_all()

    page = page_text(text(client.get(scene.link)))
    assert "Einladung für Hans Meier" in page and "Derzeit: zugesagt" in page
    response = client.post(scene.link, data={"status": "declined"})
    assert followed_flashes(client, response) == ["Schade, dass Sie nicht kommen können. Danke für Ihre Rückmeldung."]
    _db.session.expire_all()
    invitation = _db.session.get(Invitation, scene.invitation.id)
    assert (invitation.person_id, invitation.status) == (scene.keep.id, InvitationStatus.declined)


def test_a_reminder_after_the_merge_carries_a_working_link(client, scene, mailbox):
    merged(client, scene.keep, scene.remove, keep=scene.keep)
    mailbox.clear()

    response = client.post(f"/veranstaltungen/{scene.reception.id}/einladungen/erinnern", data={"kind": "upcoming"})
    assert followed_flashes(client, response) == ["1 Erinnerung wird versandt."]
    sending.deliver_now(scene.reception.id)

    [mail] = mailbox.to("hans.meier@example.org")  # the kept person's address
    [link] = re.findall(r"http://crm\.test(/teilnahme/\S+)", plain_body(mail))
    assert find_invitation(link.rsplit("/", 1)[1]).id == scene.invitation.id  # the link made for Hanns, signed anew
    page = page_text(text(client.get(link)))
    assert "Einladung für Hans Meier" in page and "Derzeit: zugesagt" in page


def test_undo_gives_everything_back_with_the_same_ids(client, scene):
    before = rows()
    merge_id = merged(client, scene.keep, scene.remove, keep=scene.keep)
    assert rows() != before

    client.post(undo_url(merge_id))

    assert rows() == before
    page = page_text(text(client.get(scene.link)))
    assert "Einladung für Hanns Meyer" in page and "Derzeit: zugesagt" in page
    data = export(client, scene.remove.id)
    assert [i["event"] for i in data["invitations"]] == ["Sommerempfang"] and len(data["deliveries"]) == 1
    assert export(client, scene.keep.id)["invitations"] == []


def test_links_and_undo_follow_a_record_that_is_merged_on(client, make, scene, mailbox):
    third = make.person(first_name="Johann", last_name="Meier", email="johann.meier@example.org")
    _db.session.commit()
    before = rows()
    first = merged(client, scene.keep, scene.remove, keep=scene.keep)
    second = merged(client, third, scene.keep, keep=third)
    _db.session.expire_all()

    client.post(f"/veranstaltungen/{scene.reception.id}/einladungen/erinnern", data={"kind": "upcoming"})
    sending.deliver_now(scene.reception.id)
    [mail] = mailbox.to("johann.meier@example.org")
    for link in (scene.link, re.search(r"http://crm\.test(/teilnahme/\S+)", plain_body(mail)).group(1)):
        page = page_text(text(client.get(link)))
        assert "Einladung für Johann Meier" in page and "Derzeit: zugesagt" in page
    response = client.post(undo_url(first), follow_redirects=True)
    assert flashes(response.get_data(as_text=True)) == [
        "Der behaltene Datensatz wurde danach in Johann Meier zusammengeführt. Bitte machen Sie zuerst diese spätere "
        "Zusammenführung rückgängig."
    ]
    assert rows()["invitations"] == [(scene.invitation.id, third.id)]

    client.post(undo_url(second))
    _db.session.expire_all()
    client.post(undo_url(first))
    reminder = _db.session.scalar(sa.select(Delivery.id).where(Delivery.mailing == "event_reminder_upcoming"))
    assert rows() == {**before, "deliveries": [*before["deliveries"], (reminder, third.id)]}  # it went to Johann
    assert "Einladung für Hanns Meyer" in page_text(text(client.get(scene.link)))


def test_the_merge_entry_in_the_history_says_what_moved(client, scene):
    merged(client, scene.keep, scene.remove, keep=scene.keep)

    history = page_text(person_page(client, scene.keep.id))
    assert ("übernommen: – → Anträge an die Geschäftsstelle: 1, Einladungen: 1, Mitwirkungen im Programm: 1, "
            "Aussagen in Veranstaltungsberichten: 1, E-Mails im Versandprotokoll: 1, Newsletter-Anmeldungen: 1, "
            "Persönliche Links: 1") in history  # fmt: skip
    assert "Einladung Hanns Meyer – Sommerempfang geändert" in history  # his answer, now in the kept person's history


def test_kein_duplikat_said_of_the_merged_record_holds_for_the_kept_one(client, db, make, office):
    keep, remove, other = make.person(last_name="Meier"), make.person(last_name="Meyer"), make.person(last_name="Mayr")
    _db.session.commit()
    client.post(f"/personen/duplikate/{min(remove.id, other.id)}/{max(remove.id, other.id)}/kein-duplikat", data={})

    def pairs():
        _db.session.expire_all()
        return sorted(_db.session.execute(sa.select(DuplicateDismissal.person_a_id, DuplicateDismissal.person_b_id)).all())

    before = pairs()
    merge_id = merged(client, keep, remove, keep=keep)
    assert pairs() == [tuple(sorted((keep.id, other.id)))]
    client.post(undo_url(merge_id))
    assert pairs() == before == [tuple(sorted((remove.id, other.id)))]


def test_every_table_that_points_at_people_is_moved_by_the_merge(app):
    handled = {r.model.__tablename__ for r in RELATIONS} | HANDLED_IN_MERGE
    missing = tables_with_personal_data(_db.metadata) - handled
    assert not missing, f"Add a Relation to crm/contacts/merge_relations.py for: {sorted(missing)}"


def test_keeping_the_record_with_the_invitation_keeps_its_link(client, scene):
    merged(client, scene.keep, scene.remove, keep=scene.remove)

    assert fresh(scene.keep.id) is None
    page = page_text(text(client.get(scene.link)))
    assert f"Einladung für {fresh(scene.remove.id).full_name}" in page and "Derzeit: zugesagt" in page
