"""Running long work (imports; later mailings) outside the request.

The embedded default runs it in a background thread of the web process. Tests set
TASKS_INLINE to run it at once; issue 7 adds Celery workers behind the same call.
"""
import logging
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
