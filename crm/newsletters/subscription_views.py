"""Public pages of subscribing, without login: sign-up, its confirmation, unsubscribe, the preference centre.

Link scanners fetch every URL in a mail, so no GET here changes anything: the confirmation page
submits its form by script (with a button when scripts are off), and the unsubscribe page has a
button. The unsubscribe URL also takes the mail program's one-click POST (RFC 8058): any body,
no cookies, no CSRF token, no redirect.
"""
from flask import Blueprint, flash, redirect, render_template, request, url_for

from crm.auth.forms import EmptyForm
from crm.contacts.models import ConsentChannel, Person
from crm.errors import saved
from crm.extensions import csrf, db
from crm.newsletters import subscription as services
from crm.newsletters.links import PREVIEW_TOKEN, preferences_token, read_preferences_token, read_unsubscribe_token
from crm.newsletters.subscription_forms import PreferencesForm, SignupForm
from crm.security import TokenExpired, TokenInvalid, public

bp = Blueprint("subscription", __name__)

PAGES = "newsletters/public"
#: What a person leaves, as the pages say it.
LISTS = {ConsentChannel.newsletter: "den Newsletter", ConsentChannel.event_invitation: "Einladungen zu Veranstaltungen"}


def _client() -> dict:
    return {"ip": request.remote_addr, "user_agent": request.user_agent.string}


def _preferences_link(person: Person | None) -> str | None:
    if person is None or person.erased_at is not None:
        return None
    return url_for("subscription.preferences", token=preferences_token(person))


@bp.route("/abmelden/<token>", methods=["GET", "POST"])
@public
@csrf.exempt
def unsubscribe(token: str):
    if token == PREVIEW_TOKEN:
        return render_template(f"{PAGES}/preview.html")
    person_id, channel = read_unsubscribe_token(token)
    person = db.session.get(Person, person_id)  # None: deleted meanwhile, and so mailed no more
    context = {"person": person, "channel": channel, "list": LISTS[channel], "token": token,
               "masked": services.mask_email(person.email if person else None)}  # fmt: skip
    if request.method == "POST":
        # Mail programs send "List-Unsubscribe=One-Click"; the page's button sends nothing. Any body counts,
        # and only its start is read: anybody may post here.
        one_click = b"List-Unsubscribe=One-Click" in request.stream.read(4096)
        if person is not None:
            source = services.ONE_CLICK_SOURCE if one_click else services.PAGE_SOURCE
            services.unsubscribe(person, channel, source=source, **_client())
            db.session.commit()
        return render_template(f"{PAGES}/unsubscribed.html", preferences=_preferences_link(person), **context)
    subscribed = person is not None and services.is_subscribed(person, channel)
    return render_template(f"{PAGES}/unsubscribe.html", subscribed=subscribed, preferences=_preferences_link(person), **context)


@bp.route("/einstellungen/<token>", methods=["GET", "POST"])
@public
def preferences(token: str):
    try:
        person = db.session.get(Person, read_preferences_token(token))
    except TokenExpired:
        return render_template(f"{PAGES}/preferences_expired.html"), 410
    if person is None or person.erased_at is not None:
        raise TokenInvalid()
    form = PreferencesForm.for_person(person)
    if form.validate_on_submit():
        changed: list[str] = []
        write = lambda: changed.extend(services.save_preferences(  # noqa: E731
            person, newsletter=form.newsletter.data, invitations=form.invitations.data, tag_ids=form.tags.data or [],
            **_client(),
        ))  # fmt: skip
        if saved(form, write):
            flash(f"Gespeichert: {', '.join(changed)}." if changed else "Es gab nichts zu ändern.", "success")
            return redirect(url_for("subscription.preferences", token=token))
    return render_template(f"{PAGES}/preferences.html", form=form, person=person, masked=services.mask_email(person.email),
                           wording=services.PREFERENCES_WORDING)  # fmt: skip


@bp.route("/newsletter/anmelden", methods=["GET", "POST"])
@public
def signup():
    form = SignupForm()
    if form.validate_on_submit():
        if form.is_bot:  # answered like a person, so the trap is not given away
            return redirect(url_for("subscription.signup_sent"))
        write = lambda: services.request_signup(  # noqa: E731
            email=form.email.data, first_name=form.first_name.data, last_name=form.last_name.data,
            tag_ids=form.tags.data or [], **_client(),
        )  # fmt: skip
        if saved(form, write):
            return redirect(url_for("subscription.signup_sent"))
    return render_template(f"{PAGES}/signup.html", form=form, wording=services.signup_wording())


@bp.get("/newsletter/anmelden/danke")
@public
def signup_sent():
    return render_template(f"{PAGES}/signup_sent.html", minutes=int(services.RESEND_INTERVAL.total_seconds() // 60))


@bp.route("/newsletter/bestaetigen/<token>", methods=["GET", "POST"])
@public
def confirm(token: str):
    try:
        signup = services.find_signup(token)
    except TokenExpired:
        return render_template(f"{PAGES}/confirm_problem.html", expired=True), 410
    except TokenInvalid:
        return render_template(f"{PAGES}/confirm_problem.html", expired=False), 400
    if signup.confirmed_at is not None:
        return render_template(f"{PAGES}/confirmed.html", signup=signup, already=True)
    form = EmptyForm()
    confirmed: list[Person] = []
    write = lambda: confirmed.append(services.confirm_signup(signup, ip=request.remote_addr))  # noqa: E731
    if form.validate_on_submit() and saved(form, write):
        preferences = _preferences_link(confirmed[0])
        return render_template(f"{PAGES}/confirmed.html", signup=signup, already=False, preferences=preferences)
    return render_template(f"{PAGES}/confirm.html", form=form, signup=signup, masked=services.mask_email(signup.email))
