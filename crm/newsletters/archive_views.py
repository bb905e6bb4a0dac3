"""Public pages: the newsletter archive, each sent newsletter's web version (without personal data),
and the page of an upcoming event that newsletters link to ("Mehr erfahren")."""
from email.utils import parseaddr

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, make_response, render_template, request

from crm.events.ics import location
from crm.events.models import Event, EventStatus
from crm.events.sending import when
from crm.extensions import db
from crm.newsletters.models import FROZEN, Newsletter, NewsletterStatus
from crm.newsletters.render import personalize
from crm.newsletters.sending import frozen, values_for
from crm.pagination import paginate
from crm.security import public

bp = Blueprint("archive", __name__)

#: Newsletters the archive lists (a cancelled one went to some people only: reachable by its link).
LISTED = (NewsletterStatus.sending, NewsletterStatus.paused, NewsletterStatus.sent)


@bp.get("/archiv/")
@public
def index():
    stmt = (
        sa.select(Newsletter)
        .where(Newsletter.in_archive.is_(True), Newsletter.status.in_(LISTED))
        .order_by(Newsletter.started_at.desc(), Newsletter.id.desc())
    )
    page = paginate(stmt, page=request.args.get("page", 1, type=int), per_page=20)
    return render_template("newsletters/archive/index.html", page=page)


@bp.get("/archiv/<web_key>")
@public
def show(web_key: str):
    """The newsletter as sent, greeting everybody alike and without the personal links."""
    newsletter = db.session.scalar(sa.select(Newsletter).where(Newsletter.web_key == web_key))
    if newsletter is None or newsletter.status not in FROZEN:
        abort(404)
    html = personalize(frozen(newsletter), values_for(newsletter, None), personal=False).html
    return make_response(html, 200, {"Content-Type": "text/html; charset=utf-8"})


@bp.get("/termine/<int:event_id>")
@public
def event(event_id: int):
    event = db.session.get(Event, event_id)
    if event is None or event.status == EventStatus.draft:
        abort(404)
    contact = parseaddr(current_app.config["MAIL_REPLY_TO"] or current_app.config["MAIL_FROM"])[1]
    return render_template(
        "newsletters/archive/event.html", event=event, when=when(event), where=location(event), contact_address=contact
    )
