"""Newsletters and imports run as tasks on a real Celery worker process."""
import io

import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from crm.contacts.imports.jobs import create_job, set_mapping, start
from crm.contacts.models import ImportJob, ImportStatus, Person
from crm.extensions import db
from crm.newsletters import sending
from crm.newsletters.models import NewsletterStatus
from tests.engine.helpers import delivery_statuses, newsletter_for, newsletter_status, start_newsletter


def test_a_newsletter_sent_through_a_worker_reaches_every_recipient_once(engine):
    newsletter_id, emails = newsletter_for(engine, 12)
    engine.start_worker()

    assert start_newsletter(newsletter_id) == 12

    engine.wait_for(lambda: newsletter_status(engine, newsletter_id) == NewsletterStatus.sent, "Newsletter nicht versandt")
    assert engine.mailbox.per_recipient() == {email: 1 for email in emails}
    assert delivery_statuses(sending.MAILING, newsletter_id) == {"sent": 12}
    assert "crm.newsletters.sending:deliver_now" in engine.log("worker")  # it was the worker, not this process


def _job_status(engine, job_id: int) -> str:
    return engine.scalar(sa.select(ImportJob.status).where(ImportJob.id == job_id))


def test_an_import_runs_as_a_task_on_a_worker(engine):
    engine.start_worker()
    content = "Vorname;Nachname;E-Mail\r\nKim;Beispiel;kim.beispiel@example.org\r\nMax;Muster;max.muster@example.org\r\n"
    job = create_job(FileStorage(io.BytesIO(content.encode("utf-8")), filename="liste.csv"), actor=None)
    set_mapping(job, dict(job.mapping), "fill")
    job_id = job.id

    start(job, actor=None, dry_run=True)
    engine.wait_for(lambda: _job_status(engine, job_id) == ImportStatus.checked, "Probelauf nicht fertig")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 0  # a dry run writes nobody

    start(db.session.get(ImportJob, job_id, populate_existing=True), actor=None, dry_run=False)
    engine.wait_for(lambda: _job_status(engine, job_id) == ImportStatus.done, "Import nicht fertig")
    db.session.commit()  # a fresh transaction sees what the worker wrote
    assert sorted(db.session.scalars(sa.select(Person.email))) == ["kim.beispiel@example.org", "max.muster@example.org"]
    job = db.session.get(ImportJob, job_id, populate_existing=True)
    assert job.counts["create"] == 2
    assert not (engine.import_dir / job.stored_path).exists()  # the file is deleted after the import
