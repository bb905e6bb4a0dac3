"""Every route, every role: who may open it, who is refused, who is sent to the login.

When you add a route, add it to ROUTES; test_every_route_is_in_the_matrix fails until you do.
"""
import pytest

from crm.events.agenda import add_session, add_speaker
from crm.events.statements import add_statement
from crm.extensions import db

ANON, MEMBER, OFFICE, ADMIN = "anonymous", "member", "office", "admin"
ALL = (ANON, MEMBER, OFFICE, ADMIN)
STAFF = (OFFICE, ADMIN)

# (endpoint, method, path, roles allowed). "{user}" is replaced by the id of a user that exists.
ROUTES = [
    ("auth.login", "GET", "/login", ALL),
    ("auth.logout", "POST", "/logout", ALL),
    ("auth.forgot_password", "GET", "/passwort-vergessen", ALL),
    ("auth.reset_password", "GET", "/passwort-setzen/invalid-token", ALL),
    ("dashboard.root", "GET", "/", ALL),
    ("dashboard.index", "GET", "/start", STAFF),
    ("health.health", "GET", "/health", ALL),
    ("portal.index", "GET", "/mein-bereich/", (MEMBER, OFFICE, ADMIN)),
    ("mail.index", "GET", "/outbox/", STAFF),
    ("mail.show", "GET", "/outbox/missing.eml", STAFF),
    ("suppressions.index", "GET", "/sperrliste/", STAFF),
    ("suppressions.add", "POST", "/sperrliste/", STAFF),
    ("suppressions.remove", "POST", "/sperrliste/999999/aufheben", STAFF),
    ("users.index", "GET", "/admin/benutzer/", (ADMIN,)),
    ("users.new", "GET", "/admin/benutzer/neu", (ADMIN,)),
    ("users.show", "GET", "/admin/benutzer/{user}", (ADMIN,)),
    ("users.deactivate", "POST", "/admin/benutzer/{user}/deaktivieren", (ADMIN,)),
    ("users.activate", "POST", "/admin/benutzer/{user}/aktivieren", (ADMIN,)),
    ("users.send_reset", "POST", "/admin/benutzer/{user}/passwort-link", (ADMIN,)),
    ("people.index", "GET", "/personen/", STAFF),
    ("people.export", "GET", "/personen/export.csv", STAFF),
    ("people.bulk_tags", "POST", "/personen/themen", STAFF),
    ("people.new", "GET", "/personen/neu", STAFF),
    ("people.show", "GET", "/personen/{person}", STAFF),
    ("people.edit", "GET", "/personen/{person}/bearbeiten", STAFF),
    ("people.delete", "GET", "/personen/{person}/loeschen", STAFF),
    ("people.add_consent", "POST", "/personen/{person}/einwilligung", STAFF),
    ("duplicates.index", "GET", "/personen/duplikate/", STAFF),
    ("duplicates.dismiss_pair", "POST", "/personen/duplikate/{person}/{person2}/kein-duplikat", STAFF),
    ("duplicates.merge", "GET", "/personen/duplikate/{person}/{person2}/zusammenfuehren", STAFF),
    ("duplicates.undo", "POST", "/personen/duplikate/zusammenfuehrung/{merge}/rueckgaengig", STAFF),
    ("affiliations.new", "GET", "/personen/{person}/funktionen/neu", STAFF),
    ("affiliations.edit", "GET", "/personen/funktionen/{affiliation}/bearbeiten", STAFF),
    ("affiliations.end", "POST", "/personen/funktionen/{affiliation}/beenden", STAFF),
    ("affiliations.delete", "POST", "/personen/funktionen/{affiliation}/loeschen", STAFF),
    ("organizations.index", "GET", "/organisationen/", STAFF),
    ("organizations.export", "GET", "/organisationen/export.xlsx", STAFF),
    ("organizations.suggest", "GET", "/organisationen/vorschlaege?q=stadt", STAFF),
    ("organizations.new", "GET", "/organisationen/neu", STAFF),
    ("organizations.show", "GET", "/organisationen/{organization}", STAFF),
    ("organizations.edit", "GET", "/organisationen/{organization}/bearbeiten", STAFF),
    ("organizations.delete", "GET", "/organisationen/{organization}/loeschen", STAFF),
    ("segments.index", "GET", "/segmente/", STAFF),
    ("segments.new", "GET", "/segmente/neu?state=08", STAFF),
    ("segments.show", "GET", "/segmente/{segment}", STAFF),
    ("segments.edit", "GET", "/segmente/{segment}/bearbeiten", STAFF),
    ("segments.replace_filter", "POST", "/segmente/{segment}/filter-uebernehmen", STAFF),
    ("segments.delete", "POST", "/segmente/{segment}/loeschen", STAFF),
    ("audit.index", "GET", "/protokoll/?entity=people", STAFF),
    ("imports.index", "GET", "/import/", STAFF),
    ("imports.mapping", "GET", "/import/{job}/zuordnung", STAFF),
    ("imports.show", "GET", "/import/{job}", STAFF),
    ("imports.run", "POST", "/import/{job}/starten", STAFF),
    ("imports.report", "GET", "/import/{job}/bericht.csv", STAFF),
    ("auth.accept_invitation", "GET", "/einladung/invalid-token", ALL),
    ("auth.request_login_link", "GET", "/anmeldelink", ALL),
    ("auth.link_login", "GET", "/anmeldelink/invalid-token", ALL),
    ("portal.profile", "GET", "/mein-bereich/profil", (MEMBER, OFFICE, ADMIN)),
    ("portal.request_email", "POST", "/mein-bereich/email", (MEMBER, OFFICE, ADMIN)),
    ("portal.confirm_email", "GET", "/mein-bereich/email-bestaetigen/invalid-token", ALL),
    ("portal.preferences", "GET", "/mein-bereich/einstellungen", (MEMBER, OFFICE, ADMIN)),
    ("portal.edit_affiliation", "GET", "/mein-bereich/funktionen/{affiliation}", (MEMBER, OFFICE, ADMIN)),
    ("portal.end_affiliation", "POST", "/mein-bereich/funktionen/{affiliation}/beenden", (MEMBER, OFFICE, ADMIN)),
    ("portal.new_affiliation", "GET", "/mein-bereich/funktionen/neu", (MEMBER, OFFICE, ADMIN)),
    ("portal.my_data", "GET", "/mein-bereich/daten", (MEMBER, OFFICE, ADMIN)),
    ("portal.my_data_json", "GET", "/mein-bereich/daten.json", (MEMBER, OFFICE, ADMIN)),
    ("portal.erasure", "GET", "/mein-bereich/loeschen", (MEMBER, OFFICE, ADMIN)),
    ("portal.withdraw", "POST", "/mein-bereich/antraege/{request}/zurueckziehen", (MEMBER, OFFICE, ADMIN)),
    ("portal_office.requests", "GET", "/antraege/", STAFF),
    ("portal_office.show_request", "GET", "/antraege/{request}", STAFF),
    ("portal_office.approve_affiliation", "POST", "/antraege/{request}/funktion", STAFF),
    ("portal_office.decide", "POST", "/antraege/{request}/loeschen", STAFF),
    ("portal_office.accounts", "GET", "/zugaenge/", STAFF),
    ("portal_office.invite", "POST", "/personen/{person}/zugang-einladen", STAFF),
    ("portal_office.export_person", "GET", "/personen/{person}/auskunft.json", STAFF),
    ("portal_office.erase", "GET", "/personen/{person}/daten-loeschen", STAFF),
    ("memberships.index", "GET", "/mitglieder/?status=active", STAFF),
    ("memberships.export", "GET", "/mitglieder/export.csv", STAFF),
    ("memberships.show", "GET", "/mitglieder/{membership}", STAFF),
    ("memberships.new_for_person", "GET", "/mitglieder/neu/person/{person2}", STAFF),
    ("memberships.new_for_organization", "GET", "/mitglieder/neu/organisation/{organization}", STAFF),
    ("memberships.edit", "GET", "/mitglieder/{membership}/bearbeiten", STAFF),
    ("memberships.set_status", "POST", "/mitglieder/{membership}/status", STAFF),
    ("memberships.delete", "GET", "/mitglieder/{membership}/loeschen", STAFF),
    ("events.index", "GET", "/veranstaltungen/?status=draft&year=2018", STAFF),
    ("events.new", "GET", "/veranstaltungen/neu", STAFF),
    ("events.show", "GET", "/veranstaltungen/{event}", STAFF),
    ("events.edit", "GET", "/veranstaltungen/{event}/bearbeiten", STAFF),
    ("events.set_status", "POST", "/veranstaltungen/{event}/status", STAFF),
    ("events.delete", "GET", "/veranstaltungen/{event}/loeschen", STAFF),
    ("events.programme", "GET", "/veranstaltungen/{event}/programm", STAFF),
    ("events.calendar", "GET", "/veranstaltungen/{event}/kalender.ics", STAFF),
    ("events.agenda", "GET", "/veranstaltungen/{event}/ablauf", STAFF),
    ("events.add_session", "POST", "/veranstaltungen/{event}/ablauf", STAFF),
    ("events.edit_session", "GET", "/veranstaltungen/programmpunkte/{session}", STAFF),
    ("events.delete_session", "POST", "/veranstaltungen/programmpunkte/{session}/loeschen", STAFF),
    ("events.move_session", "POST", "/veranstaltungen/programmpunkte/{session}/verschieben", STAFF),
    ("events.add_speaker", "POST", "/veranstaltungen/programmpunkte/{session}/mitwirkende", STAFF),
    ("events.edit_speaker", "GET", "/veranstaltungen/mitwirkende/{speaker}", STAFF),
    ("events.remove_speaker", "POST", "/veranstaltungen/mitwirkende/{speaker}/entfernen", STAFF),
    ("events.move_speaker", "POST", "/veranstaltungen/mitwirkende/{speaker}/verschieben", STAFF),
    ("events.suggest_people", "GET", "/veranstaltungen/personen-vorschlaege?q=beispiel", STAFF),
    ("reviews.show", "GET", "/veranstaltungen/{event}/rueckblick", STAFF),
    ("reviews.speakers", "GET", "/veranstaltungen/{event}/rueckblick/personen", STAFF),
    ("reviews.speaker", "GET", "/veranstaltungen/{event}/rueckblick/personen/{person2}", STAFF),
    ("reviews.questions", "GET", "/veranstaltungen/{event}/rueckblick/leitfragen", STAFF),
    ("reviews.newsletter", "GET", "/veranstaltungen/{event}/rueckblick/newsletter", STAFF),
    ("reviews.edit_session", "GET", "/veranstaltungen/{event}/rueckblick/{session}", STAFF),
    ("reviews.add_statement", "POST", "/veranstaltungen/{event}/rueckblick/{session}/aussagen", STAFF),
    ("reviews.edit_statement", "GET", "/veranstaltungen/{event}/rueckblick/aussagen/{statement}", STAFF),
    ("reviews.delete_statement", "POST", "/veranstaltungen/{event}/rueckblick/aussagen/{statement}/loeschen", STAFF),
    ("reviews.move_statement", "POST", "/veranstaltungen/{event}/rueckblick/aussagen/{statement}/verschieben", STAFF),
    ("invitations.index", "GET", "/veranstaltungen/{event}/einladungen/?status=accepted", STAFF),
    ("invitations.new", "GET", "/veranstaltungen/{event}/einladungen/neu?q=beispiel", STAFF),
    ("invitations.send", "POST", "/veranstaltungen/{event}/einladungen/neu", STAFF),
    ("invitations.preview_mail", "GET", "/veranstaltungen/{event}/einladungen/neu/vorschau", STAFF),
    ("invitations.send_test", "POST", "/veranstaltungen/{event}/einladungen/neu/test", STAFF),
    ("invitations.edit", "GET", "/veranstaltungen/{event}/einladungen/{invitation}", STAFF),
    ("invitations.remind", "POST", "/veranstaltungen/{event}/einladungen/erinnern", STAFF),
    ("invitations.fill_waitlist", "POST", "/veranstaltungen/{event}/einladungen/warteliste", STAFF),
    ("invitations.resume_mailings", "POST", "/veranstaltungen/{event}/einladungen/versand-fortsetzen", STAFF),
    ("invitations.export", "GET", "/veranstaltungen/{event}/einladungen/export.xlsx", STAFF),
    ("invitations.needs_export", "GET", "/veranstaltungen/{event}/einladungen/verpflegung.csv", STAFF),
    ("invitations.signin", "GET", "/veranstaltungen/{event}/einladungen/unterschriften", STAFF),
    ("invitations.checkin", "GET", "/veranstaltungen/{event}/einladungen/einlass?q=beispiel", STAFF),
    ("invitations.check_in", "POST", "/veranstaltungen/{event}/einladungen/{invitation}/einlass", STAFF),
    ("invitations.move", "GET", "/veranstaltungen/{event}/einladungen/verlegen", STAFF),
    ("invitations.cancel", "GET", "/veranstaltungen/{event}/einladungen/absagen", STAFF),
    ("invitations.purge_needs", "POST", "/veranstaltungen/{event}/einladungen/gesundheitsangaben-loeschen", STAFF),
    ("rsvp.show", "GET", "/teilnahme/invalid-token", ALL),
    ("rsvp.calendar", "GET", "/teilnahme/invalid-token/kalender.ics", ALL),
    ("archive.index", "GET", "/archiv/", ALL),
    ("archive.show", "GET", "/archiv/unbekannt", ALL),
    ("archive.event", "GET", "/termine/{event}", ALL),
    ("subscription.unsubscribe", "GET", "/abmelden/invalid-token", ALL),
    ("subscription.unsubscribe", "POST", "/abmelden/invalid-token", ALL),
    ("subscription.preferences", "GET", "/einstellungen/invalid-token", ALL),
    ("subscription.signup", "GET", "/newsletter/anmelden", ALL),
    ("subscription.signup", "POST", "/newsletter/anmelden", ALL),
    ("subscription.signup_sent", "GET", "/newsletter/anmelden/danke", ALL),
    ("subscription.confirm", "GET", "/newsletter/bestaetigen/invalid-token", ALL),
    ("subscription.confirm", "POST", "/newsletter/bestaetigen/invalid-token", ALL),
    ("newsletters.index", "GET", "/newsletters/?status=draft", STAFF),
    ("newsletters.new", "GET", "/newsletters/neu", STAFF),
    ("newsletters.show", "GET", "/newsletters/{newsletter}", STAFF),
    ("newsletters.edit", "GET", "/newsletters/{newsletter}/einstellungen", STAFF),
    ("newsletters.delete", "GET", "/newsletters/{newsletter}/loeschen", STAFF),
    ("newsletters.add_block", "POST", "/newsletters/{newsletter}/bloecke/text", STAFF),
    ("newsletters.edit_block", "POST", "/newsletters/bloecke/{block}", STAFF),
    ("newsletters.move_block", "POST", "/newsletters/bloecke/{block}/verschieben", STAFF),
    ("newsletters.delete_block", "POST", "/newsletters/bloecke/{block}/entfernen", STAFF),
    ("newsletters.refill_block", "POST", "/newsletters/bloecke/{block}/neu-erzeugen", STAFF),
    ("newsletter_sending.preview", "GET", "/newsletters/{newsletter}/vorschau?q=beispiel", STAFF),
    ("newsletter_sending.preview_html", "GET", "/newsletters/{newsletter}/vorschau.html", STAFF),
    ("newsletter_sending.send_test", "POST", "/newsletters/{newsletter}/test", STAFF),
    ("newsletter_sending.send_page", "GET", "/newsletters/{newsletter}/versand", STAFF),
    ("newsletter_sending.start", "POST", "/newsletters/{newsletter}/senden", STAFF),
    ("newsletter_sending.schedule", "POST", "/newsletters/{newsletter}/planen", STAFF),
    ("newsletter_sending.unschedule", "POST", "/newsletters/{newsletter}/planung-aufheben", STAFF),
    ("newsletter_sending.pause", "POST", "/newsletters/{newsletter}/anhalten", STAFF),
    ("newsletter_sending.resume", "POST", "/newsletters/{newsletter}/fortsetzen", STAFF),
    ("newsletter_sending.cancel", "POST", "/newsletters/{newsletter}/abbrechen", STAFF),
    ("newsletter_sending.progress", "GET", "/newsletters/{newsletter}/fortschritt.json", STAFF),
    ("newsletter_sending.deliveries", "GET", "/newsletters/{newsletter}/zustellungen?status=failed", STAFF),
]


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert endpoints == {endpoint for endpoint, *_ in ROUTES}


@pytest.mark.parametrize("role", ALL)
@pytest.mark.parametrize(("endpoint", "method", "path", "allowed"), ROUTES, ids=[r[0] for r in ROUTES])
def test_route_access(client, login, make, role, endpoint, method, path, allowed):
    if role != ANON:
        login(role)
    other = make.user(role="member")
    organization = make.organization(name="Stadt Musterhausen")
    affiliation = make.affiliation(other.person, organization, position="Bürgermeisterin")
    segment = make.segment()
    job = make.import_job()
    person2 = make.person(last_name=other.person.last_name)
    event = make.event()
    session = add_session(event, {"title": "Eröffnung", "starts_at": event.starts_at}, actor=None)
    speaker = add_speaker(session, person2, actor=None)
    statement = add_statement(session, person2, {"lead": "Digitalisierung ist ein Prozess."}, actor=None)
    invitation = make.invitation(event=event, person=other.person)
    newsletter = make.newsletter(segment=segment)
    url = path.format(
        user=other.id, person=other.person_id, organization=organization.id, affiliation=affiliation.id,
        segment=segment.id, job=job.id, person2=person2.id, merge=make.merge().id,
        request=make.change_request(other.person).id,
        membership=make.membership(organization=organization).id,
        event=event.id, session=session.id, speaker=speaker.id, invitation=invitation.id, statement=statement.id,
        newsletter=newsletter.id, block=newsletter.blocks[0].id,
    )  # fmt: skip
    db.session.commit()  # as in real use: a view that rolls back a refused write keeps these
    response = client.open(url, method=method)
    body = response.get_data().decode("utf-8", errors="replace")
    if role in allowed:
        assert response.status_code not in (401, 403), body
        assert not response.headers.get("Location", "").startswith("/login?next"), "allowed role sent to login"
        assert response.status_code != 500
    elif role == ANON:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
    else:
        assert response.status_code == 403
        assert "Kein Zugriff" in body
