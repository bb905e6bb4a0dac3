"""`python -m crm.worker`: the worker command of docs/deployment.md (the engine tests start their workers with it)."""
import os
import subprocess
import sys

import pytest

from crm.worker import worker_options
from tests.engine.conftest import ROOT


def test_the_options_a_deployment_sets_reach_celerys_worker():
    options = worker_options(["-c", "4", "--hostname", "worker@%h", "-l", "info", "--without-gossip", "-Q", "mail,imports"])

    assert options == {
        "concurrency": 4, "hostname": "worker@%h", "loglevel": "INFO", "queues": "mail,imports", "pool_cls": "prefork",
        "without_gossip": True, "without_mingle": False, "without_heartbeat": False,
    }  # fmt: skip


def test_without_options_it_is_a_prefork_worker_with_one_process_per_core():
    assert worker_options([]) == {"pool_cls": "prefork", "loglevel": "WARNING", "without_gossip": False,
                                  "without_mingle": False, "without_heartbeat": False}  # fmt: skip


@pytest.mark.parametrize("argv", [["--pool", "gevent"], ["--concurrency", "viele"], ["--loglevel", "laut"], ["--unbekannt"]])
def test_a_wrong_option_is_refused_before_anything_starts(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        worker_options(argv)

    assert stopped.value.code == 2
    assert "python -m crm.worker" in capsys.readouterr().err


def test_the_worker_process_does_not_load_the_celery_command_line(tmp_path):
    """What makes its pool processes smaller than those of `celery -A crm.celery_app worker`."""
    probe = (
        "import sys, crm.worker, crm.celery_app\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'click_repl', 'prompt_toolkit', 'pygments'}),"
        " 'celery.bin.celery' in sys.modules)"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRM_")} | {
        "CRM_ENV": "development", "CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite'}",
        "CRM_CELERY_BROKER_URL": "redis://127.0.0.1:1/0",  # not connected to on import
    }  # fmt: skip

    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "False"]
