"""Import jobs from upload to done: store the file, map columns, run the dry run and the import."""
import logging
import uuid
from pathlib import Path

from flask import current_app
from werkzeug.datastructures import FileStorage

from crm.contacts import search_index
from crm.contacts.imports.fields import FIELDS, detect_mapping, remember_mapping
from crm.contacts.imports.processor import Importer
from crm.contacts.imports.reader import UnreadableFile, count_rows, inspect
from crm.contacts.models import ImportJob, ImportStatus
from crm.errors import ValidationFailed
from crm.extensions import db, utcnow
from crm.tasks import run_in_background

logger = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx"}


def create_job(upload: FileStorage | None, *, actor) -> ImportJob:
    """Store an uploaded file and read its columns; raises ValidationFailed("file", ...)."""
    if upload is None or not upload.filename:
        raise ValidationFailed("file", "Bitte wählen Sie eine Datei aus.")
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in FORMATS:
        raise ValidationFailed("file", "Bitte eine CSV- oder Excel-Datei (.csv, .xlsx) hochladen.")
    directory = Path(current_app.config["IMPORT_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}{suffix}"
    upload.save(path)
    try:
        info = inspect(path, FORMATS[suffix])
        total = count_rows(path, FORMATS[suffix], info["encoding"], info["delimiter"])
    except (UnreadableFile, UnicodeDecodeError) as error:
        path.unlink(missing_ok=True)
        raise ValidationFailed("file", str(error) if isinstance(error, UnreadableFile) else "Die Datei ist nicht lesbar.") from error
    job = ImportJob(
        filename=Path(upload.filename).name[:255],
        stored_path=str(path),
        file_format=FORMATS[suffix],
        encoding=info["encoding"],
        delimiter=info["delimiter"],
        headers=info["headers"],
        mapping=detect_mapping(info["headers"]),
        total_rows=total,
        created_by=actor,
    )
    db.session.add(job)
    db.session.flush()
    return job


def set_mapping(job: ImportJob, mapping: dict[str, str], update_mode: str) -> None:
    """Check and keep the column mapping the office chose (and remember it for next time)."""
    mapping = {index: field for index, field in mapping.items() if field}
    unknown = [f for f in mapping.values() if f not in FIELDS]
    if unknown:
        raise ValidationFailed(None, "Unbekanntes Zielfeld in der Zuordnung.")
    twice = {f for f in mapping.values() if list(mapping.values()).count(f) > 1}
    if twice:
        raise ValidationFailed(None, f"Jedes Feld darf nur einer Spalte zugeordnet werden: {', '.join(FIELDS[f][0] for f in twice)}.")
    fields = set(mapping.values())
    if not fields & {"last_name", "email", "organization", "ags"}:
        raise ValidationFailed(None, "Bitte ordnen Sie mindestens Nachname, E-Mail, Organisation oder AGS zu.")
    if fields & {"first_name", "email"} and "last_name" not in fields:
        raise ValidationFailed(None, "Für Personen wird eine Spalte mit dem Nachnamen benötigt.")
    job.mapping = mapping
    job.update_mode = "overwrite" if update_mode == "overwrite" else "fill"
    remember_mapping(job.headers, mapping)


def start(job: ImportJob, *, actor, dry_run: bool) -> None:
    """Begin the dry run or the import; it runs in the background and reports progress on the job."""
    if job.is_running:
        raise ValidationFailed(None, "Dieser Import läuft bereits.")
    if not dry_run and job.status != ImportStatus.checked:
        raise ValidationFailed(None, "Bitte zuerst den Probelauf ansehen.")
    job.status = ImportStatus.checking if dry_run else ImportStatus.importing
    job.processed_rows = 0
    db.session.commit()
    run_in_background(run_job, job.id, getattr(actor, "id", None), dry_run)


def run_job(job_id: int, actor_id: int | None, dry_run: bool) -> None:
    from crm.auth.models import User

    job = db.session.get(ImportJob, job_id)
    actor = db.session.get(User, actor_id) if actor_id else None
    try:
        importer = Importer(job, actor=actor, dry_run=dry_run)
        importer.run()
        job = importer.job
    except (UnreadableFile, OSError) as error:
        db.session.rollback()
        job = db.session.get(ImportJob, job_id)
        job.status = ImportStatus.failed
        job.error = f"Die Datei konnte nicht gelesen werden: {error}"
        db.session.commit()
        return
    job.status = ImportStatus.checked if dry_run else ImportStatus.done
    job.finished_at = utcnow()
    if not dry_run:
        Path(job.stored_path).unlink(missing_ok=True)  # keep personal data no longer than needed
        search_index.settle(db.session.connection())
    db.session.commit()
    logger.info("Import %s %s: %s", job.id, "dry run" if dry_run else "done", job.counts)
