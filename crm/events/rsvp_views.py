"""The invited person's own page, opened from the personal link without logging in.

A GET only shows the page: link scanners and mail previews that fetch the URL answer nothing.
Only the form (POST, with CSRF) records an answer, until the deadline; after the event the link
shows no more than that the event is over.
"""
from flask import Blueprint, Response, flash, redirect, render_template, url_for

from crm.errors import saved
from crm.events import sending
from crm.events.ics import event_calendar, location
from crm.events.invitation_forms import RsvpForm
from crm.events.invitations import closed_reason, is_over, respond
from crm.events.links import find_invitation
from crm.events.models import InvitationStatus
from crm.events.participants import waitlist_position
from crm.security import public

bp = Blueprint("rsvp", __name__, url_prefix="/teilnahme")

THANKS = {
    InvitationStatus.accepted: "Vielen Dank für Ihre Zusage! Eine Bestätigung ist per E-Mail unterwegs.",
    InvitationStatus.tentative: "Danke für Ihre Rückmeldung. Bitte sagen Sie uns noch endgültig Bescheid.",
    InvitationStatus.declined: "Schade, dass Sie nicht kommen können. Danke für Ihre Rückmeldung.",
    InvitationStatus.waitlisted: "Die Veranstaltung ist leider ausgebucht. Sie stehen auf der Warteliste; "
                                 "wir schreiben Ihnen, sobald ein Platz frei wird.",
}  # fmt: skip


def _over(event):
    return render_template("events/rsvp/over.html", event=event), 410


@bp.route("/<token>", methods=["GET", "POST"])
@public
def show(token: str):
    if token == sending.PREVIEW_TOKEN:
        return render_template("events/rsvp/preview.html")
    invitation = find_invitation(token)
    event = invitation.event
    if is_over(event):
        return _over(event)
    form = RsvpForm.for_invitation(invitation)
    if form.validate_on_submit() and saved(form, lambda: respond(invitation, form.answer())):
        sending.deliver(event)  # someone may have moved up from the waitlist
        sending.confirm_answer(invitation)
        flash(THANKS.get(invitation.status, "Ihre Antwort ist gespeichert."), "success")
        return redirect(url_for("rsvp.show", token=token))
    closed = closed_reason(event)
    if invitation.status == InvitationStatus.cancelled:
        closed = closed or "Diese Einladung wurde zurückgezogen. Bitte wenden Sie sich an die Geschäftsstelle."
    return render_template("events/rsvp/show.html", invitation=invitation, event=event, form=form, token=token,
                           closed=closed, position=waitlist_position(invitation), when=sending.when(event), where=location(event))  # fmt: skip


@bp.get("/<token>/kalender.ics")
@public
def calendar(token: str):
    invitation = find_invitation(token)
    if is_over(invitation.event):
        return _over(invitation.event)
    return Response(
        event_calendar(invitation.event), mimetype="text/calendar",
        headers={"Content-Disposition": "attachment; filename=veranstaltung.ics"},
    )  # fmt: skip
