"""The office's invitation pages: choose and preview, send (once), follow answers, remind, export, check in."""
import csv
import io
from datetime import timedelta

import openpyxl
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.events.models import EventStatus, Invitation, InvitationStatus
from crm.extensions import db, utcnow
from tests.html import page_text, text
from tests.portal import followed_flashes, plain_body

ACCEPTED = InvitationStatus.accepted


def base(event) -> str:
    return f"/veranstaltungen/{event.id}/einladungen"


def test_choosing_shows_who_is_invited_who_not_and_why(client, login, make):
    login("office")
    segment = make.segment(name="Bürgermeister", filters={"q": "Rathaus"})
    yes = make.person(last_name="Rathaus-Eins", invitation_consent=True)
    make.person(last_name="Rathaus-Zwei", email=None, invitation_consent=True)
    make.person(last_name="Rathaus-Drei")
    single = make.person(first_name="Ida", last_name="Einzeln", invitation_consent=True)
    event = make.event(agenda=True)

    page = page_text(text(client.get(f"{base(event)}/neu", query_string={"segment": segment.id, "q": "einzeln"})))
    assert "Ida Einzeln" in page and "hinzufügen" in page  # search hit
    assert "1 Person wird eingeladen, 2 nicht." in page
    assert "keine E-Mail-Adresse: 1" in page and "keine Einwilligung für Einladungen: 1" in page

    page = page_text(text(client.get(f"{base(event)}/neu", query_string={"segment": segment.id, "person": [single.id]})))
    assert "2 Personen werden eingeladen" in page and "Ida Einzeln entfernen" in page
    assert "Jetzt einladen (2)" in page

    preview = client.get(f"{base(event)}/neu/vorschau", query_string={"person": [single.id, yes.id]})
    assert preview.status_code == 200 and preview.mimetype == "text/html"
    assert "Sehr geehrte Frau Einzeln," in text(preview) and "Begrüßung und Impuls" in text(preview)
    assert "/teilnahme/vorschau" in text(preview)


def test_test_mail_goes_to_me_and_sending_goes_once(client, login, make, mailbox):
    office = login("office")
    people = [make.person(invitation_consent=True) for _ in range(3)]
    event = make.event()
    selection = {"person": [p.id for p in people]}

    response = client.post(f"{base(event)}/neu/test", data=selection)
    [test_mail] = mailbox.messages
    assert test_mail["Subject"] == f"[Test] Einladung: {event.title}" and office.email in test_mail["To"]
    assert "Sehr geehrte Frau Beispiel" in plain_body(test_mail) and "/teilnahme/vorschau" in plain_body(test_mail)
    assert "Die Testmail" in followed_flashes(client, response)[0]

    response = client.post(f"{base(event)}/neu", data=selection)
    assert followed_flashes(client, response) == ["3 Einladungen werden versandt."]
    response = client.post(f"{base(event)}/neu", data=selection)  # a double click
    assert followed_flashes(client, response) == ["Alle Ausgewählten sind bereits eingeladen; es wurde nichts erneut versandt."]
    assert sorted(a for e in mailbox.envelopes[1:] for a in e.rcpt_tos) == sorted(p.email for p in people)


def test_sending_without_a_choice_is_refused_in_german(client, login, make):
    login("office")
    event = make.event()
    response = client.post(f"{base(event)}/neu", data={})
    assert followed_flashes(client, response) == ["Bitte wählen Sie ein Segment oder einzelne Personen aus."]


def test_answers_page_counts_draws_and_filters(client, login, make, count_queries):
    login("office")
    event = make.event(capacity=10)
    organization = make.organization(name="Stadt Ulm")
    for n, status in enumerate([ACCEPTED, ACCEPTED, InvitationStatus.declined, InvitationStatus.tentative, InvitationStatus.sent]):
        person = make.person(last_name=f"Antwort{n}")
        make.affiliation(person, organization, position="Amtsleitung")
        make.invitation(event=event, person=person, status=status, companions=1 if n == 0 else 0,
                        needs="vegan" if n == 0 else None, note="Komme mit dem Rad" if n == 1 else None)  # fmt: skip
    db.session.commit()

    with count_queries() as queries:
        response = client.get(f"{base(event)}/")
    assert queries.count <= 25, queries.statements
    page = page_text(text(response))
    assert "5 eingeladen" in page and "3 Plätze vergeben (mit Begleitung) von 10" in page and "7 Plätze frei" in page
    assert "zugesagt: 2" in page and "offen: 1" in page and "Komme mit dem Rad" in page and "Stadt Ulm – Amtsleitung" in page
    assert 'style="width: 40.0%"' in text(response)  # 2 of 5 accepted
    assert "vegan: 1" in page  # the office sees needs

    page = page_text(text(client.get(f"{base(event)}/", query_string={"status": "accepted", "q": "antwort1"})))
    assert "1 Einladung" in page and "Antwort1" in page and "Antwort0" not in page


def test_the_office_changes_an_answer_on_someones_behalf(client, login, make, mailbox):
    office = login("office")
    event = make.event(rsvp_deadline=utcnow() - timedelta(days=1))  # past the deadline: the office still may
    invitation = make.invitation(event=event)
    form = client.get(f"{base(event)}/{invitation.id}")
    assert "Antwort von" in text(form)
    response = client.post(f"{base(event)}/{invitation.id}", data={
        "status": "accepted", "companions": "2", "companion_names": "Zwei Gäste", "needs": ["glutenfrei"], "confirm": "y",
    })  # fmt: skip
    assert followed_flashes(client, response) == [f"Die Antwort von {invitation.person.full_name} ist gespeichert: zugesagt."]
    db.session.expire_all()
    assert (invitation.status, invitation.companions, invitation.needs) == (ACCEPTED, 2, "glutenfrei")
    entry = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "invitations")).all()[-1]
    assert entry.actor_id == office.id and entry.changes["needs"] == [None, "angegeben"]
    [mail] = mailbox.messages
    assert mail["Subject"] == f"Ihre Antwort: {event.title}"


def test_reminder_button_sends_once(client, login, make, mailbox):
    login("office")
    event = make.event()
    make.invitation(event=event)
    make.invitation(event=event, status=ACCEPTED)
    response = client.post(f"{base(event)}/erinnern", data={"kind": "open"})
    assert followed_flashes(client, response) == ["1 Erinnerung wird versandt."]
    response = client.post(f"{base(event)}/erinnern", data={"kind": "open"})
    assert followed_flashes(client, response) == ["Niemand wartet auf diese Erinnerung: Alle Betroffenen haben sie schon erhalten."]
    assert len(mailbox.messages) == 1


def test_participant_export_has_no_health_data_and_caterer_gets_counts(client, login, make):
    login("office")
    event = make.event()
    person = make.person(first_name="Jürgen", last_name="Müller")
    make.invitation(event=event, person=person, status=ACCEPTED, companions=1, companion_names="Eva", needs="vegan; Sonstiges: Diabetes",
                    deputy_name="Dora Vertreterin", deputy_email="dora@example.org")  # fmt: skip
    make.invitation(event=event, status=InvitationStatus.declined)

    response = client.get(f"{base(event)}/export.csv", query_string={"status": "accepted"})
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:3] == ["Nachname", "Vorname", "Titel"] and len(rows) == 2
    assert rows[1][:2] == ["Müller", "Jürgen"] and "zugesagt" in rows[1] and "Dora Vertreterin" in rows[1]
    assert "Diabetes" not in response.get_data(as_text=True) and "vegan" not in response.get_data(as_text=True)

    workbook = openpyxl.load_workbook(io.BytesIO(client.get(f"{base(event)}/export.xlsx").data))
    assert workbook.active.max_row == 3

    counts = client.get(f"{base(event)}/verpflegung.csv").get_data(as_text=True)
    assert "Personen mit Zusage, einschließlich Begleitung;2" in counts and "vegan;1" in counts
    assert "Müller" not in counts and "Diabetes" not in counts


def test_sign_in_list_and_check_in_at_the_door(client, login, make):
    office = login("office")
    event = make.event()
    coming = make.invitation(event=event, person=make.person(first_name="Ida", last_name="Einlass"), status=ACCEPTED, companions=1)
    deputy = make.invitation(event=event, status=ACCEPTED, deputy_name="Dora Vertreterin", deputy_email="dora@example.org")
    make.invitation(event=event, person=make.person(last_name="Abwesend"), status=InvitationStatus.declined)

    page = page_text(text(client.get(f"{base(event)}/unterschriften")))
    assert "Einlass, Ida" in page and f"Dora Vertreterin (in Vertretung für {deputy.person.full_name})" in page
    assert "Abwesend" not in page and "Unterschrift" in page

    page = page_text(text(client.get(f"{base(event)}/einlass", query_string={"q": "einlass"})))
    assert "Ida Einlass" in page and "Einchecken (Ida Einlass)" in page and "+ 1 Begleitung" in page
    response = client.post(f"{base(event)}/{coming.id}/einlass", data={"present": "1", "q": "einlass"})
    assert response.headers["Location"].endswith(f"/einlass?q=einlass#einladung-{coming.id}")
    assert followed_flashes(client, response) == ["Ida Einlass ist da."]
    db.session.expire_all()
    assert coming.checked_in_at is not None
    assert db.session.scalars(sa.select(AuditLog.actor_id).where(AuditLog.entity_id == coming.id)).all()[-1] == office.id
    assert "1 anwesend, 2 Zusagen" in page_text(text(client.get(f"{base(event)}/einlass")))
    client.post(f"{base(event)}/{coming.id}/einlass", data={"present": "0"})
    db.session.expire_all()
    assert coming.checked_in_at is None


def test_an_invitation_of_another_event_is_not_found(client, login, make):
    login("office")
    event, other = make.event(), make.event()
    invitation = make.invitation(event=other)
    assert client.get(f"{base(event)}/{invitation.id}").status_code == 404
    assert client.post(f"{base(event)}/{invitation.id}/einlass", data={"present": "1"}).status_code == 404


def test_move_and_cancel_from_the_office_page(client, login, make, mailbox):
    login("office")
    event = make.event()
    invitation = make.invitation(event=event, status=ACCEPTED)
    db.session.commit()  # as in real use: the refused first try rolls back only its own changes
    response = client.post(f"{base(event)}/verlegen", data={"starts_at": "2031-03-05T10:00", "ends_at": "2031-03-05T09:00"})
    assert "Das Ende muss nach dem Beginn liegen." in text(response)
    response = client.post(f"{base(event)}/verlegen", data={"starts_at": "05.03.2031 10:00", "ends_at": "2031-03-05T16:30"})
    assert followed_flashes(client, response)[0].startswith("Die Veranstaltung ist verlegt. 1 Person wird")
    db.session.expire_all()
    assert event.starts_at.isoformat() == "2031-03-05T09:00:00+00:00"  # 10:00 in Berlin (winter time)
    assert "Mittwoch, 5. März 2031, 10:00 Uhr bis 16:30 Uhr" in plain_body(mailbox.messages[0])

    assert "erhalten 1 Person" in page_text(text(client.get(f"{base(event)}/absagen")))
    response = client.post(f"{base(event)}/absagen")
    assert followed_flashes(client, response) == ["Die Veranstaltung ist abgesagt. 1 Person wird benachrichtigt."]
    db.session.expire_all()
    assert event.status == EventStatus.cancelled
    assert [m["Subject"] for m in mailbox.to(invitation.person.email)][-1] == f"Abgesagt: {event.title}"
    assert "Diese Veranstaltung wurde abgesagt." in page_text(text(client.get(f"{base(event)}/")))


def test_health_data_can_be_deleted_only_after_the_event(client, login, make):
    login("office")
    event = make.event()
    invitation = make.invitation(event=event, status=ACCEPTED, needs="vegan")
    response = client.post(f"{base(event)}/gesundheitsangaben-loeschen")
    assert followed_flashes(client, response) == ["Angaben zu Verpflegung und Barrierefreiheit werden erst nach der Veranstaltung gelöscht."]
    event.starts_at, event.ends_at = utcnow() - timedelta(days=1, hours=2), utcnow() - timedelta(days=1)
    db.session.commit()
    response = client.post(f"{base(event)}/gesundheitsangaben-loeschen")
    assert followed_flashes(client, response) == ["1 Angaben zu Verpflegung und Barrierefreiheit gelöscht."]
    db.session.expire_all()
    assert db.session.get(Invitation, invitation.id).needs is None


def test_a_test_mail_that_cannot_go_out_says_so(app, client, login, make, monkeypatch):
    from tests.conftest import free_port

    login("office")
    event = make.event()
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())  # the mail server is down
    response = client.post(f"{base(event)}/neu/test", data={})
    [message] = followed_flashes(client, response)
    assert message.startswith("Die Testmail konnte nicht versandt werden. Der Mailserver 127.0.0.1:")
