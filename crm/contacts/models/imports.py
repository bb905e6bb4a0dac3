"""Import jobs: an uploaded file, its column mapping, the dry run and the import itself."""
from datetime import datetime, timedelta
from enum import StrEnum
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db, str_enum, utcnow


STALE_AFTER = timedelta(minutes=10)


class ImportStatus(StrEnum):
    uploaded = "uploaded"  # waiting for the column mapping
    checking = "checking"  # dry run in progress
    checked = "checked"  # dry run done, waiting for confirmation
    importing = "importing"
    done = "done"
    failed = "failed"

    @property
    def label(self) -> str:
        return {
            "uploaded": "Zuordnung offen",
            "checking": "Probelauf läuft",
            "checked": "Probelauf fertig",
            "importing": "Import läuft",
            "done": "importiert",
            "failed": "abgebrochen",
        }[self.value]


class ImportJob(db.Model):
    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    #: Where the uploaded file is kept (below instance/imports/), deleted after the import.
    stored_path: Mapped[str] = mapped_column(sa.String(500))
    file_format: Mapped[str] = mapped_column(sa.String(10))  # csv | xlsx
    encoding: Mapped[str | None] = mapped_column(sa.String(20))
    delimiter: Mapped[str | None] = mapped_column(sa.String(1))
    headers: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    #: Column index (as string) -> field key of crm.contacts.imports.fields.FIELDS.
    mapping: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)
    #: "fill": only empty fields of existing records are filled; "overwrite": file values win.
    update_mode: Mapped[str] = mapped_column(sa.String(10), default="fill")
    status: Mapped[ImportStatus] = mapped_column(str_enum(ImportStatus, "status"), default=ImportStatus.uploaded)
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)
    #: {"create": n, "update": n, "unchanged": n, "error": n} of the last run (dry or real).
    counts: Mapped[dict[str, int]] = mapped_column(sa.JSON, default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    #: Last sign of life of a run (progress is committed per batch); a run silent for long has died.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    created_by = relationship("User")

    @property
    def progress_percent(self) -> int:
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0

    @property
    def is_running(self) -> bool:
        """Running, and not silent for longer than any batch takes (a restarted server ends runs)."""
        active = self.status in (ImportStatus.checking, ImportStatus.importing)
        return active and self.updated_at is not None and utcnow() - self.updated_at < STALE_AFTER


class ImportRowResult(db.Model):
    """What the last run did (or would do) with one row: the per-row report and its download."""

    __tablename__ = "import_row_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("import_jobs.id", ondelete="CASCADE"))
    #: The row number as a spreadsheet shows it (the header is row 1).
    row: Mapped[int] = mapped_column()
    action: Mapped[str] = mapped_column(sa.String(10))  # create | update | unchanged | error
    #: The column the message is about (its header in the file), if any.
    column: Mapped[str | None] = mapped_column(sa.String(200))
    message: Mapped[str] = mapped_column(sa.Text)
    label: Mapped[str | None] = mapped_column(sa.String(300))


    __table_args__ = (sa.Index("ix_import_row_results_job_row", "job_id", "action", "row"),)


class ImportHeaderMemory(db.Model):
    """Remembered mappings: a column header once mapped to a field is proposed again next time."""

    __tablename__ = "import_header_memory"

    header: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    field: Mapped[str] = mapped_column(sa.String(40))
