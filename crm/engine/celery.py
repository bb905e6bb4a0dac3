"""The Celery app of the production engine, bound to a Flask app.

Two tasks: "crm.run" runs any of the app's functions by name with JSON arguments (crm.tasks sends it
for imports, mailings and confirmations), and "crm.scheduled_work" is the scheduler's round, which beat
sends every SCHEDULER_SECONDS. Every task runs inside an app context; leaving it removes the database
session (Flask-SQLAlchemy's teardown), so no task leaks a connection or a transaction into the next.

The long tasks are acknowledged only when they are done (acks_late) and go back to the queue when the
process running them dies (reject_on_worker_lost); each worker process reserves one task at a time
(prefetch 1), so a long mailing does not hold back work another process could start. The database,
not the broker, is what makes this safe: every mailing resumes from its Delivery rows, and a killed
worker's batch is claimed again once its claim runs out.
"""
from pathlib import Path

import sqlalchemy as sa
from celery import Celery, Task
from celery.signals import worker_process_init
from flask import Flask

from crm.extensions import db
from crm.tasks import RUN_TASK, resolve, run_scheduled_work

SCHEDULED_TASK = "crm.scheduled_work"
#: Redis hands a task that was taken but never acknowledged to another worker after this many seconds.
#: Longer than any task should run; a mailing that runs longer only gains one more dispatcher, which the
#: claims keep from sending anything twice.
VISIBILITY_TIMEOUT = 6 * 60 * 60
#: How long a worker waits for SQLite's write lock before it fails (another process sends a batch meanwhile).
SQLITE_BUSY_SECONDS = 120


def init_celery(app: Flask) -> Celery:
    """Create the Celery app for `app` (app.extensions["celery"]) with its tasks and beat schedule."""

    class AppContextTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.import_name, task_cls=AppContextTask)
    celery.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # results live in the database (deliveries, import jobs)
        worker_prefetch_multiplier=1,
        timezone=app.config["TIMEZONE"],
        beat_schedule=_beat_schedule(app),
        beat_schedule_filename=str(Path(app.instance_path) / "celerybeat-schedule"),
    )

    @celery.task(name=RUN_TASK, acks_late=True, reject_on_worker_lost=True)
    def run(name: str, *args) -> None:
        resolve(name)(*args)

    @celery.task(name=SCHEDULED_TASK)
    def scheduled_work() -> None:
        run_scheduled_work()  # lost with its worker? the next round does the same

    app.extensions["celery"] = celery
    return celery


def worker_app(app: Flask) -> Celery:
    """The Celery app of a worker or beat process (crm.celery_app)."""
    if "celery" not in app.extensions:
        raise RuntimeError("CRM_CELERY_BROKER_URL ist nicht gesetzt: ohne Broker gibt es keine Celery-Worker (siehe docs/deployment.md).")

    @worker_process_init.connect(weak=False)
    def own_connections(**_) -> None:
        # A forked worker process must not use the database connections of the process it was forked from.
        with app.app_context():
            db.engine.dispose(close=False)

    with app.app_context():
        share_sqlite(db.engine)
    return app.extensions["celery"]


def share_sqlite(engine: sa.Engine) -> None:
    """On SQLite with several worker processes (a trial; production runs PostgreSQL) every transaction takes
    the write lock when it begins, and waits for it as long as another process may hold it."""
    if engine.dialect.name != "sqlite":
        return
    engine.update_execution_options(sqlite_immediate=True)

    @sa.event.listens_for(engine, "connect")
    def wait_longer(dbapi_connection, _record) -> None:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_SECONDS * 1000}")


def _beat_schedule(app: Flask) -> dict:
    interval = app.config["SCHEDULER_SECONDS"]
    if not interval:
        return {}
    # A round that no worker started before the next one is due is dropped: the next one does the same.
    return {"scheduled-work": {"task": SCHEDULED_TASK, "schedule": float(interval), "options": {"expires": interval}}}
