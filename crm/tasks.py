"""Running long work (imports, mailings) outside the request, and the scheduler.

Two engines run the same functions. The embedded default runs them in a background thread of the
web process. With CRM_CELERY_BROKER_URL set, the production engine (crm.engine) sends them as Celery
tasks to any number of worker processes and machines: one generic task names the function
("module:qualname") and carries its arguments as JSON, so arguments must be ids, strings, numbers and
booleans. Tests set TASKS_INLINE to run the work at once.

The scheduler wakes every SCHEDULER_SECONDS: it starts scheduled newsletters whose time has come,
queues due event reminders and resumes every mailing with messages waiting (after a restart, or
retries that are due). In the embedded default it is a thread of the serving process; with Celery,
beat sends the round as a task and the round fans the mailings out to the workers. Several processes
may run it at once: the delivery pipeline's claims keep them from sending anything twice, and every
mailing is queued at most once per person.
"""
import importlib
import logging
import threading
import time
from threading import Thread
from typing import Callable

from flask import current_app

logger = logging.getLogger(__name__)

#: The Celery task that runs any of our functions by name (crm.engine.celery).
RUN_TASK = "crm.run"


def task_name(func: Callable) -> str:
    return f"{func.__module__}:{func.__qualname__}"


def resolve(name: str) -> Callable:
    """The function a task names; only the app's own functions may be run this way."""
    module, _, qualname = name.partition(":")
    if module != "crm" and not module.startswith("crm."):
        raise ValueError(f"Not a function of the app: {name}")
    target = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def run_in_background(func: Callable, *args, expires: float | None = None) -> None:
    """Run func(*args) outside the request: a Celery task (dropped if no worker starts it within
    `expires` seconds), else a thread; at once in tests. Call it after the commit the work depends on."""
    app = current_app._get_current_object()
    if app.config.get("TASKS_INLINE"):
        func(*args)
        return
    celery = app.extensions.get("celery")
    if celery is not None:
        name = task_name(func)
        try:
            celery.send_task(RUN_TASK, args=(name, *args), expires=expires, shadow=name)  # the logs name the function
        except Exception:  # the broker is down: the work is in the database, and beat's next round resumes mailings
            logger.exception("Task %s could not be sent to the broker", name)
        return

    def target():
        with app.app_context():
            try:
                func(*args)
            except Exception:  # the job records its own failure; this only keeps the log complete
                logger.exception("Background task %s failed", func.__name__)

    Thread(target=target, name=f"task-{func.__name__}", daemon=True).start()


def run_in_parallel(func: Callable, *args, expires: float | None = None) -> None:
    """Like run_in_background, but with Celery as CELERY_DISPATCH_TASKS tasks at once, so that several
    workers share the work; func must be safe to run concurrently (the pipeline's dispatch is)."""
    copies = current_app.config["CELERY_DISPATCH_TASKS"] if "celery" in current_app.extensions else 1
    for _ in range(max(copies, 1)):
        run_in_background(func, *args, expires=expires)


_scheduler_started = threading.Event()


def queue_due_work() -> None:
    """Start scheduled newsletters whose time has come and queue due reminders; commits."""
    from crm.events.sending import queue_due_reminders
    from crm.extensions import db
    from crm.newsletters.sending import start_due

    start_due()
    queue_due_reminders()
    db.session.commit()


def run_scheduled_work() -> None:
    """One round of the scheduler (also what cron would call through the CLI commands).

    The embedded default sends in this thread; with Celery the round (a task itself) hands every
    waiting mailing to the workers, and a dispatch task no worker starts before the next round is
    dropped, so a busy queue does not pile up rounds.
    """
    from crm.extensions import db
    from crm.mail.pipeline import dispatch_pending, dispatch_pending_later

    try:
        queue_due_work()
        if "celery" in current_app.extensions:
            dispatch_pending_later(expires=current_app.config["SCHEDULER_SECONDS"] or None)
        else:
            dispatch_pending()
    finally:
        db.session.remove()


def start_scheduler(app) -> None:
    """Start the scheduler thread once per process (on the first request: CLI commands never start it).
    With Celery, beat runs the scheduler and web processes start none."""
    interval = app.config.get("SCHEDULER_SECONDS", 0)
    if not interval or app.config.get("TASKS_INLINE") or "celery" in app.extensions or _scheduler_started.is_set():
        return
    _scheduler_started.set()

    def loop():
        while True:
            with app.app_context():
                try:
                    run_scheduled_work()
                except Exception:  # a failed round must not end the scheduler; the next one retries
                    logger.exception("Scheduled work failed")
            time.sleep(interval)

    Thread(target=loop, name="scheduler", daemon=True).start()
