"""The office's event pages: list, detail, create and edit, status, delete, the agenda editor with
sessions and speakers, the printable programme and the .ics download."""
import re
from typing import Callable

import sqlalchemy as sa
from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload

from crm.auth.forms import EmptyForm
from crm.contacts.search import fold
from crm.errors import submitted
from crm.events import agenda as agenda_services
from crm.events.display import TEMPLATE_FILTERS
from crm.events.filters import EventFilter, event_years
from crm.events.forms import KIND_CHOICES, EventForm, MoveForm, SessionForm, SpeakerForm, SpeakerTextForm, StatusForm
from crm.events import sending
from crm.events.ics import event_calendar
from crm.events.invitations import status_counts
from crm.events.needs import purge_needs
from crm.events.models import Event, EventSession, EventStatus, SessionSpeaker, Statement
from crm.events.services import change_status, create_event, delete_event, event_history, next_statuses, update_event
from crm.extensions import db
from crm.pagination import paginate
from crm.security import roles_required

bp = Blueprint("events", __name__, url_prefix="/veranstaltungen")

for _name, _function in TEMPLATE_FILTERS.items():
    bp.add_app_template_filter(_function, _name)

#: Button labels for the status changes on the detail page.
STATUS_ACTIONS = {
    EventStatus.published: "Veröffentlichen",
    EventStatus.done: "Als durchgeführt abschließen",
    EventStatus.cancelled: "Absagen",
}



def _with_agenda(stmt: sa.Select) -> sa.Select:
    """Sessions, speakers and their people in a fixed number of queries."""
    return stmt.options(
        selectinload(Event.sessions).selectinload(EventSession.speakers).joinedload(SessionSpeaker.person)
    )


def _event(event_id: int, *, with_agenda: bool = True) -> Event:
    stmt = sa.select(Event).where(Event.id == event_id)
    return db.first_or_404(_with_agenda(stmt) if with_agenda else stmt)


def _session(session_id: int) -> EventSession:
    return db.first_or_404(
        sa.select(EventSession).where(EventSession.id == session_id).options(
            joinedload(EventSession.event), selectinload(EventSession.speakers).joinedload(SessionSpeaker.person)
        )
    )  # fmt: skip


def _speaker(speaker_id: int) -> SessionSpeaker:
    return db.first_or_404(
        sa.select(SessionSpeaker).where(SessionSpeaker.id == speaker_id).options(
            joinedload(SessionSpeaker.person), joinedload(SessionSpeaker.session).joinedload(EventSession.event)
        )
    )  # fmt: skip


# --- list and detail -----------------------------------------------------------------------------


@bp.get("/")
@roles_required("office")
def index():
    event_filter = EventFilter.from_args(request.args)
    page = paginate(
        event_filter.statement(),
        page=request.args.get("page", 1, type=int),
        per_page=request.args.get("per_page", 50, type=int),
    )
    counts = dict(db.session.execute(event_filter.status_counts()).all())
    ids = [event.id for event in page.items]
    per_event = sa.select(EventSession.event_id, sa.func.count()).where(EventSession.event_id.in_(ids))
    session_counts = dict(db.session.execute(per_event.group_by(EventSession.event_id)).all()) if ids else {}
    return render_template(
        "events/office/index.html",
        page=page,
        filter=event_filter,
        status_counts=[(status, counts.get(status, 0)) for status in EventStatus],
        all_count=sum(counts.values()),
        session_counts=session_counts,
        status_options=[(s.value, s.label) for s in EventStatus],
        kind_options=KIND_CHOICES,
        years=[(year, year) for year in event_years()],
    )


def _render_show(event: Event, status_form: StatusForm | None = None):
    return render_template(
        "events/office/show.html",
        event=event,
        history=event_history(event),
        status_form=status_form or StatusForm(),
        status_actions=[(status, STATUS_ACTIONS[status]) for status in next_statuses(event)],
        answer_counts={status: n for status, n in status_counts(event).items() if n},
        statement_count=db.session.scalar(
            sa.select(sa.func.count(Statement.id)).join(EventSession).where(EventSession.event_id == event.id)
        ),
    )


@bp.get("/<int:event_id>")
@roles_required("office")
def show(event_id: int):
    return _render_show(_event(event_id))


@bp.route("/neu", methods=["GET", "POST"])
@roles_required("office")
def new():
    form = EventForm(data={"kind": "workshop"})
    ok, event = submitted(form, lambda: create_event(form.event_data(), actor=current_user))
    if ok:
        flash(f"„{event.title}“ wurde als Entwurf angelegt. Jetzt können Sie den Ablauf planen.", "success")
        return redirect(url_for("events.agenda", event_id=event.id))
    return render_template("events/office/form.html", form=form, event=None)


@bp.route("/<int:event_id>/bearbeiten", methods=["GET", "POST"])
@roles_required("office")
def edit(event_id: int):
    event = _event(event_id)
    form = EventForm.for_event(event)
    ok, told = submitted(form, lambda: _update_and_notify(event, form.event_data()))
    if ok:
        sending.deliver(event)
        flash("Die Änderungen wurden gespeichert." + (f" {told} Angemeldete erhalten eine Nachricht mit dem neuen Kalendereintrag." if told else ""), "success")
        return redirect(url_for("events.show", event_id=event.id))
    return render_template("events/office/form.html", form=form, event=event)


#: Changes the people who accepted must hear about (with an updated calendar entry).
NOTICE_FIELDS = {"starts_at", "ends_at", "venue", "room", "street", "postal_code", "city", "online_url"}


def _update_and_notify(event: Event, data: dict) -> int:
    changes = update_event(event, data, actor=current_user)
    return sending.notify_change(event) if NOTICE_FIELDS & changes.keys() else 0


def _change_status_and_notify(event: Event, status: str) -> None:
    """A cancellation reaches everyone concerned; when the event is done, its health data goes (Art. 9)."""
    change_status(event, status, actor=current_user)
    if event.status == EventStatus.cancelled:
        sending.notify_cancellation(event)
    elif event.status == EventStatus.done:
        purge_needs(event, actor=current_user)


@bp.post("/<int:event_id>/status")
@roles_required("office")
def set_status(event_id: int):
    event = _event(event_id)
    form = StatusForm()
    ok, _ = submitted(form, lambda: _change_status_and_notify(event, form.status.data))
    if ok:
        sending.deliver(event)
        flash(f"„{event.title}“ ist jetzt {event.status.label}.", "success")
        return redirect(url_for("events.show", event_id=event.id))
    return _render_show(_event(event_id), form)


@bp.route("/<int:event_id>/loeschen", methods=["GET", "POST"])
@roles_required("office")
def delete(event_id: int):
    event = _event(event_id)
    form = EmptyForm()
    if request.method == "POST":
        title = event.title
        ok, _ = submitted(form, lambda: delete_event(event, actor=current_user))
        if ok:
            flash(f"Der Entwurf „{title}“ wurde gelöscht.", "success")
            return redirect(url_for("events.index"))
        event = _event(event_id)
    return render_template("events/office/delete.html", event=event, form=form)


# --- programme and calendar file -----------------------------------------------------------------


@bp.get("/<int:event_id>/programm")
@roles_required("office")
def programme(event_id: int):
    return render_template("events/programme.html", event=_event(event_id))


@bp.get("/<int:event_id>/kalender.ics")
@roles_required("office")
def calendar(event_id: int):
    event = _event(event_id)
    name = re.sub(r"[^a-z0-9]+", "-", fold(event.title)).strip("-")[:60] or "veranstaltung"
    return Response(
        event_calendar(event),
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="{name}.ics"'},
    )


# --- agenda --------------------------------------------------------------------------------------


def _render_agenda(event: Event, form: SessionForm | None = None):
    form = form or SessionForm(event=event)
    return render_template("events/office/agenda.html", event=event, form=form, move_form=MoveForm())


@bp.get("/<int:event_id>/ablauf")
@roles_required("office")
def agenda(event_id: int):
    return _render_agenda(_event(event_id))


@bp.post("/<int:event_id>/ablauf")
@roles_required("office")
def add_session(event_id: int):
    event = _event(event_id)
    form = SessionForm(event=event)
    ok, session = submitted(form, lambda: agenda_services.add_session(event, form.session_data(), actor=current_user))
    if ok:
        flash(f"„{session.title}“ wurde in den Ablauf aufgenommen.", "success")
        return redirect(url_for("events.agenda", event_id=event.id, _anchor=f"punkt-{session.id}"))
    return _render_agenda(_event(event_id), form)


def _render_session(session: EventSession, form: SessionForm | None = None, speaker_form: SpeakerForm | None = None):
    return render_template(
        "events/office/session.html",
        session=session,
        event=session.event,
        form=form or SessionForm.for_session(session),
        speaker_form=speaker_form or SpeakerForm(formdata=None),
        move_form=MoveForm(),
    )


@bp.route("/programmpunkte/<int:session_id>", methods=["GET", "POST"])
@roles_required("office")
def edit_session(session_id: int):
    session = _session(session_id)
    form = SessionForm.for_session(session)
    ok, _ = submitted(form, lambda: agenda_services.update_session(session, form.session_data(), actor=current_user))
    if ok:
        flash("Der Programmpunkt wurde gespeichert.", "success")
        return redirect(url_for("events.agenda", event_id=session.event_id, _anchor=f"punkt-{session.id}"))
    return _render_session(session if request.method == "GET" else _session(session_id), form)


@bp.post("/programmpunkte/<int:session_id>/loeschen")
@roles_required("office")
def delete_session(session_id: int):
    session = _session(session_id)
    event_id, title = session.event_id, session.title
    agenda_services.delete_session(session, actor=current_user)
    db.session.commit()
    flash(f"„{title}“ wurde aus dem Ablauf entfernt.", "success")
    return redirect(url_for("events.agenda", event_id=event_id))


def _move(mover: Callable, item, back: str):
    """One place up or down (the form's direction), then back to the list."""
    form = MoveForm()
    submitted(form, lambda: mover(item, form.direction.data, actor=current_user))
    return redirect(back)


@bp.post("/programmpunkte/<int:session_id>/verschieben")
@roles_required("office")
def move_session(session_id: int):
    session = _session(session_id)
    back = url_for("events.agenda", event_id=session.event_id, _anchor=f"punkt-{session.id}")
    return _move(agenda_services.move_session, session, back)


# --- speakers ------------------------------------------------------------------------------------


@bp.post("/programmpunkte/<int:session_id>/mitwirkende")
@roles_required("office")
def add_speaker(session_id: int):
    session = _session(session_id)
    form = SpeakerForm()
    ok, speaker = submitted(
        form,
        lambda: agenda_services.add_speaker(
            session, agenda_services.resolve_person(form.person.data), actor=current_user, **form.speaker_data()
        ),
    )
    if ok:
        flash(f"{speaker.person.full_name} wirkt bei „{session.title}“ mit.", "success")
        return redirect(url_for("events.edit_session", session_id=session.id, _anchor="mitwirkende"))
    return _render_session(_session(session_id), speaker_form=form)


@bp.route("/mitwirkende/<int:speaker_id>", methods=["GET", "POST"])
@roles_required("office")
def edit_speaker(speaker_id: int):
    speaker = _speaker(speaker_id)
    form = SpeakerTextForm(data={"role_text": speaker.role_text, "affiliation_text": speaker.affiliation_text})
    ok, _ = submitted(form, lambda: agenda_services.update_speaker(speaker, form.speaker_data(), actor=current_user))
    if ok:
        flash("Die Angaben für das Programm wurden gespeichert.", "success")
        return redirect(url_for("events.edit_session", session_id=speaker.session_id, _anchor="mitwirkende"))
    crm_role = ", ".join(p for p in agenda_services.printed_role(speaker.person) if p)
    return render_template("events/office/speaker.html", speaker=speaker, form=form, crm_role=crm_role)


@bp.post("/mitwirkende/<int:speaker_id>/entfernen")
@roles_required("office")
def remove_speaker(speaker_id: int):
    speaker = _speaker(speaker_id)
    session_id, name = speaker.session_id, speaker.person.full_name
    agenda_services.remove_speaker(speaker, actor=current_user)
    db.session.commit()
    flash(f"{name} wurde aus dem Programmpunkt entfernt.", "success")
    return redirect(url_for("events.edit_session", session_id=session_id, _anchor="mitwirkende"))


@bp.post("/mitwirkende/<int:speaker_id>/verschieben")
@roles_required("office")
def move_speaker(speaker_id: int):
    speaker = _speaker(speaker_id)
    back = url_for("events.edit_session", session_id=speaker.session_id, _anchor="mitwirkende")
    return _move(agenda_services.move_speaker, speaker, back)


@bp.get("/personen-vorschlaege")
@roles_required("office")
def suggest_people():
    """Up to 10 people matching what was typed, for the speaker field's suggestions."""
    people = agenda_services.find_people(request.args.get("q", ""))
    role = lambda p: ", ".join(x for x in agenda_services.printed_role(p) if x)  # noqa: E731
    return jsonify([{"value": agenda_services.person_label(p), "label": role(p)} for p in people])
