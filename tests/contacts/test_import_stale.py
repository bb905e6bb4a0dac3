"""An import whose worker died (server restarted mid-run) must not block the job forever."""
from datetime import timedelta

import sqlalchemy as sa

from crm.contacts.imports.jobs import start
from crm.contacts.models import ImportJob, ImportStatus, Person
from crm.errors import ValidationFailed
from crm.extensions import utcnow


def test_a_running_import_cannot_be_started_twice(db, make):
    job = make.import_job(status=ImportStatus.checking)
    try:
        start(job, actor=None, dry_run=True)
    except ValidationFailed as error:
        assert error.message == "Dieser Import läuft bereits."
    else:
        raise AssertionError("a running import was started again")


def test_a_run_silent_for_long_counts_as_dead_and_can_be_started_again(db, make):
    job = make.import_job(status=ImportStatus.checking)
    db.session.execute(
        sa.update(ImportJob).where(ImportJob.id == job.id).values(updated_at=utcnow() - timedelta(minutes=30))
    )
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert not job.is_running

    start(job, actor=None, dry_run=True)  # TASKS_INLINE: runs the dry run now

    job = db.session.get(ImportJob, job.id)
    assert job.status == ImportStatus.checked
    assert job.counts["create"] == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person).where(Person.email == "kim.beispiel@example.org")) == 0
