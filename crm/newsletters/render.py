"""Rendering a newsletter: compile once, personalize per recipient.

compile_newsletter() fills the layout (templates/email/newsletter/<layout>.mjml and .txt) with the
blocks and compiles the MJML once; what differs per recipient is left as markers ("[[crm:salutation]]",
"[[crm:unsubscribe]]", "[[crm:rsvp:<event id>]]", …). personalize() swaps the markers for one
recipient's values, a string replacement that costs microseconds, not a compile. The web version
uses the same compiled text with neutral values and without the parts between
"[[crm:personal]]" and "[[crm:/personal]]" (unsubscribe and preference links), so it holds no
personal data.
"""
import re
from dataclasses import dataclass, field
from html import escape

from flask import current_app, render_template

from crm.events.ics import location
from crm.events.models import Event
from crm.events.sending import when
from crm.extensions import db
from crm.mail.render import compile_mjml
from crm.mail.services import external_url
from crm.markdown import to_html, to_text
from crm.newsletters.models import BlockKind, Newsletter, NewsletterBlock

MARKER = re.compile(r"\[\[crm:([a-z_-]+)(?::(\d+))?\]\]")
PERSONAL = re.compile(r"\[\[crm:personal\]\](.*?)\[\[crm:/personal\]\]", re.S)
#: Neutral greeting of the web version and of a preview without a recipient.
NEUTRAL_SALUTATION = "Guten Tag"
LAYOUTS = {"standard": "Standard (Kopf und Fußzeile des Vereins)"}


def marker(name: str, number: int | None = None) -> str:
    return f"[[crm:{name}{f':{number}' if number is not None else ''}]]"


@dataclass
class Compiled:
    html: str
    text: str


@dataclass
class BlockView:
    """What a layout needs of one block (Markdown already made safe HTML and text)."""

    kind: BlockKind
    title: str | None
    html: str = ""
    text: str = ""
    data: dict = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)


def imprint() -> dict[str, str]:
    """The Impressum lines from the configuration (§ 5 DDG)."""
    config = current_app.config
    keys = ("NAME", "ADDRESS", "REPRESENTATIVES", "REGISTER", "CONTACT", "VAT_ID", "URL")
    return {key.lower(): (config.get(f"IMPRINT_{key}") or "").strip() for key in keys}


REQUIRED_IMPRINT = {
    "name": "Name des Vereins", "address": "Anschrift", "representatives": "Vertretungsberechtigte (Vorstand)",
    "register": "Registereintrag", "contact": "Kontakt (E-Mail, Telefon)",
}  # fmt: skip


def _event_view(event: Event) -> dict:
    return {"id": event.id, "title": event.title, "subtitle": event.subtitle, "when": when(event), "where": location(event),
            "link": marker("rsvp", event.id), "label": marker("rsvp-label", event.id)}  # fmt: skip


def block_view(block: NewsletterBlock) -> BlockView:
    view = BlockView(block.kind, block.title, to_html(block.body), to_text(block.body), dict(block.data or {}))
    if block.kind == BlockKind.upcoming_events:
        ids = [int(i) for i in view.data.get("event_ids", [])]
        events = {e.id: e for e in db.session.scalars(db.select(Event).where(Event.id.in_(ids)))} if ids else {}
        view.events = [_event_view(events[i]) for i in ids if i in events]
    return view


def _context(newsletter: Newsletter) -> dict:
    return {
        "newsletter": newsletter, "subject": newsletter.subject, "preheader": newsletter.preheader or "",
        "blocks": [block_view(b) for b in newsletter.blocks], "imprint": imprint(),
        "web_url": external_url("archive.show", web_key=newsletter.web_key),
        "salutation": marker("salutation"), "unsubscribe_url": marker("unsubscribe"),
        "preferences_url": marker("preferences"), "personal_start": marker("personal"), "personal_end": "[[crm:/personal]]",
    }  # fmt: skip


def compile_newsletter(newsletter: Newsletter) -> Compiled:
    """The newsletter's HTML and text with markers for the per-recipient parts (one MJML compile)."""
    context = _context(newsletter)
    layout = newsletter.layout if newsletter.layout in LAYOUTS else "standard"
    html = compile_mjml(render_template(f"email/newsletter/{layout}.mjml", **context))
    text = render_template(f"email/newsletter/{layout}.txt", **context)
    return Compiled(html, text)


def personalize(compiled: Compiled, values: dict[str, str], *, personal: bool = True) -> Compiled:
    """The compiled newsletter for one recipient: each marker replaced by values[name] (or
    values["name:id"]); personal=False drops the personal parts (web version)."""

    def fill(text: str, quote) -> str:
        text = PERSONAL.sub((lambda m: m.group(1)) if personal else "", text)
        return MARKER.sub(lambda m: quote(values.get(f"{m[1]}:{m[2]}" if m[2] else m[1], "")), text)

    return Compiled(fill(compiled.html, lambda v: escape(v, quote=True)), fill(compiled.text, str))


def missing_parts(compiled: Compiled) -> list[str]:
    """What a newsletter must carry and this one lacks, in German (empty: it may be sent)."""
    problems = [f"Im Impressum fehlt: {label} (Einstellung CRM_IMPRINT_{key.upper()})."
                for key, label in REQUIRED_IMPRINT.items() if not imprint()[key]]  # fmt: skip
    info = imprint()
    for key in ("name", "address"):
        if info[key] and (escape(info[key]) not in compiled.html or info[key] not in compiled.text):
            problems.append(f"Das Layout zeigt das Impressum nicht ({REQUIRED_IMPRINT[key]} fehlt).")
            break
    if f'href="{marker("unsubscribe")}"' not in compiled.html or marker("unsubscribe") not in compiled.text:
        problems.append("Das Layout enthält keinen Abmeldelink.")
    return problems
