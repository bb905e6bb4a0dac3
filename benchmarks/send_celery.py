"""The send benchmark's Celery configuration: a Redis broker, worker processes, the same sink.

The workers are a real Celery worker started as docs/deployment.md starts one, `python -m crm.worker`
(prefork, WORKERS processes); the newsletter is started from this process with the broker configured,
so start() queues the deliveries here and the dispatch tasks run in the workers, each over its own SMTP connection. The time runs from start()
until every delivery is recorded; the peak RSS is the largest of the worker processes'.
"""
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from benchmarks.memory import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2  # the machine's cores


def _descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = [int(c) for c in children.read_text().split()] if children.exists() else []
    return found + [grandchild for child in found for grandchild in _descendants(child)]


def _peak_rss_mb(pids: list[int]) -> float:
    """The largest peak resident set among the processes, in MB."""
    return max((peak_rss_mb(pid) for pid in pids), default=0.0)


class Redis:
    def __init__(self):
        from tests.conftest import free_port

        self.port = free_port()
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{self.port}/0"
        time.sleep(0.5)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def _environment(url: str, broker: str, smtp_port: int) -> dict[str, str]:
    return os.environ | {
        "CRM_ENV": "development", "CRM_DATABASE_URL": url, "CRM_CELERY_BROKER_URL": broker, "CRM_MAIL_BACKEND": "smtp",
        "CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": str(smtp_port), "CRM_BASE_URL": "https://crm.example.org",
        "CRM_SCHEDULER_SECONDS": "0", "CRM_CELERY_DISPATCH_TASKS": str(WORKERS),
        "CRM_MAIL_JOURNAL_DIR": tempfile.mkdtemp(prefix="crm-send-journal-"), "PYTHONPATH": str(ROOT),
    }  # fmt: skip


def _start(url: str, broker: str, smtp_port: int, newsletter_id: int, out) -> None:
    for key, value in _environment(url, broker, smtp_port).items():
        os.environ[key] = value
    from crm import create_app
    from crm.extensions import db
    from crm.newsletters import sending
    from crm.newsletters.models import Newsletter

    app = create_app()
    with app.app_context():
        newsletter = db.session.get(Newsletter, newsletter_id)
        queued = sending.start(newsletter, actor=None)
        db.session.commit()
        sending.deliver(newsletter)  # sends the dispatch tasks to the broker
    out.put(queued)


def celery_run(url: str, sink, newsletter_id: int, samples: Path, raw_count: int) -> tuple[float, float, float]:
    """(raw msgs/s over WORKERS connections, full path msgs/s, peak worker RSS in MB)."""
    from benchmarks.send import raw_ceiling, result_of
    from crm.mail.models import Delivery, DeliveryStatus
    from crm.newsletters.sending import MAILING

    raw = raw_ceiling(sink, samples, raw_count, WORKERS)
    redis = Redis()
    worker = subprocess.Popen(
        [sys.executable, "-m", "crm.worker", f"--concurrency={WORKERS}", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=_environment(url, redis.url, sink.port), start_new_session=True,
    )  # fmt: skip
    engine = sa.create_engine(url)
    try:
        time.sleep(3)  # the worker connects to the broker
        sink.reset()
        context = multiprocessing.get_context("spawn")
        out = context.Queue()
        start = time.perf_counter()
        starter = context.Process(target=_start, args=(url, redis.url, sink.port, newsletter_id, out))
        starter.start()
        queued = result_of(out, starter)
        waiting = sa.select(sa.func.count()).where(
            Delivery.__table__.c.mailing == MAILING, Delivery.__table__.c.subject_id == newsletter_id,
            Delivery.__table__.c.status == DeliveryStatus.queued.value,
        )  # fmt: skip
        peak = 0.0
        while True:
            peak = max(peak, _peak_rss_mb(_descendants(worker.pid)))
            with engine.connect() as connection:
                if sink.count >= queued and not connection.scalar(waiting):
                    break
            time.sleep(0.2)
        seconds = time.perf_counter() - start
        peak = max(peak, _peak_rss_mb(_descendants(worker.pid)))
        assert sink.count == queued, f"{sink.count} received, {queued} queued"
        return raw, queued / seconds, peak
    finally:
        os.killpg(worker.pid, 9)
        worker.wait()
        redis.stop()
        engine.dispose()
