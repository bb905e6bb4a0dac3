"""The office's review of an event ("Rückblick"): session summaries and speakers' statements, read by
session, by speaker or by guiding question, and the Markdown a newsletter's event review starts from."""

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.auth.forms import EmptyForm
from crm.errors import submitted
from crm.events import statements as services
from crm.events.forms import MoveForm
from crm.events.models import Event, EventSession, SessionKind, Statement
from crm.events.review_forms import MARKDOWN_HINT, SummaryForm, statement_form
from crm.events.summaries import Review, review_markdown, with_review
from crm.extensions import db
from crm.markdown import to_text
from crm.security import roles_required

bp = Blueprint("reviews", __name__, url_prefix="/veranstaltungen")



def _event(event_id: int) -> Event:
    return db.first_or_404(with_review(sa.select(Event).where(Event.id == event_id)))


def _session(event: Event, session_id: int) -> EventSession:
    session = next((s for s in event.sessions if s.id == session_id), None)
    if session is None or session.kind == SessionKind.break_:
        abort(404)
    return session


def _statement(event: Event, statement_id: int) -> Statement:
    statement = next((s for session in event.sessions for s in session.statements if s.id == statement_id), None)
    if statement is None:
        abort(404)
    return statement


def _session_url(session: EventSession, anchor: str | None = None) -> str:
    return url_for("reviews.edit_session", event_id=session.event_id, session_id=session.id, _anchor=anchor)


# --- reading -------------------------------------------------------------------------------------


@bp.get("/<int:event_id>/rueckblick")
@roles_required("office")
def show(event_id: int):
    """By session: summary and statements in programme order."""
    return render_template("events/review/show.html", review=Review(_event(event_id)))


@bp.get("/<int:event_id>/rueckblick/personen")
@roles_required("office")
def speakers(event_id: int):
    review = Review(_event(event_id))
    return render_template("events/review/speakers.html", review=review, groups=review.by_speaker(), person=None)


@bp.get("/<int:event_id>/rueckblick/personen/<int:person_id>")
@roles_required("office")
def speaker(event_id: int, person_id: int):
    """Everything one person said at the event."""
    review = Review(_event(event_id))
    groups = [g for g in review.by_speaker() if g.voice.person_id == person_id]
    if not groups:
        abort(404)
    return render_template("events/review/speakers.html", review=review, groups=groups, person=groups[0].voice)


@bp.get("/<int:event_id>/rueckblick/leitfragen")
@roles_required("office")
def questions(event_id: int):
    """Each guiding question with every speaker's answer."""
    review = Review(_event(event_id))
    return render_template("events/review/questions.html", review=review, groups=review.by_question())


@bp.get("/<int:event_id>/rueckblick/newsletter")
@roles_required("office")
def newsletter(event_id: int):
    """What a newsletter's event review block starts from: the Markdown, as HTML and as plain text."""
    event = _event(event_id)
    markdown = review_markdown(event)
    return render_template("events/review/newsletter.html", review=Review(event), markdown=markdown, text=to_text(markdown))


# --- summary and statements of a session ---------------------------------------------------------


def _render_session(session: EventSession, form: SummaryForm | None = None, new_form=None, preview: str | None = None):
    return render_template(
        "events/review/session.html",
        review=Review(session.event),
        session=session,
        form=form or SummaryForm(data={"summary": session.summary}),
        new_form=new_form or statement_form(session, formdata=None),
        move_form=MoveForm(),
        preview=preview,
        markdown_hint=MARKDOWN_HINT,
    )


@bp.route("/<int:event_id>/rueckblick/<int:session_id>", methods=["GET", "POST"])
@roles_required("office")
def edit_session(event_id: int, session_id: int):
    """The summary (with a preview before saving) and the statements of one session."""
    session = _session(_event(event_id), session_id)
    form = SummaryForm(data={"summary": session.summary})
    if "preview" in request.form and form.validate_on_submit():
        return _render_session(session, form, preview=form.summary.data or "")
    ok, _ = submitted(form, lambda: services.update_summary(session, form.summary.data, actor=current_user))
    if ok:
        flash("Die Zusammenfassung wurde gespeichert.", "success")
        return redirect(_session_url(session))
    return _render_session(session if request.method == "GET" else _session(_event(event_id), session_id), form)


@bp.post("/<int:event_id>/rueckblick/<int:session_id>/aussagen")
@roles_required("office")
def add_statement(event_id: int, session_id: int):
    session = _session(_event(event_id), session_id)
    form = statement_form(session)
    ok, statement = submitted(
        form, lambda: services.add_statement(session, form.chosen_person(), form.statement_data(), actor=current_user)
    )
    if ok:
        flash("Die Aussage wurde gespeichert.", "success")
        return redirect(_session_url(session, f"aussage-{statement.id}"))
    session = _session(_event(event_id), session_id)
    return _render_session(session, new_form=form)


@bp.route("/<int:event_id>/rueckblick/aussagen/<int:statement_id>", methods=["GET", "POST"])
@roles_required("office")
def edit_statement(event_id: int, statement_id: int):
    statement = _statement(_event(event_id), statement_id)
    session = statement.session
    form = statement_form(session, statement)
    ok, _ = submitted(
        form, lambda: services.update_statement(statement, form.chosen_person(), form.statement_data(), actor=current_user)
    )
    if ok:
        flash("Die Aussage wurde gespeichert.", "success")
        return redirect(_session_url(session, f"aussage-{statement.id}"))
    if request.method == "POST":
        statement = _statement(_event(event_id), statement_id)
    return render_template(
        "events/review/statement.html", review=Review(statement.session.event), statement=statement, form=form,
        markdown_hint=MARKDOWN_HINT,
    )  # fmt: skip


@bp.post("/<int:event_id>/rueckblick/aussagen/<int:statement_id>/loeschen")
@roles_required("office")
def delete_statement(event_id: int, statement_id: int):
    statement = _statement(_event(event_id), statement_id)
    session = statement.session
    ok, _ = submitted(EmptyForm(), lambda: services.delete_statement(statement, actor=current_user))
    if ok:
        flash("Die Aussage wurde gelöscht.", "success")
    return redirect(_session_url(session, "aussagen"))


@bp.post("/<int:event_id>/rueckblick/aussagen/<int:statement_id>/verschieben")
@roles_required("office")
def move_statement(event_id: int, statement_id: int):
    statement = _statement(_event(event_id), statement_id)
    form = MoveForm()
    submitted(form, lambda: services.move_statement(statement, form.direction.data, actor=current_user))
    return redirect(_session_url(statement.session, f"aussage-{statement.id}"))
