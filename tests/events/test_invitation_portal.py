"""Members see their invitations in their own area, with a link to answer while that is possible."""
import re
from datetime import timedelta

from crm.events.models import EventStatus, InvitationStatus
from crm.extensions import utcnow
from tests.html import page_text, text


def test_my_invitations_with_links_to_answer(client, login, make):
    member = login("member")
    soon = make.invitation(event=make.event(title="Werkstatt Smart City"), person=member.person)
    make.invitation(event=make.event(title="Vergangene Tagung", starts_at=utcnow() - timedelta(days=30)),
                    person=member.person, status=InvitationStatus.accepted)  # fmt: skip
    make.invitation(event=make.event(title="Abgesagter Workshop", status=EventStatus.cancelled), person=member.person)
    make.invitation(event=make.event(title="Fremde Einladung"))  # someone else's

    response = client.get("/mein-bereich/")
    page = page_text(text(response))
    assert "Meine Einladungen" in page
    assert "Werkstatt Smart City – noch nicht beantwortet" in page
    assert "Vergangene Tagung – zugesagt" in page and "Abgesagter Workshop – noch nicht beantwortet (Veranstaltung abgesagt)" in page
    assert "Fremde Einladung" not in page
    links = re.findall(r'href="(/teilnahme/[^"]+)"', text(response))
    assert len(links) == 1
    rsvp = client.get(links[0])
    assert rsvp.status_code == 200 and "Werkstatt Smart City" in text(rsvp)
    assert soon.person.full_name in page_text(text(rsvp))


def test_no_invitations_yet(client, login):
    login("member")
    assert "Sie haben derzeit keine Einladungen zu Veranstaltungen." in page_text(text(client.get("/mein-bereich/")))
