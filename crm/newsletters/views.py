"""The office's newsletter pages: the list, settings, the composer with its blocks, deleting a draft.
Preview, test mails, sending and the delivery list are in crm.newsletters.sending_views."""
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from crm.auth.forms import EmptyForm
from crm.errors import submitted
from crm.events.forms import MoveForm
from crm.extensions import db
from crm.newsletters import blocks as services
from crm.newsletters.forms import NewsletterForm, block_form, new_block_form
from crm.newsletters.models import BlockKind, Newsletter, NewsletterBlock, NewsletterStatus
from crm.newsletters.office import delivery_figures
from crm.pagination import paginate
from crm.security import roles_required

bp = Blueprint("newsletters", __name__, url_prefix="/newsletters")



def newsletter_or_404(newsletter_id: int) -> Newsletter:
    return db.first_or_404(
        sa.select(Newsletter).where(Newsletter.id == newsletter_id).options(selectinload(Newsletter.blocks))
    )


def _block(block_id: int) -> NewsletterBlock:
    return db.get_or_404(NewsletterBlock, block_id)


def _frozen_notice(newsletter: Newsletter):
    """Back to the composer with the reason, for a change to a newsletter that is already going out."""
    flash(services.FROZEN_MESSAGE, "error")
    return redirect(url_for("newsletters.show", newsletter_id=newsletter.id))


# --- list -------------------------------------------------------------------------------------------------------


@bp.get("/")
@roles_required("office")
def index():
    status = request.args.get("status", "")
    stmt = sa.select(Newsletter).options(selectinload(Newsletter.segment))
    if status in NewsletterStatus.__members__:
        stmt = stmt.where(Newsletter.status == NewsletterStatus(status))
    else:
        status = ""
    newest = sa.func.coalesce(Newsletter.started_at, Newsletter.scheduled_at, Newsletter.created_at)
    page = paginate(stmt.order_by(newest.desc(), Newsletter.id.desc()), page=request.args.get("page", 1, type=int), per_page=50)
    counts = dict(db.session.execute(sa.select(Newsletter.status, sa.func.count()).group_by(Newsletter.status)).all())
    return render_template(
        "newsletters/index.html", page=page, status=status, all_count=sum(counts.values()),
        status_counts=[(s, counts.get(s, 0)) for s in NewsletterStatus],
        figures=delivery_figures([n.id for n in page.items]),
    )  # fmt: skip


# --- settings ---------------------------------------------------------------------------------------------------


@bp.route("/neu", methods=["GET", "POST"])
@roles_required("office")
def new():
    form = NewsletterForm()
    ok, newsletter = submitted(form, lambda: services.create_newsletter(form.newsletter_data(), actor=current_user))
    if ok:
        flash(f"„{newsletter.subject}“ wurde als Entwurf angelegt. Fügen Sie jetzt die Inhalte hinzu.", "success")
        return redirect(url_for("newsletters.show", newsletter_id=newsletter.id))
    return render_template("newsletters/form.html", form=form, newsletter=None)


@bp.route("/<int:newsletter_id>/einstellungen", methods=["GET", "POST"])
@roles_required("office")
def edit(newsletter_id: int):
    newsletter = newsletter_or_404(newsletter_id)
    if newsletter.is_frozen:
        return _frozen_notice(newsletter)
    form = NewsletterForm.for_newsletter(newsletter) if request.method == "GET" else NewsletterForm()
    ok, _ = submitted(form, lambda: services.update_newsletter(newsletter, form.newsletter_data(), actor=current_user))
    if ok:
        flash("Die Einstellungen wurden gespeichert.", "success")
        return redirect(url_for("newsletters.show", newsletter_id=newsletter.id))
    return render_template("newsletters/form.html", form=form, newsletter=newsletter)


@bp.route("/<int:newsletter_id>/loeschen", methods=["GET", "POST"])
@roles_required("office")
def delete(newsletter_id: int):
    newsletter = newsletter_or_404(newsletter_id)
    form = EmptyForm()
    if request.method == "POST":
        subject = newsletter.subject
        ok, _ = submitted(form, lambda: services.delete_newsletter(newsletter, actor=current_user))
        if ok:
            flash(f"Der Entwurf „{subject}“ wurde gelöscht.", "success")
            return redirect(url_for("newsletters.index"))
        newsletter = newsletter_or_404(newsletter_id)
    return render_template("newsletters/delete.html", newsletter=newsletter, form=form)


# --- composer ---------------------------------------------------------------------------------------------------


def _render_composer(newsletter: Newsletter, *, failed: Any = None):
    """The composer; `failed` is the submitted form that was refused (shown with its errors, open)."""
    forms = {block.id: block_form(block) for block in newsletter.blocks}
    new_forms = {kind: new_block_form(kind) for kind in BlockKind}
    open_kind = None
    if failed is not None:
        if failed.block is not None:
            forms[failed.block.id] = failed.form
        else:
            new_forms[failed.kind], open_kind = failed.form, failed.kind
    return render_template(
        "newsletters/composer.html", newsletter=newsletter, forms=forms, new_forms=new_forms, open_kind=open_kind,
        move_form=MoveForm(formdata=None), button_form=EmptyForm(formdata=None), kinds=list(BlockKind),
    )  # fmt: skip


class _Refused:
    """A refused block form and what it was for (an existing block, or a new block of a kind)."""

    def __init__(self, form, *, block: NewsletterBlock | None = None, kind: BlockKind | None = None):
        self.form, self.block, self.kind = form, block, kind


def _anchor(block: NewsletterBlock) -> str:
    return url_for("newsletters.show", newsletter_id=block.newsletter_id, _anchor=f"block-{block.id}")


@bp.get("/<int:newsletter_id>")
@roles_required("office")
def show(newsletter_id: int):
    return _render_composer(newsletter_or_404(newsletter_id))


@bp.post("/<int:newsletter_id>/bloecke/<kind>")
@roles_required("office")
def add_block(newsletter_id: int, kind: str):
    newsletter = newsletter_or_404(newsletter_id)
    if kind not in BlockKind.__members__:
        abort(404)
    if newsletter.is_frozen:
        return _frozen_notice(newsletter)
    kind = BlockKind(kind)
    form = new_block_form(kind, submitted=True)
    ok, block = submitted(form, lambda: services.add_block(newsletter, kind, form.block_data(), actor=current_user))
    if ok:
        flash(f"Der Block „{block.kind.label}“ wurde angefügt.", "success")
        return redirect(_anchor(block))
    return _render_composer(newsletter_or_404(newsletter_id), failed=_Refused(form, kind=kind))


@bp.post("/bloecke/<int:block_id>")
@roles_required("office")
def edit_block(block_id: int):
    block = _block(block_id)
    if block.newsletter.is_frozen:
        return _frozen_notice(block.newsletter)
    form = block_form(block, submitted=True)
    ok, _ = submitted(form, lambda: services.update_block(block, form.block_data(), actor=current_user))
    if ok:
        flash(f"Der Block „{block.title or block.kind.label}“ wurde gespeichert.", "success")
        return redirect(_anchor(block))
    newsletter = newsletter_or_404(block.newsletter_id)
    return _render_composer(newsletter, failed=_Refused(form, block=_block(block_id)))


@bp.post("/bloecke/<int:block_id>/verschieben")
@roles_required("office")
def move_block(block_id: int):
    block = _block(block_id)
    form = MoveForm()
    ok, _ = submitted(form, lambda: services.move_block(block, form.direction.data, actor=current_user))
    if not ok and block.newsletter.is_frozen:
        return _frozen_notice(block.newsletter)
    return redirect(_anchor(block))


@bp.post("/bloecke/<int:block_id>/entfernen")
@roles_required("office")
def delete_block(block_id: int):
    block = _block(block_id)
    newsletter_id, label = block.newsletter_id, block.title or block.kind.label
    form = EmptyForm()
    ok, _ = submitted(form, lambda: services.delete_block(block, actor=current_user))
    if ok:
        flash(f"Der Block „{label}“ wurde entfernt.", "success")
    elif form.form_errors:
        flash(" ".join(form.form_errors), "error")
    return redirect(url_for("newsletters.show", newsletter_id=newsletter_id))


@bp.post("/bloecke/<int:block_id>/neu-erzeugen")
@roles_required("office")
def refill_block(block_id: int):
    block = _block(block_id)
    form = EmptyForm()
    ok, changes = submitted(form, lambda: services.refill_review(block, actor=current_user))
    if ok:
        flash("Der Text wurde neu aus den Zusammenfassungen erzeugt." if changes
              else "Der Text entspricht bereits den Zusammenfassungen.", "success")  # fmt: skip
    elif form.form_errors:
        flash(" ".join(form.form_errors), "error")
    return redirect(_anchor(block))

