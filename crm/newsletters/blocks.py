"""Composing a newsletter: its settings and its ordered blocks.

Like crm.events.agenda: every function validates (a German ValidationFailed on the form field),
writes the audit entry and flushes at most; the caller commits. Once sending has started the
content is frozen (Newsletter.is_frozen): it went out as it was, so nothing here may change it.
"""
import logging
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from crm.audit.services import apply_changes, record, snapshot
from crm.contacts.models import Segment
from crm.contacts.validation import clean, email_error, normalize_email
from crm.errors import ValidationFailed
from crm.events.models import Event, EventStatus
from crm.extensions import db, utcnow
from crm.newsletters.models import BlockKind, Newsletter, NewsletterBlock, NewsletterStatus
from crm.newsletters.render import LAYOUTS
from crm.newsletters.sending import new_web_key

logger = logging.getLogger(__name__)

SETTINGS_FIELDS = ("subject", "preheader", "sender_name", "reply_to", "layout", "segment_id", "in_archive")
BLOCK_FIELDS = ("title", "body", "event_id", "data")
FROZEN_MESSAGE = "Dieser Newsletter wird bereits versandt oder wurde versandt; er kann nicht mehr geändert werden."
LIMITS = {"subject": 200, "preheader": 200, "sender_name": 120, "reply_to": 254, "title": 300}


def refuse_if_frozen(newsletter: Newsletter) -> None:
    if newsletter.is_frozen:
        raise ValidationFailed(None, FROZEN_MESSAGE)


def _check_lengths(values: dict[str, Any]) -> None:
    for field, limit in LIMITS.items():
        if isinstance(values.get(field), str) and len(values[field]) > limit:
            raise ValidationFailed(field, f"Höchstens {limit} Zeichen.")


# --- settings ---------------------------------------------------------------------------------------------------


def _settings(data: dict[str, Any]) -> dict[str, Any]:
    """Checked settings: a subject, a known layout and segment, a valid reply address."""
    values = clean({field: data.get(field) for field in SETTINGS_FIELDS})
    if not values["subject"]:
        raise ValidationFailed("subject", "Bitte geben Sie einen Betreff an.")
    _check_lengths(values)
    if values["reply_to"]:
        if message := email_error(values["reply_to"]):
            raise ValidationFailed("reply_to", message)
        values["reply_to"] = normalize_email(values["reply_to"])
    values["layout"] = values["layout"] or "standard"
    if values["layout"] not in LAYOUTS:
        raise ValidationFailed("layout", "Bitte wählen Sie ein Layout aus der Liste.")
    if values["segment_id"] is not None and db.session.get(Segment, values["segment_id"]) is None:
        raise ValidationFailed("segment_id", "Dieses Segment gibt es nicht mehr. Bitte wählen Sie ein anderes.")
    values["in_archive"] = bool(values["in_archive"])
    return values


def create_newsletter(data: dict[str, Any], *, actor) -> Newsletter:
    """A new draft (without blocks yet)."""
    newsletter = Newsletter(web_key=new_web_key(), created_by=actor, status=NewsletterStatus.draft, **_settings(data))
    db.session.add(newsletter)
    db.session.flush()
    record("create", newsletter, actor=actor, changes=snapshot(newsletter, Newsletter.AUDITED_FIELDS))
    return newsletter


def update_newsletter(newsletter: Newsletter, data: dict[str, Any], *, actor) -> dict:
    refuse_if_frozen(newsletter)
    changes = apply_changes(newsletter, _settings(data))
    if changes:
        record("update", newsletter, actor=actor, changes=changes)
    return changes


def delete_newsletter(newsletter: Newsletter, *, actor) -> None:
    """Only a draft goes; a planned one is unplanned first, and one that was (being) sent stays as proof."""
    if newsletter.is_frozen:
        raise ValidationFailed(None, "Ein Newsletter, der versandt wird oder wurde, kann nicht gelöscht werden.")
    if newsletter.status != NewsletterStatus.draft:
        raise ValidationFailed(None, "Ein geplanter Newsletter kann nicht gelöscht werden. Bitte heben Sie zuerst die Planung auf.")
    record("delete", newsletter, actor=actor, changes=snapshot(newsletter, Newsletter.AUDITED_FIELDS))
    db.session.delete(newsletter)
    db.session.flush()


# --- block values -----------------------------------------------------------------------------------------------


def url_problem(value: str | None, *, https_only: bool = False) -> str | None:
    """Why `value` is no usable web address (None: it is), in German."""
    if not value:
        return None
    parts = urlsplit(value)
    schemes = ("https",) if https_only else ("http", "https")
    if parts.scheme not in schemes or "." not in parts.netloc or any(c.isspace() for c in value):
        example = "https://www.example.org/bild.jpg" if https_only else "https://www.example.org"
        start = "https://" if https_only else "http:// oder https://"
        return f"Bitte eine vollständige Adresse mit {start} angeben, z. B. {example}."
    return None


def _require(values: dict[str, Any], field: str, message: str) -> None:
    if not values.get(field):
        raise ValidationFailed(field, message)


def _url(values: dict[str, Any], field: str, *, https_only: bool = False) -> None:
    if message := url_problem(values.get(field), https_only=https_only):
        raise ValidationFailed(field, message)


def _event_ids(values) -> list[int]:
    """The chosen upcoming events, in the order of their start, each once and existing."""
    try:
        ids = {int(v) for v in values or []}
    except (TypeError, ValueError):
        raise ValidationFailed("event_ids", "Bitte wählen Sie Veranstaltungen aus der Liste.") from None
    if not ids:
        raise ValidationFailed("event_ids", "Bitte wählen Sie mindestens eine Veranstaltung aus.")
    found = db.session.scalars(sa.select(Event.id).where(Event.id.in_(ids)).order_by(Event.starts_at, Event.id)).all()
    if len(found) != len(ids):
        raise ValidationFailed("event_ids", "Eine der gewählten Veranstaltungen gibt es nicht mehr.")
    return list(found)


def block_values(kind: BlockKind, data: dict[str, Any]) -> dict[str, Any]:
    """Checked values of a block of `kind` (title, body, event_id, data) from the form's flat fields."""
    flat = clean(dict(data))
    values: dict[str, Any] = {"title": flat.get("title"), "body": flat.get("body"), "event_id": None, "data": {}}
    _check_lengths(values)
    if kind == BlockKind.text:
        _require(values, "body", "Bitte schreiben Sie einen Text.")
    elif kind == BlockKind.event_review:
        event_id = flat.get("event_id")
        if not str(event_id or "").isdigit() or db.session.get(Event, int(event_id)) is None:
            raise ValidationFailed("event_id", "Bitte wählen Sie eine Veranstaltung aus.")
        values["event_id"] = int(event_id)
    elif kind == BlockKind.upcoming_events:
        values["data"] = {"event_ids": _event_ids(data.get("event_ids"))}
    elif kind == BlockKind.call_to_action:
        _require(flat, "label", "Bitte geben Sie die Beschriftung des Buttons an.")
        _require(flat, "url", "Bitte geben Sie die Adresse an, zu der der Button führt.")
        _url(flat, "url")
        values["data"] = {"label": flat["label"], "url": flat["url"]}
    elif kind == BlockKind.image:
        _require(flat, "src", "Bitte geben Sie die Adresse des Bildes an.")
        _url(flat, "src", https_only=True)  # mail clients block or warn about images over plain http
        _require(flat, "alt", "Bitte beschreiben Sie das Bild (für Menschen, die es nicht sehen).")
        _url(flat, "link")
        values["title"] = values["body"] = None
        values["data"] = {key: flat.get(key) for key in ("src", "alt", "caption", "link") if flat.get(key)}
    return values


# --- blocks -----------------------------------------------------------------------------------------------------


def review_text(event: Event) -> str:
    """The Markdown of an event review, written from the session summaries and statements."""
    try:
        from crm.events.summaries import review_markdown
    except ImportError:  # the summaries area is not installed yet: the office writes the text itself
        logger.info("crm.events.summaries.review_markdown is not available; review of event %s left empty", event.id)
        return ""
    return review_markdown(event) or ""


def _renumber(blocks: list[NewsletterBlock]) -> None:
    for position, block in enumerate(blocks):
        block.position = position


def add_block(newsletter: Newsletter, kind: BlockKind | str, data: dict[str, Any], *, actor) -> NewsletterBlock:
    """A new block at the end. A review of an event starts with its title and the text from the summaries."""
    refuse_if_frozen(newsletter)
    kind = BlockKind(kind)
    values = block_values(kind, data)
    if kind == BlockKind.event_review:
        event = db.session.get(Event, values["event_id"])
        values["title"] = values["title"] or f"Rückblick: {event.title}"[: LIMITS["title"]]
        values["body"] = values["body"] or review_text(event) or None
    block = NewsletterBlock(kind=kind, position=len(newsletter.blocks), **values)
    newsletter.blocks.append(block)
    db.session.flush()
    record("create", block, actor=actor, changes=snapshot(block, NewsletterBlock.AUDITED_FIELDS) | {"newsletter_id": newsletter.id})
    return block


def update_block(block: NewsletterBlock, data: dict[str, Any], *, actor) -> dict:
    refuse_if_frozen(block.newsletter)
    changes = apply_changes(block, block_values(block.kind, data))
    if changes:
        record("update", block, actor=actor, changes=changes)
    return changes


def refill_review(block: NewsletterBlock, *, actor) -> dict:
    """Write the review's text afresh from the event's summaries (the office's edits are replaced)."""
    refuse_if_frozen(block.newsletter)
    if block.kind != BlockKind.event_review or block.event is None:
        raise ValidationFailed(None, "Dieser Block ist kein Rückblick auf eine Veranstaltung.")
    changes = apply_changes(block, {"body": review_text(block.event) or None})
    if changes:
        record("update", block, actor=actor, changes=changes)
    return changes


def move_block(block: NewsletterBlock, direction: str, *, actor) -> bool:
    """One place up or down; False at either end."""
    newsletter = block.newsletter
    refuse_if_frozen(newsletter)
    blocks = list(newsletter.blocks)
    index = blocks.index(block)
    other = index - 1 if direction == "up" else index + 1
    if direction not in ("up", "down") or not 0 <= other < len(blocks):
        return False
    before = block.position
    blocks[index], blocks[other] = blocks[other], blocks[index]
    _renumber(blocks)
    newsletter.blocks[:] = blocks
    record("update", block, actor=actor, changes={"order": [before + 1, block.position + 1]})
    return True


def delete_block(block: NewsletterBlock, *, actor) -> None:
    newsletter = block.newsletter
    refuse_if_frozen(newsletter)
    record("delete", block, actor=actor, changes=snapshot(block, NewsletterBlock.AUDITED_FIELDS) | {"newsletter_id": newsletter.id})
    newsletter.blocks.remove(block)  # delete-orphan
    _renumber(newsletter.blocks)
    db.session.flush()


# --- events to choose from --------------------------------------------------------------------------------------


def review_events() -> tuple[list[Event], list[Event]]:
    """Events to look back on: (those done or published in the past, latest first; the others but cancelled)."""
    now = utcnow()
    past = sa.or_(Event.status == EventStatus.done, sa.and_(Event.status == EventStatus.published, Event.starts_at < now))
    stmt = sa.select(Event, past).where(Event.status != EventStatus.cancelled).order_by(Event.starts_at.desc(), Event.id.desc())
    rows = db.session.execute(stmt).all()
    return [e for e, is_past in rows if is_past], [e for e, is_past in rows if not is_past]


def upcoming_events() -> list[Event]:
    """Published events that have not begun, soonest first."""
    stmt = sa.select(Event).where(Event.status == EventStatus.published, Event.starts_at > utcnow()).order_by(Event.starts_at)
    return list(db.session.scalars(stmt))
