"""The mails about an event: invitation, reminders, a place from the waitlist, a change, a cancellation,
and the confirmation of an answer.

Every bulk mail is its own mailing in the delivery pipeline (crm.mail.pipeline), so the Delivery unique
key sends each at most once per person: an invitation, each reminder, each change notice ("event_changed:<sequence>").
The confirmation of an answer is personal and goes out directly, each time someone answers.
"""
import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload

from crm.audit.services import apply_changes, record
from crm.contacts.models import ConsentChannel, Person
from crm.errors import ValidationFailed
from crm.events.ics import event_calendar, location
from crm.events.invitations import CONCERNED, INVITATION, WAITLIST_PROMOTED, closed_reason, is_over
from crm.events.links import rsvp_url
from crm.events.services import bump_sequence
from crm.events.models import Event, EventStatus, Invitation, InvitationStatus
from crm.extensions import db, utcnow
from crm.mail import autopause, pipeline
from crm.mail.handover import Row
from crm.mail.message import Attachment, build_message, recipient
from crm.mail.models import Delivery, DeliveryStatus, MailingPause, suppressed
from crm.mail.render import render_mail
from crm.mail.services import external_url
from crm.mail.transports import TransportError, get_transport
from crm.newsletters.links import list_unsubscribe_headers, preview_unsubscribe_url, unsubscribe_url
from crm.tasks import run_in_background, run_in_parallel
from crm.templating import datetime_de

logger = logging.getLogger(__name__)

REMINDER_OPEN = "event_reminder_open"
REMINDER_UPCOMING = "event_reminder_upcoming"
CHANGED = "event_changed"
CANCELLED = "event_cancelled"
KINDS = (INVITATION, REMINDER_OPEN, REMINDER_UPCOMING, WAITLIST_PROMOTED, CHANGED, CANCELLED)
#: Link text the office sees in previews and test mails instead of a working personal link.
PREVIEW_TOKEN = "vorschau"


def when(event: Event) -> str:
    """ "Dienstag, 20. November 2018, 11:30 Uhr bis 16:00 Uhr" (the end date only when it differs)."""
    same_day = datetime_de(event.starts_at, "yyyy-MM-dd") == datetime_de(event.ends_at, "yyyy-MM-dd")
    end = datetime_de(event.ends_at, "HH:mm 'Uhr'") if same_day else datetime_de(event.ends_at)
    return f"{datetime_de(event.starts_at)} bis {end}"


def _calendar(event: Event) -> Attachment:
    method = "CANCEL" if event.status == EventStatus.cancelled else "PUBLISH"
    data = event_calendar(event)
    return Attachment("veranstaltung.ics", "text/calendar", data, {"method": method, "charset": "utf-8"})


def _context(event: Event, person: Person | None, link: str, invitation: Invitation | None = None) -> dict:
    return {
        "event": event, "person": person, "invitation": invitation, "link": link, "when": when(event),
        "where": location(event), "deadline": datetime_de(event.rsvp_deadline) if event.rsvp_deadline else None,
        "salutation": person.letter_salutation if person else "Guten Tag",
    }  # fmt: skip


SUBJECTS = {
    INVITATION: "Einladung: {title}",
    REMINDER_OPEN: "Erinnerung: Ihre Antwort zu „{title}“",
    REMINDER_UPCOMING: "Bis bald: {title}",
    WAITLIST_PROMOTED: "Ein Platz ist frei geworden: {title}",
    CHANGED: "Geändert: {title}",
    CANCELLED: "Abgesagt: {title}",
}


def compose(kind: str, event: Event, person: Person | None, link: str, invitation: Invitation | None = None,
            unsubscribe_link: str | None = None):  # fmt: skip
    """(subject, html, text) of an event mail; also the office's preview (its unsubscribe link unsubscribes nobody)."""
    subject = SUBJECTS[kind].format(title=event.title)
    context = _context(event, person, link, invitation)
    html, text = render_mail(kind, subject=subject, unsubscribe_link=unsubscribe_link or preview_unsubscribe_url(), **context)
    return subject, html, text


def _message(to: str, subject: str, html: str, text: str, event: Event, cc: str | None = None, *, calendar: bool = True,
             list_headers: dict[str, str] | None = None):  # fmt: skip
    config = current_app.config
    headers = {**({"Cc": cc} if cc else {}), **(list_headers or {})}
    return build_message(
        sender=config["MAIL_FROM"], to=to, subject=subject, text=text, html=html, reply_to=config["MAIL_REPLY_TO"],
        headers=headers or None, attachments=[_calendar(event)] if calendar else None,
    )  # fmt: skip


def _deputy_copy(invitation: Invitation) -> str | None:
    """The deputy reads along with every mail about attending (unless their address is suppressed)."""
    email = invitation.deputy_email
    if not email or db.session.scalar(sa.select(suppressed(sa.literal(email), ConsentChannel.event_invitation))):
        return None
    return recipient(invitation.deputy_name, email)


#: Which invitations a mail still applies to when it is finally sent.
STILL_APPLIES = {
    INVITATION: tuple(s for s in InvitationStatus if s != InvitationStatus.cancelled),
    REMINDER_OPEN: (InvitationStatus.sent,),
    REMINDER_UPCOMING: (InvitationStatus.accepted,),
    WAITLIST_PROMOTED: (InvitationStatus.accepted,),
    CHANGED: CONCERNED,
    CANCELLED: CONCERNED,
}


def render_delivery(delivery: Row):
    """The pipeline's renderer for every event mailing (registered below)."""
    kind = pipeline.kind_of(delivery.mailing)
    invitation = db.session.scalar(
        sa.select(Invitation).where(Invitation.event_id == delivery.subject_id, Invitation.person_id == delivery.person_id)
    )
    if invitation is None:
        raise pipeline.SkipDelivery("Die Einladung gibt es nicht mehr.")
    if invitation.status not in STILL_APPLIES[kind]:
        raise pipeline.SkipDelivery(f"Die Person hat inzwischen „{invitation.status.label}“.")
    event, person = invitation.event, invitation.person
    if kind == CHANGED and _superseded(delivery, event):
        raise pipeline.SkipDelivery("Eine neuere Änderungsmitteilung ersetzt diese.")
    channel = ConsentChannel.event_invitation
    subject, html, text = compose(kind, event, person, rsvp_url(invitation), invitation, unsubscribe_url(person, channel))
    cc = None if kind == INVITATION else _deputy_copy(invitation)
    to = recipient(person.full_name, delivery.email)
    # The deputy in Cc gets the same message: its List-Unsubscribe would let the deputy's mail program
    # unsubscribe the invitee with one click. The invitee still has the link in the text.
    list_headers = None if cc else list_unsubscribe_headers(person, channel)
    return _message(to, subject, html, text, event, cc, list_headers=list_headers)


def _superseded(delivery: Row, event: Event) -> bool:
    """A change notice that waited while another change was made: the newer one says it all."""
    if delivery.mailing == f"{CHANGED}:{event.ical_sequence}":
        return False
    newer = sa.select(Delivery.id).where(
        Delivery.mailing == f"{CHANGED}:{event.ical_sequence}", Delivery.subject_id == event.id,
        Delivery.person_id == delivery.person_id,
    )  # fmt: skip
    return db.session.scalar(newer) is not None


def _invitation_sent(mailing: str, event_id: int, person_ids: list[int]) -> None:
    """An invitation mail went out: the invitation is now open (sent) rather than planned."""
    db.session.execute(
        sa.update(Invitation)
        .where(Invitation.event_id == event_id, Invitation.person_id.in_(person_ids), Invitation.status == InvitationStatus.planned)
        .values(status=InvitationStatus.sent, sent_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )


for _kind in KINDS:
    pipeline.register(
        _kind, render_delivery, channel=ConsentChannel.event_invitation,
        on_sent=_invitation_sent if _kind == INVITATION else None,
    )  # fmt: skip


MAILING_LABELS = {
    INVITATION: "Einladungen", REMINDER_OPEN: "Erinnerungen (offen)", REMINDER_UPCOMING: "Erinnerungen (Teilnahme)",
    WAITLIST_PROMOTED: "Nachrücken", CHANGED: "Änderungen", CANCELLED: "Absagen",
}  # fmt: skip


def deliver(event: Event) -> None:
    """Send what is queued for the event, in the background (call after the commit); with Celery several
    workers share it."""
    run_in_parallel(deliver_now, event.id)


def deliver_now(event_id: int) -> int:
    """Send what is queued for the event now; returns how many went out."""
    sent = 0
    for mailing, subject_id in pipeline.pending():
        if subject_id == event_id and pipeline.kind_of(mailing) in KINDS:
            sent += pipeline.dispatch(mailing, event_id).sent
    return sent


def _mails_of(event: Event) -> sa.ColumnElement[bool]:
    return sa.and_(Delivery.subject_id == event.id, sa.or_(*(Delivery.mailing.startswith(k) for k in KINDS)))


def paused_mailings(event: Event) -> list[MailingPause]:
    """The event's mailings that paused themselves because too many delivery attempts failed."""
    return autopause.pauses(event.id, KINDS)


def resume_mailings(event: Event) -> int:
    """Lift every pause of the event's mailings (the caller commits, then deliver()); returns how many."""
    rows = paused_mailings(event)
    for row in rows:
        autopause.resume(row)
    return len(rows)


def delivery_counts(event: Event) -> dict[str, dict[str, int]]:
    """{kind: {status: number}} of the event's mails, for the office."""
    rows = db.session.execute(
        sa.select(Delivery.mailing, Delivery.status, sa.func.count()).where(_mails_of(event)).group_by(Delivery.mailing, Delivery.status)
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for mailing, status, number in rows:
        per_kind = counts.setdefault(pipeline.kind_of(mailing), {})
        per_kind[status.value] = per_kind.get(status.value, 0) + number
    return counts


UNDELIVERED = (DeliveryStatus.failed, DeliveryStatus.bounced)
UNDELIVERED_SHOWN = 50


def undelivered(event: Event, counts: dict[str, dict[str, int]]) -> list[Delivery]:
    """The newest of the event's mails that did not arrive (refused, or reported undeliverable later), with
    their people; `counts` (delivery_counts) spares the query when there are none."""
    if not any(per_kind.get(status.value) for per_kind in counts.values() for status in UNDELIVERED):
        return []
    stmt = (
        sa.select(Delivery).options(joinedload(Delivery.person)).where(_mails_of(event), Delivery.status.in_(UNDELIVERED))
        .order_by(Delivery.sent_at.desc().nulls_last(), Delivery.id.desc()).limit(UNDELIVERED_SHOWN)
    )  # fmt: skip
    return list(db.session.scalars(stmt))


# --- test mail, reminders ---------------------------------------------------------------------------------------


def preview_link() -> str:
    """The button's target in previews and test mails: a page saying the link is not a real one."""
    return external_url("rsvp.show", token=PREVIEW_TOKEN)


def send_test(event: Event, person: Person | None, *, to_email: str, to_name: str | None) -> str:
    """The invitation as `person` would get it, sent now to the office user; the button leads nowhere personal."""
    subject, html, text = compose(INVITATION, event, person, preview_link())
    msg = _message(recipient(to_name, to_email), f"[Test] {subject}", html, text, event)
    _send_now(msg)
    return msg["Message-ID"]


def _send_now(msg) -> None:
    transport = get_transport()
    try:
        transport.send(msg)
    finally:
        transport.close()


def queue_reminder(event: Event, kind: str, *, settled_before: datetime | None = None) -> int:
    """Queue a reminder (once per person, however often asked); returns how many are new.

    settled_before: leave out people invited (open reminder) or who answered (participants) after this
    time; the scheduler's reminders do, so that nobody gets a reminder minutes after the invitation
    or their own answer (they get it in a later round, while it is still due)."""
    if kind == REMINDER_OPEN:
        if reason := closed_reason(event):
            raise ValidationFailed(None, f"Keine Erinnerung möglich: {reason}")
        status = InvitationStatus.sent
    elif kind == REMINDER_UPCOMING:
        if event.status == EventStatus.cancelled or event.starts_at <= utcnow():
            raise ValidationFailed(None, "Keine Erinnerung möglich: Die Veranstaltung ist abgesagt oder hat begonnen.")
        status = InvitationStatus.accepted
    else:
        raise ValueError(kind)
    people = sa.select(Invitation.person_id).where(Invitation.event_id == event.id, Invitation.status == status)
    if settled_before is not None:
        since = Invitation.sent_at if kind == REMINDER_OPEN else Invitation.responded_at
        people = people.where(sa.or_(since.is_(None), since <= settled_before))
    return pipeline.queue(kind, event.id, people)


def queue_due_reminders(now=None) -> list[Event]:
    """What `flask events send-reminders` does each day: open invitations a few days before the deadline,
    participants a day or two before the start. Returns the events with new reminders."""
    now = now or utcnow()
    config = current_app.config
    live = Event.status.not_in([EventStatus.cancelled, EventStatus.done])
    open_soon = sa.and_(Event.rsvp_deadline > now, Event.rsvp_deadline <= now + timedelta(days=config["REMINDER_OPEN_DAYS"]))
    starts_soon = sa.and_(Event.starts_at > now, Event.starts_at <= now + timedelta(days=config["REMINDER_UPCOMING_DAYS"]))
    settled_before = now - timedelta(hours=config["REMINDER_QUIET_HOURS"])
    touched = []
    for event in db.session.scalars(sa.select(Event).where(live, sa.or_(open_soon, starts_soon))):
        new = 0
        if event.rsvp_deadline and now < event.rsvp_deadline <= now + timedelta(days=config["REMINDER_OPEN_DAYS"]):
            new += _queue_if_possible(event, REMINDER_OPEN, settled_before)
        if now < event.starts_at <= now + timedelta(days=config["REMINDER_UPCOMING_DAYS"]):
            new += _queue_if_possible(event, REMINDER_UPCOMING, settled_before)
        if new:
            touched.append(event)
    return touched


def _queue_if_possible(event: Event, kind: str, settled_before: datetime) -> int:
    # The scheduler runs this every few seconds: one event whose reminder no longer fits (over before its
    # deadline) must not stop the reminders of all the others.
    try:
        return queue_reminder(event, kind, settled_before=settled_before)
    except ValidationFailed as refused:
        logger.info("No automatic reminder %s for event %s: %s", kind, event.id, refused.message)
        return 0


# --- cancel or move ---------------------------------------------------------------------------------------------


def _concerned(event: Event) -> sa.Select:
    return sa.select(Invitation.person_id).where(Invitation.event_id == event.id, Invitation.status.in_(CONCERNED))


def notify_change(event: Event) -> int:
    """Tell everyone who accepted (or waits, or said maybe) that the event changed, with an updated .ics.

    For the event pages, after a change of time or place was saved. SEQUENCE rises so that calendars
    replace the entry; each call is one new notice, so call it once per saved change.
    """
    if event.status == EventStatus.cancelled or is_over(event):
        return 0
    bump_sequence(event)  # once per save, however many parts of the event changed
    db.session.flush()
    return pipeline.queue(f"{CHANGED}:{event.ical_sequence}", event.id, _concerned(event))


def move_event(event: Event, *, starts_at, ends_at, actor) -> int:
    """Move the event (and its agenda by the same amount) and tell those concerned; returns the mails queued."""
    if event.status == EventStatus.cancelled or is_over(event):
        raise ValidationFailed(None, "Eine abgesagte oder vergangene Veranstaltung kann nicht verlegt werden.")
    if ends_at < starts_at:
        raise ValidationFailed("ends_at", "Das Ende muss nach dem Beginn liegen.")
    if starts_at <= utcnow():
        raise ValidationFailed("starts_at", "Bitte wählen Sie einen Beginn in der Zukunft.")
    shift = starts_at - event.starts_at
    changes = apply_changes(event, {"starts_at": starts_at, "ends_at": ends_at})
    if not changes:
        return 0
    for session in event.sessions if shift else ():
        session_changes = apply_changes(session, {
            "starts_at": session.starts_at + shift if session.starts_at else None,
            "ends_at": session.ends_at + shift if session.ends_at else None,
        })  # fmt: skip
        record("update", session, actor=actor, changes=session_changes)
    record("update", event, actor=actor, changes=changes)
    return notify_change(event)


def cancel_event(event: Event, *, actor) -> int:
    """Cancel the event and send those concerned a cancellation (.ics with METHOD:CANCEL); twice does nothing."""
    if event.status == EventStatus.cancelled:
        return 0
    if is_over(event):
        raise ValidationFailed(None, "Die Veranstaltung ist bereits vorbei.")
    changes = apply_changes(event, {"status": EventStatus.cancelled, "ical_sequence": event.ical_sequence + 1})
    record("update", event, actor=actor, changes=changes)
    return notify_cancellation(event)


def notify_cancellation(event: Event) -> int:
    """Queue the cancellation (.ics with METHOD:CANCEL) for everyone concerned; once per person."""
    return pipeline.queue(CANCELLED, event.id, _concerned(event))


# --- confirmation of an answer ----------------------------------------------------------------------------------


def confirm_answer(invitation: Invitation) -> None:
    """Confirm an answer by mail (call after the commit): to the deputy if one was named, the invitee in copy."""
    run_in_background(_confirm, invitation.id)


def _confirm(invitation_id: int) -> None:
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or not (invitation.person.email or invitation.deputy_email):
        return
    person, event = invitation.person, invitation.event
    subject = f"Ihre Antwort: {event.title}"
    context = _context(event, person, rsvp_url(invitation), invitation)
    to, cc = recipient(person.full_name, person.email) if person.email else None, None
    if invitation.deputy_email:
        context["salutation"] = f"Guten Tag {invitation.deputy_name}"
        to, cc = recipient(invitation.deputy_name, invitation.deputy_email), to
    html, text = render_mail("event_confirmation", subject=subject, **context)
    try:
        coming = invitation.status in (InvitationStatus.accepted, InvitationStatus.tentative)
        _send_now(_message(to, subject, html, text, event, cc, calendar=coming))
    except TransportError:
        logger.exception("Confirmation for invitation %s could not be sent", invitation_id)

