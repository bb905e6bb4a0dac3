"""Sending a newsletter: who gets it, the checks before it may go, and the delivery pipeline.

start() freezes the content (one MJML compile, stored on the newsletter), queues one Delivery per
recipient in one set-based statement (crm.mail.pipeline.queue: unique per newsletter and person, so a
second start or a restart sends nobody anything twice) and dispatches in the background. The
renderer (crm.newsletters.mailer) finishes the frozen message per recipient. Pausing makes the dispatcher
stop before its next batch; resuming and a restart of the app (crm.tasks scheduler, or
`flask mail dispatch`) carry on with what is still queued.
"""
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.utils import parseaddr
from enum import StrEnum

import sqlalchemy as sa
from flask import current_app

from crm.audit.services import apply_changes, record
from crm.contacts.models import ConsentChannel, Person, Segment
from crm.contacts.services.segments import segment_filter
from crm.errors import ValidationFailed
from crm.extensions import db, utcnow
from crm.mail import pipeline
from crm.mail.message import build_message, recipient, sender_domain
from crm.mail.models import Delivery, DeliveryStatus, suppressed
from crm.newsletters.models import Newsletter, NewsletterStatus
from crm.newsletters.render import Compiled, compile_newsletter, missing_parts, personalize
from crm.tasks import run_in_parallel

logger = logging.getLogger(__name__)

MAILING = "newsletter"


def new_web_key() -> str:
    return secrets.token_urlsafe(18)[:24]


# --- audience ---------------------------------------------------------------------------------------------------


class Exclusion(StrEnum):
    no_email = "no_email"
    no_consent = "no_consent"
    suppressed = "suppressed"

    @property
    def label(self) -> str:
        return {"no_email": "keine E-Mail-Adresse", "no_consent": "keine Einwilligung für den Newsletter",
                "suppressed": "Adresse gesperrt (abgemeldet oder unzustellbar)"}[self.value]  # fmt: skip


def _exclusion():
    """Why a person of the segment does not get the newsletter (first reason), or NULL."""
    return sa.case(
        (Person.email.is_(None), Exclusion.no_email.value),
        (Person.newsletter_consent.is_not(True), Exclusion.no_consent.value),
        (suppressed(Person.email, ConsentChannel.newsletter), Exclusion.suppressed.value),
        else_=None,
    )


@dataclass
class Audience:
    total: int = 0
    excluded_counts: dict[Exclusion, int] = field(default_factory=dict)
    sample: list[Person] = field(default_factory=list)

    @property
    def excluded_total(self) -> int:
        return sum(self.excluded_counts.values())


def recipients(segment: Segment) -> sa.Select:
    """SELECT of the ids of the segment's people who get the newsletter, evaluated now."""
    return sa.select(Person.id).where(Person.id.in_(segment_filter(segment).ids()), _exclusion().is_(None))


def audience(newsletter: Newsletter, *, sample: int = 20) -> Audience:
    """How many of the segment's current people get the newsletter, and why the others do not."""
    if newsletter.segment is None:
        return Audience()
    reason = _exclusion().label("reason")
    reasons = sa.select(reason).where(Person.id.in_(segment_filter(newsletter.segment).ids())).subquery()
    counts = dict(db.session.execute(sa.select(reasons.c.reason, sa.func.count()).group_by(reasons.c.reason)).all())
    people = db.session.scalars(
        sa.select(Person).where(Person.id.in_(recipients(newsletter.segment))).order_by(Person.last_name, Person.id).limit(sample)
    ).all()
    return Audience(counts.pop(None, 0), {Exclusion(k): v for k, v in sorted(counts.items())}, list(people))


# --- checks and state changes -----------------------------------------------------------------------------------


def problems(newsletter: Newsletter, compiled: Compiled | None = None) -> list[str]:
    """Everything that keeps the newsletter from being sent, in German (empty: ready)."""
    found = []
    if not newsletter.subject or not newsletter.subject.strip():
        found.append("Der Betreff fehlt.")
    if not newsletter.blocks:
        found.append("Der Newsletter hat noch keinen Inhalt (keinen Block).")
    if newsletter.segment is None:
        found.append("Es ist kein Segment als Empfängerkreis gewählt.")
    found += missing_parts(compiled or compile_newsletter(newsletter))
    return found


def _refuse_unless(newsletter: Newsletter, *allowed: NewsletterStatus) -> None:
    if newsletter.status not in allowed:
        raise ValidationFailed(None, f"Das geht nicht bei einem Newsletter mit dem Status „{newsletter.status.label}“.")


def _set_status(newsletter: Newsletter, actor, **values) -> None:
    changes = apply_changes(newsletter, values)
    if changes:
        record("update", newsletter, actor=actor, changes=changes)


def start(newsletter: Newsletter, *, actor) -> int:
    """Freeze the content, queue every recipient and send in the background; returns how many were queued.
    The caller commits (and then calls deliver())."""
    _refuse_unless(newsletter, NewsletterStatus.draft, NewsletterStatus.scheduled)
    compiled = compile_newsletter(newsletter)
    found = problems(newsletter, compiled)
    if found:
        raise ValidationFailed(None, " ".join(found))
    newsletter.sent_html, newsletter.sent_text = compiled.html, compiled.text
    _set_status(newsletter, actor, status=NewsletterStatus.sending, started_at=utcnow(), paused_reason=None)
    queued = pipeline.queue(MAILING, newsletter.id, recipients(newsletter.segment))
    logger.info("Newsletter %s: %s recipients queued", newsletter.id, queued)
    return queued


def schedule(newsletter: Newsletter, when: datetime, *, actor) -> None:
    _refuse_unless(newsletter, NewsletterStatus.draft, NewsletterStatus.scheduled)
    if when <= utcnow():
        raise ValidationFailed("scheduled_at", "Der Zeitpunkt muss in der Zukunft liegen.")
    found = problems(newsletter)
    if found:
        raise ValidationFailed(None, " ".join(found))
    _set_status(newsletter, actor, status=NewsletterStatus.scheduled, scheduled_at=when)


def unschedule(newsletter: Newsletter, *, actor) -> None:
    _refuse_unless(newsletter, NewsletterStatus.scheduled)
    _set_status(newsletter, actor, status=NewsletterStatus.draft, scheduled_at=None)


def pause(newsletter: Newsletter, *, actor, reason: str = "Von der Geschäftsstelle angehalten.") -> None:
    _refuse_unless(newsletter, NewsletterStatus.sending)
    _set_status(newsletter, actor, status=NewsletterStatus.paused, paused_reason=reason)


def pause_automatically(newsletter_id: int, reason: str) -> None:
    """The pipeline's pause hook: too many delivery attempts failed; the send page shows the reason."""
    newsletter = db.session.get(Newsletter, newsletter_id)
    if newsletter is not None and newsletter.status == NewsletterStatus.sending:
        pause(newsletter, actor=None, reason=reason)


def resume(newsletter: Newsletter, *, actor) -> None:
    _refuse_unless(newsletter, NewsletterStatus.paused)
    _set_status(newsletter, actor, status=NewsletterStatus.sending, paused_reason=None)


def cancel(newsletter: Newsletter, *, actor) -> int:
    """Stop for good: what is still queued is not sent (status "skipped"); returns how many."""
    _refuse_unless(newsletter, NewsletterStatus.sending, NewsletterStatus.paused, NewsletterStatus.scheduled)
    skipped = db.session.execute(
        sa.update(Delivery)
        .where(Delivery.mailing == MAILING, Delivery.subject_id == newsletter.id, Delivery.status == DeliveryStatus.queued)
        .values(status=DeliveryStatus.skipped, last_error="Versand abgebrochen", claimed_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    _set_status(newsletter, actor, status=NewsletterStatus.cancelled, finished_at=utcnow())
    return skipped


def deliver(newsletter: Newsletter) -> None:
    """Send what is queued, in the background (call after the commit); with Celery several workers share it."""
    run_in_parallel(deliver_now, newsletter.id)


def deliver_now(newsletter_id: int) -> pipeline.DispatchResult:
    return pipeline.dispatch(MAILING, newsletter_id)  # marks the newsletter sent at the end (finish_if_done)


def finish_if_done(newsletter_id: int) -> None:
    """A sending newsletter with nothing left in the queue is sent."""
    # Locked: the dispatch tasks that share a newsletter may finish at the same moment; one marks it sent.
    newsletter = db.session.get(Newsletter, newsletter_id, with_for_update=True, populate_existing=True)
    if newsletter is None or newsletter.status != NewsletterStatus.sending:
        return
    waiting = sa.select(Delivery.id).where(
        Delivery.mailing == MAILING, Delivery.subject_id == newsletter_id, Delivery.status == DeliveryStatus.queued
    )
    if db.session.scalar(waiting.limit(1)) is None:
        _set_status(newsletter, None, status=NewsletterStatus.sent, finished_at=utcnow())
        db.session.commit()


def start_due(now: datetime | None = None) -> list[int]:
    """Start every scheduled newsletter whose time has come (scheduler and `flask newsletters send-due`)."""
    started = []
    due = sa.select(Newsletter).where(Newsletter.status == NewsletterStatus.scheduled, Newsletter.scheduled_at <= (now or utcnow()))
    for newsletter in db.session.scalars(due).all():
        try:
            start(newsletter, actor=None)
        except ValidationFailed as refused:
            _set_status(newsletter, None, status=NewsletterStatus.draft, paused_reason=f"Nicht gestartet: {refused.message}")
        db.session.commit()
        started.append(newsletter.id)
    return started


@dataclass
class Progress:
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return self.total - self.counts.get(DeliveryStatus.queued.value, 0)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def progress(newsletter: Newsletter) -> Progress:
    rows = db.session.execute(
        sa.select(Delivery.status, sa.func.count())
        .where(Delivery.mailing == MAILING, Delivery.subject_id == newsletter.id)
        .group_by(Delivery.status)
    ).all()
    return Progress({status.value: number for status, number in rows})


# --- messages ---------------------------------------------------------------------------------------------------


def sender(newsletter: Newsletter) -> str:
    """From: the newsletter's display name with the configured address (SPF/DKIM stay aligned)."""
    name, address = parseaddr(current_app.config["MAIL_FROM"])
    local, _, domain = address.rpartition("@")
    return str(Address(display_name=newsletter.sender_name or name, username=local, domain=domain))


def list_id() -> str:
    configured = current_app.config.get("NEWSLETTER_LIST_ID")
    name = current_app.config["ORGANIZATION_NAME"]
    return f"Newsletter {name} <{configured or 'newsletter.' + sender_domain(current_app.config['MAIL_FROM'])}>"


def event_ids(newsletter: Newsletter) -> list[int]:
    return [int(i) for b in newsletter.blocks for i in (b.data or {}).get("event_ids", [])]


def values_for(newsletter: Newsletter, person: Person | None) -> dict[str, str]:
    """The per-recipient values of the markers; person=None gives the neutral ones (web version)."""
    from crm.newsletters.mailer import Links

    links = Links(newsletter)
    if person is not None:
        links.load([person.id])
    return links.values(person)


def frozen(newsletter: Newsletter) -> Compiled:
    """The content as sent (or, before sending, as it would be sent now)."""
    if newsletter.sent_html is not None:
        return Compiled(newsletter.sent_html, newsletter.sent_text or "")
    return compile_newsletter(newsletter)


def preview_links() -> dict[str, str]:
    """Marker values for previews and test mails: the personal links lead to a page that explains them."""
    from crm.newsletters.links import preview_unsubscribe_url

    return {"unsubscribe": preview_unsubscribe_url(), "preferences": preview_unsubscribe_url()}


def preview_unsubscribe_headers() -> dict[str, str]:
    return {"List-Unsubscribe": f"<{preview_links()['unsubscribe']}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def message_for(newsletter: Newsletter, person: Person, to_email: str, compiled: Compiled | None = None, *, test: bool = False):
    from crm.newsletters.links import list_unsubscribe_headers

    values = values_for(newsletter, person)
    unsubscribe = list_unsubscribe_headers(person, ConsentChannel.newsletter)
    if test:  # a test mail gets forwarded and clicked: it must not unsubscribe the person it was personalized for
        values, unsubscribe = values | preview_links(), preview_unsubscribe_headers()
    content = personalize(compiled or frozen(newsletter), values)
    headers = {"List-Id": list_id(), **unsubscribe}
    return build_message(
        sender=sender(newsletter), to=recipient(person.full_name, to_email),
        subject=f"[Test] {newsletter.subject}" if test else newsletter.subject, text=content.text, html=content.html,
        reply_to=newsletter.reply_to or current_app.config["MAIL_REPLY_TO"], headers=headers,
    )  # fmt: skip


def _is_sending(newsletter_id: int) -> bool:
    return db.session.scalar(sa.select(Newsletter.status).where(Newsletter.id == newsletter_id)) == NewsletterStatus.sending
