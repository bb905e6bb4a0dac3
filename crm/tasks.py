"""Running long work (imports, mailings) outside the request, and the embedded scheduler.

The embedded default runs it in a background thread of the web process. Tests set
TASKS_INLINE to run it at once; issue 7 adds Celery workers behind the same call.

The scheduler is a thread of the serving process that wakes every SCHEDULER_SECONDS: it starts
scheduled newsletters whose time has come and resumes every mailing with messages waiting (after
a restart of the app, or retries that are due). Several processes may run it: the delivery
pipeline's claims keep them from sending anything twice.
"""
import logging
import threading
import time
from threading import Thread
from typing import Callable

from flask import current_app

logger = logging.getLogger(__name__)


def run_in_background(func: Callable, *args) -> None:
    app = current_app._get_current_object()
    if app.config.get("TASKS_INLINE"):
        func(*args)
        return

    def target():
        with app.app_context():
            try:
                func(*args)
            except Exception:  # the job records its own failure; this only keeps the log complete
                logger.exception("Background task %s failed", func.__name__)

    Thread(target=target, name=f"task-{func.__name__}", daemon=True).start()


_scheduler_started = threading.Event()


def run_scheduled_work() -> None:
    """One round of the scheduler (also what cron would call through the CLI commands)."""
    from crm.extensions import db
    from crm.mail.pipeline import dispatch_pending
    from crm.newsletters.sending import start_due

    try:
        start_due()
        dispatch_pending()
    finally:
        db.session.remove()


def start_scheduler(app) -> None:
    """Start the scheduler thread once per process (on the first request: CLI commands never start it)."""
    interval = app.config.get("SCHEDULER_SECONDS", 0)
    if not interval or app.config.get("TASKS_INLINE") or _scheduler_started.is_set():
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
