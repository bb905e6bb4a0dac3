"""With a broker configured, background work becomes Celery tasks (read back from the real Redis queue):
one generic task naming the function with JSON arguments, several dispatch tasks per mailing, no thread."""
import base64
import json
import threading

import pytest
import redis

from crm.contacts.imports.jobs import run_job
from crm.extensions import db
from crm.mail import pipeline
from crm.newsletters import sending
from crm.newsletters.models import Newsletter
from crm.tasks import resolve, run_in_background, run_scheduled_work, start_scheduler
from tests.engine.helpers import newsletter_for


def queued_tasks(engine) -> list[dict]:
    """The tasks waiting in the broker: name, function, arguments, expiry."""
    tasks = []
    for raw in redis.Redis.from_url(engine.broker_url).lrange("celery", 0, -1):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        headers = message["headers"]
        tasks.append({"task": headers["task"], "args": args, "shadow": headers.get("shadow"), "expires": headers.get("expires")})
    return sorted(tasks, key=repr)


def test_background_work_is_one_task_that_names_the_function(engine):
    threads = threading.active_count()
    run_in_background(run_job, 7, None, True)

    assert queued_tasks(engine) == [
        {"task": "crm.run", "args": ["crm.contacts.imports.jobs:run_job", 7, None, True],
         "shadow": "crm.contacts.imports.jobs:run_job", "expires": None},
    ]  # fmt: skip
    assert threading.active_count() == threads  # no thread in the web process
    assert resolve("crm.contacts.imports.jobs:run_job") is run_job


def test_only_the_apps_own_functions_can_be_named():
    with pytest.raises(ValueError):
        resolve("os:system")
    with pytest.raises(ValueError):
        resolve("crmx.evil:run")


def test_a_mailing_is_shared_by_several_dispatch_tasks(engine):
    pipeline.dispatch_later(sending.MAILING, 42)

    assert [task["args"] for task in queued_tasks(engine)] == [["crm.mail.pipeline:dispatch", "newsletter", 42]] * 4
    assert engine.app.config["CELERY_DISPATCH_TASKS"] == 4


def test_the_scheduler_round_hands_waiting_mailings_to_the_workers_instead_of_sending(engine):
    newsletter_id, _ = newsletter_for(engine, 3)
    sending.start(db.session.get(Newsletter, newsletter_id), actor=None)
    db.session.commit()
    engine.app.config["SCHEDULER_SECONDS"] = 30

    run_scheduled_work()

    tasks = queued_tasks(engine)
    assert [task["args"] for task in tasks] == [["crm.mail.pipeline:dispatch", "newsletter", newsletter_id]] * 4
    assert all(task["expires"] for task in tasks)  # dropped if no worker starts them before the next round
    assert engine.mailbox.messages == []


def test_web_processes_start_no_scheduler_thread_with_celery(engine):
    engine.app.config["SCHEDULER_SECONDS"] = 1
    start_scheduler(engine.app)
    assert "scheduler" not in [thread.name for thread in threading.enumerate()]
