"""Import: upload -> column mapping -> dry run with per-row report -> import with progress."""
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import FileField

from crm.contacts.export import csv_stream, rows_in_batches
from crm.contacts.imports.fields import FIELDS
from crm.contacts.imports.jobs import create_job, set_mapping, start
from crm.contacts.imports.reader import inspect
from crm.contacts.models import ImportJob, ImportRowResult
from crm.errors import ValidationFailed
from crm.extensions import db
from crm.security import roles_required

bp = Blueprint("imports", __name__, url_prefix="/import")

ACTION_LABELS = {"create": "neu", "update": "ändern", "unchanged": "unverändert", "error": "Fehler"}


class UploadForm(FlaskForm):
    file = FileField("Datei (CSV oder Excel)")


@bp.route("/", methods=["GET", "POST"])
@roles_required("office")
def index():
    form = UploadForm()
    error = None
    if form.validate_on_submit():
        try:
            job = create_job(request.files.get("file"), actor=current_user)
        except ValidationFailed as failed:
            db.session.rollback()
            error = failed.message
        else:
            db.session.commit()
            return redirect(url_for("imports.mapping", job_id=job.id))
    jobs = db.session.scalars(sa.select(ImportJob).order_by(ImportJob.id.desc()).limit(20)).all()
    return render_template("contacts/imports/index.html", form=form, error=error, jobs=jobs)


@bp.route("/<int:job_id>/zuordnung", methods=["GET", "POST"])
@roles_required("office")
def mapping(job_id: int):
    job = db.get_or_404(ImportJob, job_id)
    errors: list[str] = []
    if request.method == "POST" and FlaskForm().validate_on_submit():
        chosen = {str(i): request.form.get(f"column-{i}", "") for i in range(len(job.headers))}
        try:
            set_mapping(job, chosen, request.form.get("update_mode", "fill"))
            start(job, actor=current_user, dry_run=True)
        except ValidationFailed as failed:
            db.session.rollback()
            job = db.get_or_404(ImportJob, job_id)
            job.mapping = {k: v for k, v in chosen.items() if v}  # show the user's choice again
            job.update_mode = "overwrite" if request.form.get("update_mode") == "overwrite" else "fill"
            errors.append(failed.message)
        else:
            return redirect(url_for("imports.show", job_id=job.id))
    try:
        samples = inspect_samples(job)
    except (ValueError, OSError):
        samples = []
    return render_template(
        "contacts/imports/mapping.html", job=job, fields=FIELDS, samples=samples, errors=errors, form=FlaskForm()
    )


def inspect_samples(job: ImportJob) -> list[list[str]]:
    return inspect(Path(job.stored_path), job.file_format)["samples"]


@bp.get("/<int:job_id>")
@roles_required("office")
def show(job_id: int):
    job = db.get_or_404(ImportJob, job_id)
    action = request.args.get("action") if request.args.get("action") in ACTION_LABELS else None
    stmt = sa.select(ImportRowResult).where(ImportRowResult.job_id == job.id)
    if action:
        stmt = stmt.where(ImportRowResult.action == action)
    page = db.paginate(
        stmt.order_by(ImportRowResult.row, ImportRowResult.id),
        page=request.args.get("page", 1, type=int),
        per_page=100,
        error_out=False,
    )
    return render_template(
        "contacts/imports/show.html", job=job, page=page, action=action, action_labels=ACTION_LABELS, form=FlaskForm()
    )


@bp.post("/<int:job_id>/starten")
@roles_required("office")
def run(job_id: int):
    job = db.get_or_404(ImportJob, job_id)
    try:
        start(job, actor=current_user, dry_run=False)
    except ValidationFailed as failed:
        db.session.rollback()
        flash(failed.message, "error")
    return redirect(url_for("imports.show", job_id=job_id))


@bp.get("/<int:job_id>/bericht.csv")
@roles_required("office")
def report(job_id: int):
    job = db.get_or_404(ImportJob, job_id)
    ids = db.session.scalars(
        sa.select(ImportRowResult.id)
        .where(ImportRowResult.job_id == job.id, ImportRowResult.action != "unchanged")
        .order_by(ImportRowResult.row, ImportRowResult.id)
    ).all()
    load = lambda batch: {r.id: r for r in db.session.scalars(sa.select(ImportRowResult).where(ImportRowResult.id.in_(batch)))}  # noqa: E731
    rows = rows_in_batches(ids, load, size=2000)
    columns = [
        ("Zeile", lambda r: r.row),
        ("Ergebnis", lambda r: ACTION_LABELS[r.action]),
        ("Spalte", lambda r: r.column),
        ("Hinweis", lambda r: r.message),
        ("Datensatz", lambda r: r.label),
    ]
    return Response(
        stream_with_context(csv_stream(columns, rows)),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename=import-{job.id}-bericht-{date.today():%Y-%m-%d}.csv"},
    )

