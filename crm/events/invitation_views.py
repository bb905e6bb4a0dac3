"""The office's invitation pages of an event: invite, follow the answers, remind, export, sign-in list,
check-in at the door, move or cancel. Staff only."""
from datetime import date
from typing import Any, Callable

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.auth.forms import EmptyForm
from crm.contacts.export import export_response
from crm.contacts.filters import PersonFilter
from crm.contacts.models import Person, Segment
from crm.errors import saved, submitted
from crm.events import sending
from crm.events.invitation_forms import REMINDERS, MoveForm, OfficeAnswerForm, ReminderForm
from crm.events.invitations import (
    CONCERNED, INVITATION, check_in as record_check_in, closed_reason, fill_from_waitlist, free_places, invite, is_over,
    places_taken, preview_recipients, respond, status_counts,
)  # fmt: skip
from crm.events.models import Event, EventStatus, Invitation, InvitationStatus
from crm.events.needs import needs_counts, purge_needs as purge_event_needs
from crm.events.participants import EXPORT_COLUMNS, STATUS_TAB, TABS, InvitationFilter, attendees, export_rows, tab_counts, with_people
from crm.extensions import db
from crm.mail.models import DeliveryStatus
from crm.mail.transports import TransportError
from crm.pagination import paginate
from crm.security import roles_required

bp = Blueprint("invitations", __name__, url_prefix="/veranstaltungen")

MAX_PICKED = 500


def _event(event_id: int) -> Event:
    return db.get_or_404(Event, event_id)


def _invitation(event: Event, invitation_id: int) -> Invitation:
    invitation = db.get_or_404(Invitation, invitation_id)
    if invitation.event_id != event.id:
        abort(404)
    return invitation


def _selection(args) -> tuple[Segment | None, list[int]]:
    """The chosen segment and people from the URL (choosing) or the form (sending)."""
    segment_id = args.get("segment", type=int)
    picked = sorted({int(v) for v in args.getlist("person") if v.isdigit()})[:MAX_PICKED]
    return (db.session.get(Segment, segment_id) if segment_id else None), picked


def _selection_args(segment: Segment | None, picked: list[int], **extra) -> dict:
    return {**({"segment": segment.id} if segment else {}), **({"person": picked} if picked else {}), **extra}


def _flash_refusal(form, fallback: str = "Das hat nicht geklappt. Bitte versuchen Sie es erneut.") -> None:
    flash(" ".join(form.form_errors) or fallback, "error")


def _submitted(form, event: Event, write: Callable[[], Any]) -> tuple[bool, Any]:
    """Validate, run the service write and commit, then send the mails it queued: (done, the write's result)."""
    ok, result = submitted(form, write)
    if ok:
        sending.deliver(event)
    return ok, result


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


@bp.get("/<int:event_id>/einladungen/")
@roles_required("office")
def index(event_id: int):
    event = _event(event_id)
    invitation_filter = InvitationFilter.from_args(request.args)
    page = paginate(with_people(invitation_filter.statement(event)), page=request.args.get("page", 1, type=int), per_page=50)
    tabs = tab_counts(status_counts(event))
    deliveries = sending.delivery_counts(event)
    return render_template(
        "events/invitations/index.html", event=event, filter=invitation_filter, page=page, tabs=tabs, tab_labels=TABS,
        total=sum(tabs.values()), taken=places_taken(event), free=free_places(event), deliveries=deliveries,
        undelivered=sending.undelivered(event, deliveries), undelivered_shown=sending.UNDELIVERED_SHOWN,
        needs=needs_counts(event), closed=closed_reason(event), over=is_over(event), form=EmptyForm(), reminder_form=ReminderForm(),
        mailing_labels=sending.MAILING_LABELS, delivery_labels={s.value: s.label for s in DeliveryStatus}, status_tab=STATUS_TAB,
        paused=sending.paused_mailings(event),
    )  # fmt: skip


@bp.post("/<int:event_id>/einladungen/versand-fortsetzen")
@roles_required("office")
def resume_mailings(event_id: int):
    """Resume the event's mails after they paused themselves (too many failed delivery attempts)."""
    event = _event(event_id)
    done, number = _submitted(EmptyForm(), event, lambda: sending.resume_mailings(event))
    if done:
        flash("Der Versand geht weiter." if number else "Es war kein Versand angehalten.", "success")
    return redirect(url_for("invitations.index", event_id=event.id))


@bp.get("/<int:event_id>/einladungen/neu")
@roles_required("office")
def new(event_id: int):
    event = _event(event_id)
    segment, picked = _selection(request.args)
    q = request.args.get("q", "").strip()[:200]
    hits = []
    if q:
        hits = db.session.scalars(PersonFilter(q=q).statement().where(Person.id.not_in(picked)).limit(20)).all()
    chosen = db.session.scalars(sa.select(Person).where(Person.id.in_(picked)).order_by(Person.last_name, Person.first_name)).all()
    return render_template(
        "events/invitations/new.html", event=event, segment=segment, picked=picked, chosen=chosen, q=q, hits=hits,
        preview=preview_recipients(event, segment, picked), selection=_selection_args(segment, picked),
        segments=db.session.scalars(sa.select(Segment).order_by(Segment.name)).all(), form=EmptyForm(),
        closed=event.status == EventStatus.cancelled or is_over(event),
    )  # fmt: skip


def _sample_person(event: Event, args) -> Person:
    """Whom the preview shows the mail for: the first recipient, or the office user."""
    segment, picked = _selection(args)
    preview = preview_recipients(event, segment, picked, limit=1)
    return preview.invited[0] if preview.invited else current_user.person


@bp.get("/<int:event_id>/einladungen/neu/vorschau")
@roles_required("office")
def preview_mail(event_id: int):
    event = _event(event_id)
    _, html, _ = sending.compose(INVITATION, event, _sample_person(event, request.args), sending.preview_link())
    return Response(html, mimetype="text/html")


@bp.post("/<int:event_id>/einladungen/neu/test")
@roles_required("office")
def send_test(event_id: int):
    event = _event(event_id)
    form = EmptyForm()
    segment, picked = _selection(request.form)
    if form.validate_on_submit():
        person = _sample_person(event, request.form)
        try:
            sending.send_test(event, person, to_email=current_user.email, to_name=current_user.person.full_name)
        except TransportError as error:
            flash(f"Die Testmail konnte nicht versandt werden. {error}", "error")
        else:
            flash(f"Die Testmail (so, wie {person.full_name} sie erhält) ist an {current_user.email} unterwegs.", "success")
    return redirect(url_for("invitations.new", event_id=event.id, **_selection_args(segment, picked)))


@bp.post("/<int:event_id>/einladungen/neu")
@roles_required("office")
def send(event_id: int):
    event = _event(event_id)
    form = EmptyForm()
    segment, picked = _selection(request.form)
    done, number = _submitted(form, event, lambda: invite(event, segment=segment, person_ids=picked, actor=current_user))
    if done:
        flash(f"{_count(number, 'Einladung wird', 'Einladungen werden')} versandt." if number
              else "Alle Ausgewählten sind bereits eingeladen; es wurde nichts erneut versandt.", "success")  # fmt: skip
        return redirect(url_for("invitations.index", event_id=event.id))
    _flash_refusal(form)
    return redirect(url_for("invitations.new", event_id=event.id, **_selection_args(segment, picked)))


@bp.route("/<int:event_id>/einladungen/<int:invitation_id>", methods=["GET", "POST"])
@roles_required("office")
def edit(event_id: int, invitation_id: int):
    event = _event(event_id)
    invitation = _invitation(event, invitation_id)
    form = OfficeAnswerForm.for_invitation(invitation)
    done, _ = _submitted(form, event, lambda: respond(invitation, form.answer(), actor=current_user))
    if done:  # people who moved up from the waitlist are told by _submitted
        if form.confirm.data:
            sending.confirm_answer(invitation)
        flash(f"Die Antwort von {invitation.person.full_name} ist gespeichert: {invitation.status.label}.", "success")
        return redirect(url_for("invitations.index", event_id=event.id))
    return render_template("events/invitations/edit.html", event=event, invitation=invitation, form=form)


@bp.post("/<int:event_id>/einladungen/erinnern")
@roles_required("office")
def remind(event_id: int):
    event = _event(event_id)
    form = ReminderForm()
    done, number = _submitted(form, event, lambda: sending.queue_reminder(event, REMINDERS[form.kind.data]))
    if done:
        flash(f"{_count(number, 'Erinnerung wird', 'Erinnerungen werden')} versandt." if number
              else "Niemand wartet auf diese Erinnerung: Alle Betroffenen haben sie schon erhalten.", "success")  # fmt: skip
    else:
        _flash_refusal(form)
    return redirect(url_for("invitations.index", event_id=event.id))


@bp.post("/<int:event_id>/einladungen/warteliste")
@roles_required("office")
def fill_waitlist(event_id: int):
    event = _event(event_id)
    done, promoted = _submitted(EmptyForm(), event, lambda: fill_from_waitlist(event, actor=current_user))
    if done:
        flash(f"Von der Warteliste nachgerückt: {', '.join(i.person.full_name for i in promoted)}." if promoted
              else "Niemand auf der Warteliste passt in die freien Plätze.", "success")  # fmt: skip
    return redirect(url_for("invitations.index", event_id=event.id))


@bp.get("/<int:event_id>/einladungen/export.<fmt>")
@roles_required("office")
def export(event_id: int, fmt: str):
    event = _event(event_id)
    rows = export_rows(event, InvitationFilter.from_args(request.args))
    return export_response(fmt, EXPORT_COLUMNS, rows, name=f"teilnehmende-{event.id}-{date.today():%Y-%m-%d}", title="Teilnehmende")


@bp.get("/<int:event_id>/einladungen/verpflegung.csv")
@roles_required("office")
def needs_export(event_id: int):
    """For the caterer and the venue: counts only, no names."""
    event = _event(event_id)
    rows = [("Personen mit Zusage, einschließlich Begleitung", places_taken(event)), *needs_counts(event)]
    return export_response("csv", [("Angabe", lambda r: r[0]), ("Anzahl", lambda r: r[1])], rows,
                           name=f"verpflegung-{event.id}", title="Verpflegung")  # fmt: skip


@bp.get("/<int:event_id>/einladungen/unterschriften")
@roles_required("office")
def signin(event_id: int):
    event = _event(event_id)
    return render_template("events/invitations/signin.html", event=event, attendees=attendees(event))


@bp.get("/<int:event_id>/einladungen/einlass")
@roles_required("office")
def checkin(event_id: int):
    event = _event(event_id)
    q = request.args.get("q", "").strip()[:200]
    search = InvitationFilter(q=q) if q else InvitationFilter(status="accepted")
    rows = db.session.scalars(with_people(search.statement(event)).limit(50 if q else 1000)).all()
    present = db.session.scalar(sa.select(sa.func.count()).where(Invitation.event_id == event.id, Invitation.checked_in_at.is_not(None)))
    return render_template("events/invitations/checkin.html", event=event, q=q, rows=rows, present=present,
                           expected=status_counts(event)[InvitationStatus.accepted], form=EmptyForm())  # fmt: skip


@bp.post("/<int:event_id>/einladungen/<int:invitation_id>/einlass")
@roles_required("office")
def check_in(event_id: int, invitation_id: int):
    event = _event(event_id)
    invitation = _invitation(event, invitation_id)
    form = EmptyForm()
    present = request.form.get("present") == "1"
    if form.validate_on_submit() and saved(form, lambda: record_check_in(invitation, present=present, actor=current_user)):
        name = invitation.deputy_name or invitation.person.full_name
        flash(f"{name} ist {'da' if present else 'nicht mehr als anwesend vermerkt'}.", "success")
    q = request.form.get("q", "").strip()
    return redirect(url_for("invitations.checkin", event_id=event.id, **({"q": q} if q else {})) + f"#einladung-{invitation.id}")


@bp.route("/<int:event_id>/einladungen/verlegen", methods=["GET", "POST"])
@roles_required("office")
def move(event_id: int):
    event = _event(event_id)
    form = MoveForm.for_event(event)
    done, number = _submitted(form, event, lambda: sending.move_event(event, **form.times(), actor=current_user))
    if done:
        flash(f"Die Veranstaltung ist verlegt. {_count(number, 'Person wird', 'Personen werden')} "
              "mit dem aktualisierten Kalendereintrag benachrichtigt.", "success")  # fmt: skip
        return redirect(url_for("invitations.index", event_id=event.id))
    return render_template("events/invitations/move.html", event=event, form=form)


@bp.route("/<int:event_id>/einladungen/absagen", methods=["GET", "POST"])
@roles_required("office")
def cancel(event_id: int):
    event = _event(event_id)
    form = EmptyForm()
    done, number = _submitted(form, event, lambda: sending.cancel_event(event, actor=current_user))
    if done:
        flash(f"Die Veranstaltung ist abgesagt. {_count(number, 'Person wird', 'Personen werden')} benachrichtigt.", "success")
        return redirect(url_for("invitations.index", event_id=event.id))
    counts = status_counts(event)
    concerned = sum(counts[s] for s in CONCERNED)
    return render_template("events/invitations/cancel.html", event=event, form=form, concerned=concerned)


@bp.post("/<int:event_id>/einladungen/gesundheitsangaben-loeschen")
@roles_required("office")
def purge_needs(event_id: int):
    event = _event(event_id)
    form = EmptyForm()
    if not is_over(event):
        flash("Angaben zu Verpflegung und Barrierefreiheit werden erst nach der Veranstaltung gelöscht.", "error")
    elif form.validate_on_submit():
        number = purge_event_needs(event, actor=current_user)
        db.session.commit()
        flash(f"{number} Angaben zu Verpflegung und Barrierefreiheit gelöscht.", "success")
    return redirect(url_for("invitations.index", event_id=event.id))
