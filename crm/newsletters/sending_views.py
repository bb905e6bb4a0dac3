"""The office's pages for getting a newsletter out: preview as a recipient (desktop, mobile, text),
test mails, the send page (audience, problems, send now or plan, pause, resume, cancel, progress)
and the per-recipient delivery list."""
from typing import Callable

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from crm.auth.forms import EmptyForm
from crm.errors import saved
from crm.events.agenda import find_people
from crm.extensions import db
from crm.mail.models import DeliveryStatus
from crm.newsletters import office, sending
from crm.newsletters.forms import ScheduleForm, TestMailForm
from crm.newsletters.models import Newsletter, NewsletterStatus
from crm.newsletters.views import newsletter_or_404
from crm.pagination import paginate
from crm.security import roles_required

bp = Blueprint("newsletter_sending", __name__, url_prefix="/newsletters")


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


# --- preview and test mail --------------------------------------------------------------------------------------


def _person_id(args) -> int | None:
    value = args.get("person", "")
    return int(value) if value.isdigit() else None


def _render_preview(newsletter: Newsletter, test_form: TestMailForm | None = None, person_id: int | None = None):
    audience = sending.audience(newsletter, sample=10)
    person = office.recipient(person_id or _person_id(request.args), audience.sample)
    q = request.args.get("q", "").strip()[:200]
    if test_form is None:
        test_form = TestMailForm(formdata=None, data={"addresses": current_user.email})
    compiled = sending.frozen(newsletter)  # compiled once for the problems and the text version
    return render_template(
        "newsletters/preview.html", newsletter=newsletter, person=person, audience=audience, q=q,
        hits=find_people(q) if q else [], text=office.preview(newsletter, person, compiled).text, test_form=test_form,
        problems=[] if newsletter.is_frozen else sending.problems(newsletter, compiled),
    )  # fmt: skip


@bp.get("/<int:newsletter_id>/vorschau")
@roles_required("office")
def preview(newsletter_id: int):
    return _render_preview(newsletter_or_404(newsletter_id))


@bp.get("/<int:newsletter_id>/vorschau.html")
@roles_required("office")
def preview_html(newsletter_id: int):
    """The personalized HTML for the preview's frames."""
    newsletter = newsletter_or_404(newsletter_id)
    person = office.recipient(_person_id(request.args), sending.audience(newsletter, sample=1).sample)
    response = Response(office.preview(newsletter, person).html, mimetype="text/html")
    # Opened on its own (not in the page's sandboxed frame) it is still a sandbox: no scripts, no forms.
    response.headers["Content-Security-Policy"] = "sandbox"
    return response


@bp.post("/<int:newsletter_id>/test")
@roles_required("office")
def send_test(newsletter_id: int):
    newsletter = newsletter_or_404(newsletter_id)
    form = TestMailForm()
    person_id = _person_id(request.form)
    if not form.validate_on_submit():
        return _render_preview(newsletter, form, person_id)
    # Without anyone to personalize for, the office user is the sample recipient.
    person = office.recipient(person_id, sending.audience(newsletter, sample=1).sample) or current_user.person
    result = office.send_test(newsletter, person, form.address_list())
    if result.sent:
        flash(f"Die Testmail (so, wie {person.full_name} sie erhält) ging an: {', '.join(result.sent)}.", "success")
    for address, error in result.failed.items():
        flash(f"Die Testmail an {address} konnte nicht versandt werden. {error}", "error")
    return redirect(url_for("newsletter_sending.preview", newsletter_id=newsletter.id, **({"person": person_id} if person_id else {})))


# --- sending ----------------------------------------------------------------------------------------------------


def _render_send(newsletter: Newsletter, schedule_form: ScheduleForm | None = None):
    planned = not newsletter.is_frozen
    return render_template(
        "newsletters/send.html", newsletter=newsletter, progress=sending.progress(newsletter),
        audience=sending.audience(newsletter) if planned else None, problems=sending.problems(newsletter) if planned else [],
        schedule_form=schedule_form or ScheduleForm(formdata=None), form=EmptyForm(formdata=None),
        delivery_labels={s.value: s.label for s in DeliveryStatus},
    )  # fmt: skip


@bp.get("/<int:newsletter_id>/versand")
@roles_required("office")
def send_page(newsletter_id: int):
    return _render_send(newsletter_or_404(newsletter_id))


def _act(newsletter_id: int, write: Callable[[Newsletter], object], done: Callable[[Newsletter, object], str], *, deliver=False):
    """A button on the send page: run the state change, commit, (send,) and say what happened."""
    newsletter = newsletter_or_404(newsletter_id)
    form = EmptyForm()
    result: list = []
    if form.validate_on_submit() and saved(form, lambda: result.append(write(newsletter))):
        if deliver:
            sending.deliver(newsletter)
        flash(done(newsletter, result[0]), "success")
    elif form.form_errors:
        flash(" ".join(form.form_errors), "error")
    return redirect(url_for("newsletter_sending.send_page", newsletter_id=newsletter_id))


@bp.post("/<int:newsletter_id>/senden")
@roles_required("office")
def start(newsletter_id: int):
    return _act(
        newsletter_id, lambda n: sending.start(n, actor=current_user),
        lambda n, queued: f"Der Versand hat begonnen: {_count(queued, 'Person erhält', 'Personen erhalten')} den Newsletter.",
        deliver=True,
    )  # fmt: skip


@bp.post("/<int:newsletter_id>/planen")
@roles_required("office")
def schedule(newsletter_id: int):
    newsletter = newsletter_or_404(newsletter_id)
    form = ScheduleForm()
    if form.validate_on_submit() and saved(form, lambda: sending.schedule(newsletter, form.when(), actor=current_user)):
        flash(f"Der Versand ist geplant für {form.scheduled_at.data:%d.%m.%Y, %H:%M} Uhr.", "success")
        return redirect(url_for("newsletter_sending.send_page", newsletter_id=newsletter.id))
    return _render_send(newsletter_or_404(newsletter_id), form)


@bp.post("/<int:newsletter_id>/planung-aufheben")
@roles_required("office")
def unschedule(newsletter_id: int):
    return _act(newsletter_id, lambda n: sending.unschedule(n, actor=current_user),
                lambda n, _: "Die Planung ist aufgehoben; der Newsletter ist wieder ein Entwurf.")  # fmt: skip


@bp.post("/<int:newsletter_id>/anhalten")
@roles_required("office")
def pause(newsletter_id: int):
    return _act(newsletter_id, lambda n: sending.pause(n, actor=current_user),
                lambda n, _: "Der Versand ist angehalten. Wer noch wartet, erhält den Newsletter erst nach dem Fortsetzen.")  # fmt: skip


@bp.post("/<int:newsletter_id>/fortsetzen")
@roles_required("office")
def resume(newsletter_id: int):
    return _act(newsletter_id, lambda n: sending.resume(n, actor=current_user),
                lambda n, _: "Der Versand geht weiter.", deliver=True)  # fmt: skip


@bp.post("/<int:newsletter_id>/abbrechen")
@roles_required("office")
def cancel(newsletter_id: int):
    return _act(
        newsletter_id, lambda n: sending.cancel(n, actor=current_user),
        lambda n, skipped: "Der Versand ist abgebrochen."
        + (f" {_count(skipped, 'Person erhält', 'Personen erhalten')} den Newsletter nicht mehr." if skipped else ""),
    )  # fmt: skip


@bp.get("/<int:newsletter_id>/fortschritt.json")
@roles_required("office")
def progress(newsletter_id: int):
    newsletter = db.get_or_404(Newsletter, newsletter_id)
    figures = sending.progress(newsletter)
    counts = {status.value: figures.counts.get(status.value, 0) for status in DeliveryStatus}
    return jsonify(
        status=newsletter.status.value, status_label=newsletter.status.label, counts=counts, total=figures.total,
        done=figures.done, percent=figures.percent, sending=newsletter.status == NewsletterStatus.sending,
    )  # fmt: skip


# --- deliveries -------------------------------------------------------------------------------------------------


@bp.get("/<int:newsletter_id>/zustellungen")
@roles_required("office")
def deliveries(newsletter_id: int):
    newsletter = newsletter_or_404(newsletter_id)
    status = request.args.get("status", "")
    chosen = DeliveryStatus(status) if status in DeliveryStatus.__members__ else None
    page = paginate(office.deliveries(newsletter, chosen), page=request.args.get("page", 1, type=int), per_page=50)
    return render_template(
        "newsletters/deliveries.html", newsletter=newsletter, page=page, status=chosen.value if chosen else "",
        progress=sending.progress(newsletter), statuses=list(DeliveryStatus),
    )  # fmt: skip

