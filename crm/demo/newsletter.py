"""The demo newsletter: an upcoming event, a segment, and a drafted newsletter (data/newsletter.yaml)."""
from datetime import time, timedelta
from pathlib import Path

import yaml

from crm.audit.services import record
from crm.contacts.services.segments import create_segment
from crm.events.models import EventStatus
from crm.events.services import change_status, create_event
from crm.events.times import berlin, local
from crm.extensions import db, utcnow
from crm.newsletters.models import BlockKind, Newsletter, NewsletterBlock
from crm.newsletters.sending import new_web_key

DATA_FILE = Path(__file__).parent / "data" / "newsletter.yaml"


def _upcoming(items: list[dict], events: dict) -> None:
    for item in items:
        item = dict(item)
        key, status, in_days = item.pop("key"), item.pop("status"), item.pop("in_days")
        start, end = time.fromisoformat(item.pop("start")), time.fromisoformat(item.pop("end"))
        day = local(utcnow()).date() + timedelta(days=in_days)
        event = create_event(item | {"starts_at": berlin(day, start), "ends_at": berlin(day, end)}, actor=None)
        if status == "published":
            change_status(event, EventStatus.published, actor=None)
        events[key] = event


def _block(position: int, item: dict, events: dict) -> NewsletterBlock:
    from crm.events.summaries import review_markdown

    kind = BlockKind(item["kind"])
    block = NewsletterBlock(kind=kind, position=position, title=item.get("title"), body=item.get("body"), data={})
    if kind == BlockKind.event_review:
        event = events[item["event"]]
        block.event_id, block.title = event.id, item.get("title") or f"Rückblick: {event.title}"
        block.body = review_markdown(event)
    elif kind == BlockKind.upcoming_events:
        block.data = {"event_ids": [events[key].id for key in item["events"]]}
    elif kind == BlockKind.call_to_action:
        block.data = {"label": item["label"], "url": item["url"]}
    return block


def load_newsletter_demo(refs: dict, path: Path = DATA_FILE) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    events = refs["events"]
    _upcoming(data.get("upcoming_events") or [], events)
    db.session.flush()
    segments = {
        item["name"]: create_segment(name=item["name"], description=item.get("description"), filters=item["filters"], actor=None)
        for item in data.get("segments") or []
    }
    for item in data.get("newsletters") or []:
        newsletter = Newsletter(
            subject=item["subject"], preheader=item.get("preheader"), segment=segments[item["segment"]], web_key=new_web_key(),
        )  # fmt: skip
        db.session.add(newsletter)
        db.session.flush()
        newsletter.blocks = [_block(i, block, events) for i, block in enumerate(item["blocks"])]
        record("create", newsletter, actor=None, changes={"subject": [None, newsletter.subject]})
