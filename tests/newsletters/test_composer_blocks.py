"""Composing a newsletter (crm.newsletters.blocks): settings, blocks of every kind, their order, the
review text from the event's summaries, and no change once sending has started."""
import sys
import types
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.errors import ValidationFailed
from crm.events.models import EventStatus
from crm.extensions import db, utcnow
from crm.newsletters import blocks
from crm.newsletters.models import Newsletter, NewsletterStatus


def refused(call) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        call()
    return caught.value


def test_a_new_newsletter_is_a_checked_audited_draft(make):
    segment = make.segment(name="Bürgermeister")
    newsletter = blocks.create_newsletter(
        {"subject": "  Neues aus dem Netzwerk ", "reply_to": "Presse@Example.org", "segment_id": segment.id, "in_archive": True},
        actor=None,
    )
    assert (newsletter.status, newsletter.subject, newsletter.reply_to) == (NewsletterStatus.draft, "Neues aus dem Netzwerk", "presse@example.org")
    assert newsletter.layout == "standard" and newsletter.segment == segment and len(newsletter.web_key) >= 20
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == "newsletters"))
    assert entry.action == "create" and entry.changes["subject"] == "Neues aus dem Netzwerk"

    assert refused(lambda: blocks.create_newsletter({"subject": " "}, actor=None)).field == "subject"
    assert refused(lambda: blocks.create_newsletter({"subject": "x" * 201}, actor=None)).message == "Höchstens 200 Zeichen."
    error = refused(lambda: blocks.create_newsletter({"subject": "Hallo", "reply_to": "kein-at"}, actor=None))
    assert error.field == "reply_to" and "gültige E-Mail-Adresse" in error.message
    assert refused(lambda: blocks.create_newsletter({"subject": "Hallo", "layout": "bunt"}, actor=None)).field == "layout"


def test_blocks_are_added_at_the_end_moved_and_removed_in_order(make):
    newsletter = make.newsletter(blocks=False)
    first = blocks.add_block(newsletter, "text", {"title": "Editorial", "body": "Liebe Mitglieder"}, actor=None)
    second = blocks.add_block(newsletter, "call_to_action", {"label": "Jetzt anmelden", "url": "https://www.example.org/anmelden"}, actor=None)
    third = blocks.add_block(newsletter, "image", {"src": "https://www.example.org/bild.jpg", "alt": "Das Plenum in Freiburg"}, actor=None)
    assert [b.position for b in newsletter.blocks] == [0, 1, 2]
    assert second.data == {"label": "Jetzt anmelden", "url": "https://www.example.org/anmelden"}
    assert third.data == {"src": "https://www.example.org/bild.jpg", "alt": "Das Plenum in Freiburg"}

    assert blocks.move_block(third, "up", actor=None) is True
    assert newsletter.blocks == [first, third, second]
    assert blocks.move_block(first, "up", actor=None) is False  # already first
    assert blocks.move_block(second, "down", actor=None) is False  # already last

    blocks.delete_block(third, actor=None)
    assert newsletter.blocks == [first, second] and [b.position for b in newsletter.blocks] == [0, 1]
    actions = db.session.scalars(sa.select(AuditLog.action).where(AuditLog.entity_type == "newsletter_blocks")).all()
    assert actions.count("create") == 3 and actions.count("update") == 1 and actions.count("delete") == 1


@pytest.mark.parametrize(
    ("kind", "data", "field", "message"),
    [
        ("text", {"title": "Nur Überschrift"}, "body", "Bitte schreiben Sie einen Text."),
        ("call_to_action", {"label": "Los", "url": "javascript:alert(1)"}, "url", "http:// oder https://"),
        ("call_to_action", {"url": "https://www.example.org"}, "label", "Beschriftung des Buttons"),
        ("image", {"src": "http://www.example.org/bild.jpg", "alt": "Bild"}, "src", "mit https://"),
        ("image", {"src": "https://www.example.org/bild.jpg"}, "alt", "Bitte beschreiben Sie das Bild"),
        ("image", {"src": "https://www.example.org/b.jpg", "alt": "Bild", "link": "ftp://example.org"}, "link", "http:// oder https://"),
        ("upcoming_events", {"event_ids": []}, "event_ids", "mindestens eine Veranstaltung"),
        ("event_review", {"event_id": ""}, "event_id", "Bitte wählen Sie eine Veranstaltung aus."),
    ],
)
def test_block_values_are_checked_with_german_messages(make, kind, data, field, message):
    newsletter = make.newsletter(blocks=False)
    error = refused(lambda: blocks.add_block(newsletter, kind, data, actor=None))
    assert error.field == field and message in error.message
    assert newsletter.blocks == []


def test_upcoming_events_are_stored_in_the_order_they_take_place(make):
    later, sooner = make.event(starts_at=utcnow() + timedelta(days=60)), make.event(starts_at=utcnow() + timedelta(days=10))
    newsletter = make.newsletter(blocks=False)
    block = blocks.add_block(newsletter, "upcoming_events", {"title": "Termine", "event_ids": [str(later.id), sooner.id]}, actor=None)
    assert block.data == {"event_ids": [sooner.id, later.id]}
    assert blocks.upcoming_events()[:2] == [sooner, later]


def test_a_review_starts_from_the_summaries_and_can_be_written_afresh(make, monkeypatch):
    summaries = types.ModuleType("crm.events.summaries")
    summaries.review_markdown = lambda event: f"**{event.title}** in Zahlen: 120 Teilnehmende."
    monkeypatch.setitem(sys.modules, "crm.events.summaries", summaries)
    event = make.event(title="6. Mitgliederversammlung", status=EventStatus.done, starts_at=utcnow() - timedelta(days=30))
    newsletter = make.newsletter(blocks=False)

    block = blocks.add_block(newsletter, "event_review", {"event_id": str(event.id)}, actor=None)
    assert block.title == "Rückblick: 6. Mitgliederversammlung" and block.event == event
    assert block.body == "**6. Mitgliederversammlung** in Zahlen: 120 Teilnehmende."

    blocks.update_block(block, {"title": "Freiburg", "event_id": event.id, "body": "Mein eigener Text"}, actor=None)
    assert (block.title, block.body) == ("Freiburg", "Mein eigener Text")
    assert blocks.refill_review(block, actor=None) == {"body": ["Mein eigener Text", summaries.review_markdown(event)]}
    assert block.body.startswith("**6. Mitgliederversammlung**")


def test_without_the_summaries_a_review_starts_empty(make, monkeypatch):
    monkeypatch.setitem(sys.modules, "crm.events.summaries", None)  # import fails as if not installed
    event = make.event(title="Regionalkonferenz Ulm")
    block = blocks.add_block(make.newsletter(blocks=False), "event_review", {"event_id": event.id}, actor=None)
    assert (block.title, block.body) == ("Rückblick: Regionalkonferenz Ulm", None)


def test_events_to_look_back_on_come_first(make):
    past = make.event(title="Vorbei", starts_at=utcnow() - timedelta(days=5))
    done = make.event(title="Abgeschlossen", status=EventStatus.done, starts_at=utcnow() - timedelta(days=400))
    coming = make.event(title="Kommt noch")
    make.event(title="Abgesagt", status=EventStatus.cancelled, starts_at=utcnow() - timedelta(days=3))
    earlier, others = blocks.review_events()
    assert [e.title for e in earlier] == ["Vorbei", "Abgeschlossen"] and [e.title for e in others] == ["Kommt noch"]
    assert past in earlier and done in earlier and coming in others


@pytest.mark.parametrize("status", [NewsletterStatus.sending, NewsletterStatus.paused, NewsletterStatus.sent, NewsletterStatus.cancelled])
def test_nothing_changes_once_sending_has_started(make, status):
    newsletter = make.newsletter(status=status)
    block = newsletter.blocks[0]
    for change in (
        lambda: blocks.update_newsletter(newsletter, {"subject": "Anders"}, actor=None),
        lambda: blocks.add_block(newsletter, "text", {"body": "Nachtrag"}, actor=None),
        lambda: blocks.update_block(block, {"body": "Geändert"}, actor=None),
        lambda: blocks.move_block(block, "down", actor=None),
        lambda: blocks.delete_block(block, actor=None),
    ):
        assert refused(change).message == blocks.FROZEN_MESSAGE
    assert "kann nicht gelöscht werden" in refused(lambda: blocks.delete_newsletter(newsletter, actor=None)).message
    assert newsletter.subject != "Anders" and block.body == "Wir berichten **kurz**." and len(newsletter.blocks) == 1


def test_only_a_draft_is_deleted(make):
    scheduled = make.newsletter(status=NewsletterStatus.scheduled, scheduled_at=utcnow() + timedelta(days=1))
    assert "Planung" in refused(lambda: blocks.delete_newsletter(scheduled, actor=None)).message
    draft = make.newsletter()
    draft_id = draft.id
    blocks.delete_newsletter(draft, actor=None)
    assert db.session.get(Newsletter, draft_id) is None
    assert db.session.scalar(sa.select(AuditLog.action).where(AuditLog.entity_type == "newsletters", AuditLog.entity_id == draft_id)) == "delete"
