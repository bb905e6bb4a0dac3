"""When both records hold what a person can hold only once: two invitations to one event, two places
on one programme item, the same mailing twice. One stays by a rule the merge page states; the other
comes back unchanged (same id, answer and link) when the merge is undone.
"""
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from crm.contacts.models import Person, PersonMerge
from crm.events import agenda, sending
from crm.events.invitations import invite
from crm.events.links import rsvp_token
from crm.events.models import Invitation, InvitationStatus, SessionSpeaker
from crm.extensions import db as _db
from tests.contacts.test_merge import merge_url, merged, undo_url
from tests.contacts.test_merge_events import export
from tests.html import page_text, text

JAN = datetime(2025, 1, 10, 9, 0, tzinfo=timezone.utc)
JUN = datetime(2025, 6, 1, 9, 0, tzinfo=timezone.utc)
S = InvitationStatus


@pytest.fixture()
def office(login, make):
    return login("office", person=make.person(first_name="Olga", last_name="Office", email="olga@example.org"))


@pytest.fixture()
def pair(db, make, office):
    keep = make.person(first_name="Hans", last_name="Meier", email="hans.meier@example.org", invitation_consent=True)
    remove = make.person(first_name="Hanns", last_name="Meyer", email="h.meyer@example.org", invitation_consent=True)
    return keep, remove


def invitations() -> list[tuple]:
    _db.session.expire_all()
    columns = (Invitation.id, Invitation.person_id, Invitation.status, Invitation.token_digest, Invitation.companions,
               Invitation.responded_at, Invitation.checked_in_at)  # fmt: skip
    return sorted(_db.session.execute(sa.select(*columns)).all())


def answers_page(client, event) -> str:
    return page_text(text(client.get(f"/veranstaltungen/{event.id}/einladungen/")))


# (kept person's invitation, removed person's, whose stays, why): status, responded_at, checked in
CASES = {
    "an-answer-beats-none": ((S.sent, None, False), (S.accepted, JAN, False), "removed", "die Einladung mit Antwort bleibt (zugesagt)"),
    "the-kept-answer-beats-none": ((S.accepted, JAN, False), (S.sent, None, False), "kept", "die Einladung mit Antwort bleibt (zugesagt)"),
    "the-newer-answer-counts": ((S.declined, JAN, False), (S.accepted, JUN, False), "removed",
                                "die Einladung mit der neueren Antwort bleibt (zugesagt)"),
    "a-place-beats-the-waitlist": ((S.accepted, JAN, False), (S.waitlisted, JUN, False), "kept",
                                   "die Einladung mit Platz bleibt, nicht die auf der Warteliste (zugesagt)"),
    "attendance-beats-all": ((S.accepted, JUN, False), (S.accepted, JAN, True), "removed", "die Einladung mit Anwesenheit bleibt (zugesagt)"),
    "a-live-one-beats-a-cancelled-one": ((S.cancelled, None, False), (S.sent, None, False), "removed",
                                         "die nicht stornierte Einladung bleibt (eingeladen, offen)"),
    "a-sent-one-beats-a-planned-one": ((S.planned, None, False), (S.sent, None, False), "removed",
                                       "die bereits versandte Einladung bleibt (eingeladen, offen)"),
    "otherwise-the-kept-one": ((S.sent, None, False), (S.sent, None, False), "kept",
                               "die Einladung des behaltenen Datensatzes bleibt (eingeladen, offen)"),
}  # fmt: skip


@pytest.mark.parametrize(("kept_one", "removed_one", "stays", "why"), CASES.values(), ids=CASES.keys())
def test_of_two_invitations_to_one_event_the_one_with_more_information_stays(client, make, pair, kept_one, removed_one, stays, why):
    keep, remove = pair
    event = make.event(title="Sommerempfang")
    made = {
        owner: make.invitation(event=event, person=person, status=status, responded_at=responded, checked_in_at=JUN if came else None)
        for owner, person, (status, responded, came) in (("kept", keep, kept_one), ("removed", remove, removed_one))
    }  # fmt: skip
    links = {owner: rsvp_token(invitation) for owner, invitation in made.items()}
    _db.session.commit()
    before = invitations()
    staying, status = made[stays].id, made[stays].status

    assert f"Beide sind zu „Sommerempfang“ eingeladen: {why}." in page_text(client.get(merge_url(keep, remove)).get_data(as_text=True))
    merge_id = merged(client, keep, remove, keep=keep)

    assert [(i[0], i[1], i[2]) for i in invitations()] == [(staying, keep.id, status)]
    page = answers_page(client, event)
    assert "1 Einladung" in page and f"Meier, Hans {status.label}" in page
    for link in links.values():  # the link of the one that gave way opens the one that stayed
        shown = page_text(text(client.get(f"/teilnahme/{link}")))
        assert "Einladung für Hans Meier" in shown and "Einladung für Hanns" not in shown

    client.post(undo_url(merge_id))

    assert invitations() == before
    shown = page_text(text(client.get(f"/teilnahme/{links['removed']}")))
    assert "Einladung für Hanns Meyer" in shown


def test_health_data_of_an_invitation_that_gave_way_is_not_kept_for_the_undo(client, make, pair):
    keep, remove = pair
    event = make.event(title="Sommerempfang")
    gone = make.invitation(event=event, person=keep, needs="vegetarisch", note="Komme mit dem Rad")
    make.invitation(event=event, person=remove, status=S.accepted, responded_at=JAN)
    _db.session.commit()

    client.post(undo_url(merged(client, keep, remove, keep=keep)))

    back = _db.session.get(Invitation, gone.id, populate_existing=True)
    assert (back.person_id, back.note, back.needs) == (keep.id, "Komme mit dem Rad", None)


def test_a_place_held_twice_is_freed_and_comes_back_with_the_undo(client, make, pair):
    keep, remove = pair
    event = make.event(title="Sommerempfang", capacity=3)
    make.invitation(event=event, person=keep, status=S.accepted, responded_at=JAN)
    make.invitation(event=event, person=remove, status=S.accepted, responded_at=JUN, companions=1)
    waiting = make.invitation(event=event, status=S.waitlisted, responded_at=JUN, waitlisted_at=JUN)
    _db.session.commit()
    assert "3 Plätze vergeben (mit Begleitung) von 3" in answers_page(client, event)

    merge_id = merged(client, keep, remove, keep=keep)

    page = answers_page(client, event)
    assert "2 Plätze vergeben (mit Begleitung) von 3" in page and "1 Plätze frei" in page
    # Nobody moves up by a merge (an undo could not take the place back); the office fills the waitlist.
    assert _db.session.get(Invitation, waiting.id, populate_existing=True).status == S.waitlisted
    client.post(undo_url(merge_id))
    assert "3 Plätze vergeben (mit Begleitung) von 3" in answers_page(client, event)


def test_of_two_places_on_one_programme_item_the_one_with_more_information_stays(client, make, office, pair):
    keep, remove = pair
    event = make.event(title="Werkstatt Verwaltung")
    podium = agenda.add_session(event, {"title": "Podium"}, actor=office)
    mine = agenda.add_speaker(podium, keep, actor=office)
    theirs = agenda.add_speaker(podium, remove, actor=office, role_text="Werkleiter", affiliation_text="Stadtwerke Musterstadt")
    _db.session.commit()

    def speakers():
        _db.session.expire_all()
        return sorted(_db.session.execute(sa.select(SessionSpeaker.id, SessionSpeaker.person_id, SessionSpeaker.role_text)).all())

    before = speakers()
    why = "Beide wirken bei „Podium“ (Werkstatt Verwaltung) mit: die Mitwirkung mit mehr Angaben im Programm bleibt."
    assert why in page_text(client.get(merge_url(keep, remove)).get_data(as_text=True))
    merge_id = merged(client, keep, remove, keep=keep)

    assert speakers() == [(theirs.id, keep.id, "Werkleiter")]
    programme = page_text(text(client.get(f"/veranstaltungen/{event.id}/programm")))
    assert programme.count("Hans Meier") == 1 and "Werkleiter, Stadtwerke Musterstadt" in programme
    client.post(undo_url(merge_id))
    assert speakers() == before and mine.id in [s[0] for s in before]


def test_undo_leaves_out_a_place_whose_programme_item_was_deleted_since(client, make, office, pair):
    keep, remove = pair
    event = make.event(title="Werkstatt Verwaltung")
    podium = agenda.add_session(event, {"title": "Podium"}, actor=office)
    agenda.add_speaker(podium, keep, actor=office)
    agenda.add_speaker(podium, remove, actor=office, role_text="Werkleiter")
    _db.session.commit()
    merge_id = merged(client, keep, remove, keep=keep)
    agenda.delete_session(podium, actor=office)
    _db.session.commit()

    response = client.post(undo_url(merge_id), follow_redirects=True)

    assert "Hanns Meyer ist wieder ein eigener Datensatz." in page_text(response.get_data(as_text=True))
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(SessionSpeaker)) == 0


def test_a_mailing_both_got_stays_in_the_ledger_and_once_in_the_history(client, make, office, pair, mailbox):
    keep, remove = pair
    event = make.event(title="Sommerempfang")
    invite(event, segment=None, person_ids=[keep.id, remove.id], actor=office)
    _db.session.commit()
    sending.deliver_now(event.id)
    assert len(mailbox.messages) == 2
    ledger = "Versand: Einladungen – 2 versandt"
    assert ledger in answers_page(client, event)

    note = "1 Mailing ging an beide: bei der behaltenen Person steht je eine Zustellung, die andere bleibt ohne Person im Versandprotokoll."
    assert note in page_text(client.get(merge_url(keep, remove)).get_data(as_text=True))
    merge_id = merged(client, keep, remove, keep=keep)

    assert ledger in answers_page(client, event)
    assert [d["email"] for d in export(client, keep.id)["deliveries"]] == ["hans.meier@example.org"]
    client.post(undo_url(merge_id))
    assert [d["email"] for d in export(client, remove.id)["deliveries"]] == ["h.meyer@example.org"]
    assert [d["email"] for d in export(client, keep.id)["deliveries"]] == ["hans.meier@example.org"]
    assert ledger in answers_page(client, event)


@pytest.mark.parametrize("since", ["invited-again", "event-deleted"])
def test_the_undo_says_which_copy_it_could_not_bring_back(client, make, pair, since):
    keep, remove = pair
    event = make.event(title="Sommerempfang")
    gave_way = make.invitation(event=event, person=keep, status=S.sent)
    stayed = make.invitation(event=event, person=remove, status=S.accepted, responded_at=JAN)
    _db.session.commit()
    gave_way_id = gave_way.id
    merge_id = merged(client, keep, remove, keep=keep)
    if since == "invited-again":  # the office deleted the invitation that stayed and invited the person anew
        _db.session.delete(_db.session.get(Invitation, stayed.id))
        _db.session.flush()
        anew = make.invitation(event=event, person=keep, status=S.planned)
        why, left = "die Person hat dort inzwischen einen neueren Eintrag", [(anew.id, keep.id, S.planned)]
    else:
        _db.session.delete(event)
        why, left = "worauf er sich bezog, wurde inzwischen gelöscht", []
    _db.session.commit()

    page = page_text(text(client.post(undo_url(merge_id), follow_redirects=True)))

    note = f"Einladungen: Nr. {gave_way_id} nicht wiederhergestellt, {why}."
    assert "Die Zusammenführung wurde rückgängig gemacht" in page and note in page
    assert [i[:3] for i in invitations()] == left
    assert note in page_text(text(client.get("/protokoll/?action=merge_undone")))


def test_a_copy_whose_number_was_given_out_again_comes_back_under_a_new_one(client, make, pair):
    keep, remove = pair
    event, other_event, someone = make.event(title="Sommerempfang"), make.event(title="Herbsttagung"), make.person()
    gave_way = make.invitation(event=event, person=keep, status=S.sent, note="Komme mit dem Rad")
    make.invitation(event=event, person=remove, status=S.accepted, responded_at=JAN)
    _db.session.commit()
    gave_way_id = gave_way.id
    merge_id = merged(client, keep, remove, keep=keep)
    make.invitation(id=gave_way_id, event=other_event, person=someone)  # as SQLite hands out a deleted row's id again
    _db.session.commit()

    page = page_text(text(client.post(undo_url(merge_id), follow_redirects=True)))

    assert "nicht wiederhergestellt" not in page and "rückgängig gemacht" in page, page
    back = _db.session.scalar(sa.select(Invitation).where(Invitation.person_id == keep.id, Invitation.event_id == event.id))
    assert back.id != gave_way_id and (back.status, back.note) == (S.sent, "Komme mit dem Rad")


def test_an_undo_whose_person_number_was_given_out_again_is_refused_and_changes_nothing(client, make, pair):
    keep, remove = pair
    removed_id = remove.id
    merge_id = merged(client, keep, remove, keep=keep)
    make.person(id=removed_id, first_name="Neu", last_name="Angelegt")  # as SQLite hands out a deleted row's id again
    _db.session.commit()

    page = page_text(text(client.post(undo_url(merge_id), follow_redirects=True)))

    assert f"Die Nummer {removed_id} des zusammengeführten Datensatzes ist inzwischen an eine andere Person vergeben" in page
    _db.session.expire_all()
    assert _db.session.get(Person, removed_id).full_name == "Neu Angelegt"
    assert _db.session.get(PersonMerge, merge_id).undone_at is None


def test_the_data_export_shows_the_copy_the_merge_keeps_for_its_undo(client, make, pair):
    keep, remove = pair
    event = make.event(title="Sommerempfang")
    make.invitation(event=event, person=keep, status=S.sent, note="Komme mit dem Rad")
    make.invitation(event=event, person=remove, status=S.accepted, responded_at=JAN)
    _db.session.commit()
    merged(client, keep, remove, keep=keep)

    [merge] = export(client, keep.id)["merges"]

    [copy] = merge["given_way"]
    assert (copy["record"], copy["event_id"], copy["status"], copy["note"]) == ("Einladungen", "Sommerempfang", "sent", "Komme mit dem Rad")
    assert "token_digest" not in copy and "person_id" not in copy
