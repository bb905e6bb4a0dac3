"""The office's newsletter pages: list, settings, the composer and its blocks, deleting a draft."""
import sys
import types
from datetime import timedelta

import sqlalchemy as sa

from crm.events.models import EventStatus
from crm.extensions import db, utcnow
from crm.mail import pipeline
from crm.mail.models import Delivery, DeliveryStatus
from crm.newsletters.models import BlockKind, Newsletter, NewsletterBlock, NewsletterStatus
from crm.newsletters.sending import MAILING
from tests.html import field_error, input_value, page_text, text
from tests.portal import flashes, followed_flashes


def count_newsletters() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Newsletter))


def test_the_list_has_status_tabs_segments_and_the_sent_and_failed_numbers(client, login, make):
    login("office")
    segment = make.segment(name="Digitallotsen")
    sent = make.newsletter(subject="Rundbrief Herbst", segment=segment, status=NewsletterStatus.sent, started_at=utcnow())
    make.newsletter(subject="Rundbrief Winter")
    people = [make.person() for _ in range(3)]
    pipeline.queue(MAILING, sent.id, [p.id for p in people])
    rows = db.session.scalars(sa.select(Delivery).where(Delivery.subject_id == sent.id)).all()
    for row, status in zip(rows, [DeliveryStatus.sent, DeliveryStatus.sent, DeliveryStatus.failed]):
        row.status = status
    db.session.commit()

    page = page_text(text(client.get("/newsletters/")))
    assert "alle 2" in page and "Entwurf 1" in page and "versandt 1" in page
    assert "Neuer Newsletter" in page and "Rundbrief Herbst" in page and "Digitallotsen" in page
    assert "Rundbrief Herbst Rückblick und Termine versandt Digitallotsen" in page
    body = text(client.get("/newsletters/"))
    assert f'<tr data-newsletter="{sent.id}">' in body
    row = body.split(f'<tr data-newsletter="{sent.id}">')[1].split("</tr>")[0]
    assert '<td class="num" data-sent>2</td>' in row and "status=failed" in row and ">1</a>" in row

    page = page_text(text(client.get("/newsletters/?status=draft")))
    assert "Rundbrief Winter" in page and "Rundbrief Herbst" not in page


def test_settings_are_checked_field_by_field_and_nothing_is_half_written(client, login, make):
    login("office")
    segment = make.segment(name="Bürgermeister")
    before = count_newsletters()
    response = client.post("/newsletters/neu", data={"subject": "", "reply_to": "keine-adresse", "layout": "standard", "segment_id": ""})
    assert response.status_code == 200 and count_newsletters() == before
    assert field_error(response, "subject") == "Bitte füllen Sie dieses Feld aus."
    assert "gültige E-Mail-Adresse" in field_error(response, "reply_to")
    assert input_value(response, "reply_to") == "keine-adresse"  # the input stays

    response = client.post("/newsletters/neu", data={"subject": "x" * 201, "layout": "standard", "segment_id": str(segment.id)})
    assert field_error(response, "subject") == "Höchstens 200 Zeichen." and count_newsletters() == before

    response = client.post("/newsletters/neu", data={
        "subject": "Neues aus dem Netzwerk", "preheader": "Freiburg im Rückblick", "sender_name": "Kommune 2.0 Geschäftsstelle",
        "reply_to": "presse@example.org", "layout": "standard", "segment_id": str(segment.id), "in_archive": "y",
    })  # fmt: skip
    newsletter = db.session.scalar(sa.select(Newsletter).order_by(Newsletter.id.desc()))
    assert "wurde als Entwurf angelegt" in followed_flashes(client, response)[0]
    assert (newsletter.subject, newsletter.segment, newsletter.in_archive, newsletter.status) == (
        "Neues aus dem Netzwerk", segment, True, NewsletterStatus.draft)  # fmt: skip

    response = client.post(f"/newsletters/{newsletter.id}/einstellungen", data={"subject": "Neues aus Freiburg", "layout": "standard", "segment_id": ""})
    assert followed_flashes(client, response) == ["Die Einstellungen wurden gespeichert."]
    assert (newsletter.subject, newsletter.segment_id, newsletter.in_archive) == ("Neues aus Freiburg", None, False)
    assert input_value(client.get(f"/newsletters/{newsletter.id}/einstellungen"), "subject") == "Neues aus Freiburg"


def test_text_blocks_are_added_edited_moved_and_removed_on_the_composer(client, login, make):
    login("office")
    newsletter = make.newsletter()
    page = page_text(text(client.get(f"/newsletters/{newsletter.id}")))
    assert "1. Text: Liebe Mitglieder" in page and "Block hinzufügen" in page
    assert all(kind.label in page for kind in BlockKind)

    response = client.post(f"/newsletters/{newsletter.id}/bloecke/text", data={"neu-text-title": "Termine", "neu-text-body": ""})
    assert response.status_code == 200 and len(newsletter.blocks) == 1
    assert field_error(response, "neu-text-body") == "Bitte schreiben Sie einen Text."
    assert input_value(response, "neu-text-title") == "Termine"

    response = client.post(f"/newsletters/{newsletter.id}/bloecke/text", data={"neu-text-title": "Termine", "neu-text-body": "Bitte vormerken"})
    added = newsletter.blocks[1]
    assert response.headers["Location"] == f"/newsletters/{newsletter.id}#block-{added.id}"
    assert (added.title, added.body, added.position) == ("Termine", "Bitte vormerken", 1)

    first = newsletter.blocks[0]
    response = client.post(f"/newsletters/bloecke/{first.id}", data={f"block-{first.id}-title": "Editorial", f"block-{first.id}-body": ""})
    assert field_error(response, f"block-{first.id}-body") == "Bitte schreiben Sie einen Text." and first.body == "Wir berichten **kurz**."
    client.post(f"/newsletters/bloecke/{first.id}", data={f"block-{first.id}-title": "Editorial", f"block-{first.id}-body": "Neu"})
    assert (first.title, first.body) == ("Editorial", "Neu")

    client.post(f"/newsletters/bloecke/{added.id}/verschieben", data={"direction": "up"})
    db.session.expire_all()
    assert [b.title for b in newsletter.blocks] == ["Termine", "Editorial"]
    assert "1. Text: Termine" in page_text(text(client.get(f"/newsletters/{newsletter.id}")))

    response = client.post(f"/newsletters/bloecke/{added.id}/entfernen")
    assert followed_flashes(client, response) == ["Der Block „Termine“ wurde entfernt."]
    db.session.expire_all()
    assert [b.title for b in newsletter.blocks] == ["Editorial"] and newsletter.blocks[0].position == 0


def test_a_review_is_prefilled_from_the_summaries_and_can_be_refilled(client, login, make, monkeypatch):
    summaries = types.ModuleType("crm.events.summaries")
    summaries.review_markdown = lambda event: "## Ergebnisse\n\nDie Kommunen wollen gestalten."
    monkeypatch.setitem(sys.modules, "crm.events.summaries", summaries)
    login("office")
    assembly = make.event(title="6. Mitgliederversammlung", status=EventStatus.done, starts_at=utcnow() - timedelta(days=20))
    make.event(title="Werkstatt Zukunft")
    newsletter = make.newsletter(blocks=False)

    body = text(client.get(f"/newsletters/{newsletter.id}"))
    assert '<optgroup label="Vergangene Veranstaltungen">' in body
    assert body.index("6. Mitgliederversammlung (abgeschlossen)") < body.index("Werkstatt Zukunft (veröffentlicht)")

    response = client.post(f"/newsletters/{newsletter.id}/bloecke/event_review", data={"neu-event_review-event_id": str(assembly.id)})
    [block] = newsletter.blocks
    assert "wurde angefügt" in followed_flashes(client, response)[0]
    assert (block.title, block.body) == ("Rückblick: 6. Mitgliederversammlung", "## Ergebnisse\n\nDie Kommunen wollen gestalten.")
    page = page_text(text(client.get(f"/newsletters/{newsletter.id}")))
    assert "Text neu aus den Zusammenfassungen erzeugen" in page

    response = client.post(f"/newsletters/bloecke/{block.id}", data={
        f"block-{block.id}-title": "Freiburg 2018", f"block-{block.id}-event_id": str(assembly.id), f"block-{block.id}-body": "Kurz gesagt",
    })  # fmt: skip
    assert followed_flashes(client, response) == ["Der Block „Freiburg 2018“ wurde gespeichert."] and block.body == "Kurz gesagt"
    response = client.post(f"/newsletters/bloecke/{block.id}/neu-erzeugen")
    assert followed_flashes(client, response) == ["Der Text wurde neu aus den Zusammenfassungen erzeugt."]
    assert (block.title, block.body) == ("Freiburg 2018", "## Ergebnisse\n\nDie Kommunen wollen gestalten.")


def test_upcoming_events_call_to_action_and_image_blocks_check_their_fields(client, login, make):
    login("office")
    soon = make.event(title="Regionalkonferenz Kaiserslautern")
    make.event(title="Noch ein Entwurf", status=EventStatus.draft)
    newsletter = make.newsletter(blocks=False)
    page = page_text(text(client.get(f"/newsletters/{newsletter.id}")))
    assert "Regionalkonferenz Kaiserslautern (veröffentlicht)" in page

    response = client.post(f"/newsletters/{newsletter.id}/bloecke/upcoming_events", data={"neu-upcoming_events-title": "Termine"})
    assert "mindestens eine Veranstaltung" in page_text(text(response))
    client.post(f"/newsletters/{newsletter.id}/bloecke/upcoming_events",
                data={"neu-upcoming_events-title": "Termine", "neu-upcoming_events-event_ids": str(soon.id)})  # fmt: skip
    assert newsletter.blocks[0].data == {"event_ids": [soon.id]}

    response = client.post(f"/newsletters/{newsletter.id}/bloecke/call_to_action",
                           data={"neu-call_to_action-label": "", "neu-call_to_action-url": "www.example.org"})  # fmt: skip
    assert field_error(response, "neu-call_to_action-label") == "Bitte geben Sie die Beschriftung des Buttons an."
    assert "http:// oder https://" in field_error(response, "neu-call_to_action-url")

    response = client.post(f"/newsletters/{newsletter.id}/bloecke/image",
                           data={"neu-image-src": "http://www.example.org/a.jpg", "neu-image-link": "javascript:alert(1)"})  # fmt: skip
    assert "https://" in field_error(response, "neu-image-src") and "Bitte beschreiben Sie das Bild" in field_error(response, "neu-image-alt")
    assert "http:// oder https://" in field_error(response, "neu-image-link")
    assert len(newsletter.blocks) == 1
    client.post(f"/newsletters/{newsletter.id}/bloecke/image",
                data={"neu-image-src": "https://www.example.org/a.jpg", "neu-image-alt": "Plenum", "neu-image-caption": "Freiburg"})  # fmt: skip
    assert newsletter.blocks[1].data == {"src": "https://www.example.org/a.jpg", "alt": "Plenum", "caption": "Freiburg"}


def test_a_newsletter_being_sent_cannot_be_edited_or_deleted(client, login, make):
    login("office")
    newsletter = make.newsletter(status=NewsletterStatus.sending, started_at=utcnow())
    block = newsletter.blocks[0]
    db.session.commit()  # as in real use: the refused writes roll back, the newsletter stays
    page = page_text(text(client.get(f"/newsletters/{newsletter.id}")))
    assert "kann nicht mehr geändert werden" in page and "Block hinzufügen" not in page and "Block speichern" not in page

    response = client.post(f"/newsletters/bloecke/{block.id}", data={f"block-{block.id}-body": "Geändert"})
    assert "kann nicht mehr geändert werden" in followed_flashes(client, response)[0]
    response = client.post(f"/newsletters/{newsletter.id}/bloecke/text", data={"neu-text-body": "Nachtrag"})
    assert "kann nicht mehr geändert werden" in followed_flashes(client, response)[0]
    response = client.post(f"/newsletters/bloecke/{block.id}/entfernen")
    assert "kann nicht mehr geändert werden" in followed_flashes(client, response)[0]
    assert client.get(f"/newsletters/{newsletter.id}/einstellungen").status_code == 302
    response = client.post(f"/newsletters/{newsletter.id}/loeschen")
    assert "kann nicht gelöscht werden" in page_text(text(response))
    db.session.expire_all()
    assert block.body == "Wir berichten **kurz**." and len(newsletter.blocks) == 1 and db.session.get(Newsletter, newsletter.id)


def test_a_draft_is_deleted_after_confirmation(client, login, make):
    login("office")
    newsletter = make.newsletter(subject="Versehentlich angelegt")
    newsletter_id = newsletter.id
    page = page_text(text(client.get(f"/newsletters/{newsletter_id}/loeschen")))
    assert "„Versehentlich angelegt“ löschen?" in page and "1 Block" in page
    assert db.session.get(Newsletter, newsletter_id) is not None  # the page itself deletes nothing
    response = client.post(f"/newsletters/{newsletter_id}/loeschen")
    assert followed_flashes(client, response) == ["Der Entwurf „Versehentlich angelegt“ wurde gelöscht."]
    assert db.session.get(Newsletter, newsletter_id) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(NewsletterBlock).where(NewsletterBlock.newsletter_id == newsletter_id)) == 0
    assert flashes(client.get("/newsletters/")) == []
