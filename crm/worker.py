"""`python -m crm.worker`: a Celery worker started without the `celery` command.

The `celery` command line imports all its subcommands before it starts a worker, among them the
interactive shell of `celery amqp` (click-repl with prompt_toolkit and pygments). The prefork pool's
processes are forked from that process and carry all of it: 11 MB more in every process that sends
(103 instead of 92 MB at the peak of a 20,000-recipient newsletter on PostgreSQL, see
docs/benchmarks.md). The options are those of `celery worker` that a deployment sets;
`celery -A crm.celery_app worker` starts the same worker with the larger processes.
"""
import argparse
import sys


def worker_options(argv: list[str] | None = None) -> dict:
    """The keyword arguments of Celery's Worker for a command line."""
    parser = argparse.ArgumentParser(prog="python -m crm.worker", description="Celery-Worker des CRM (siehe docs/deployment.md).")
    parser.add_argument("-c", "--concurrency", type=int, help="Anzahl der Prozesse (Standard: Anzahl der CPU-Kerne)")
    parser.add_argument("-P", "--pool", dest="pool_cls", default="prefork", choices=("prefork", "solo", "threads"))
    parser.add_argument("-n", "--hostname", help="Name des Workers, z. B. worker@%%h")
    parser.add_argument("-l", "--loglevel", default="WARNING", type=str.upper,
                        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))  # fmt: skip
    parser.add_argument("-Q", "--queues", help="nur diese Warteschlangen (durch Kommas getrennt)")
    parser.add_argument("--max-tasks-per-child", type=int, help="Prozess nach so vielen Aufgaben ersetzen")
    parser.add_argument("--max-memory-per-child", type=int, help="Prozess ersetzen, wenn er mehr KiB belegt")
    for name in ("mingle", "gossip", "heartbeat"):
        parser.add_argument(f"--without-{name}", action="store_true")
    return {key: value for key, value in vars(parser.parse_args(argv)).items() if value is not None}


def main(argv: list[str] | None = None) -> int:
    options = worker_options(argv)
    from crm.celery_app import app  # after the options: --help and a wrong option need no database or broker

    worker = app.Worker(**options)
    worker.start()
    return worker.exitcode


if __name__ == "__main__":
    sys.exit(main())
