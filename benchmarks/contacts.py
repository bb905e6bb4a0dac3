"""Contacts benchmark: server time of the pages the office uses most, with 100,000 people.

Builds a fresh database (SQLite file, and PostgreSQL when --postgres URL is given), migrates it,
generates the synthetic data set, then measures p50/p95 of each page through the WSGI app
(server time, no network), the import rate and the peak memory of a 100k-row CSV import.

    python -m benchmarks.contacts [--people 100000] [--postgres postgresql+psycopg://...] [--no-pages | --no-import]
"""
import argparse
import csv
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from benchmarks.memory import cpu_seconds, peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def make_app(url: str):
    from config import DevelopmentConfig
    from crm import create_app

    class Config(DevelopmentConfig):
        SQLALCHEMY_DATABASE_URI = url
        WTF_CSRF_ENABLED = False
        TASKS_INLINE = True
        IMPORT_DIR = tempfile.mkdtemp(prefix="crm-bench-")

    return create_app(Config)


def prepare(url: str, people: int, organizations: int, *, reuse: bool = False):
    """Migrate and fill the database; with `reuse`, a database already filled is only migrated
    (new migrations run on the data there) and the pages are measured on it again."""
    import flask_migrate

    from benchmarks.generate import generate
    from crm.auth.services import create_user
    from crm.extensions import db, migrations

    app = make_app(url)
    with app.app_context():
        migrations(app)
        flask_migrate.upgrade()
        if reuse and db.session.scalar(sa.text("SELECT count(*) FROM people")):
            return app
        generate(people, organizations)
        create_user(email="bench@example.org", role="office", last_name="Bench", password="benchmark-passwort", actor=None)
        db.session.commit()
    return app


def measure_pages(app, repeat: int) -> dict[str, dict[str, float]]:
    from crm.contacts.models import Segment, Tag
    from crm.extensions import db

    client = app.test_client()
    client.post("/login", data={"email": "bench@example.org", "password": "benchmark-passwort"})
    with app.app_context():
        tag_id = db.session.scalar(sa.select(Tag.id).where(Tag.name == "Bildung"))
        segment = db.session.scalar(sa.select(Segment).where(Segment.name == "Bench BW Bildung"))
        if segment is None:  # a reused database has it from the first run
            segment = Segment(name="Bench BW Bildung", filters={"state": "08", "tag": str(tag_id)})
            db.session.add(segment)
            db.session.commit()
        segment_id = segment.id
    rng = random.Random(1)
    terms = ["muller", "schmidt", "groß", "mueller", "hans", "stadt ulm", "bürgermeister", "kassel", "yılmaz", "example.com"]
    cases = {
        "Personenliste (Seite 1 und 40)": lambda i: f"/personen/?page={1 if i % 2 else 40}",
        "Textsuche": lambda i: f"/personen/?q={terms[i % len(terms)]}",
        "Filter Bundesland + Thema": lambda i: f"/personen/?state={['08', '05', '09'][i % 3]}&tag={tag_id}",
        "Segment-Zählung": lambda i: f"/segmente/{segment_id}",
        "Personen-Detailseite": lambda i: f"/personen/{rng.randint(1, 100_000 if i >= 0 else 1)}",
        "Organisationsliste mit Suche": lambda i: f"/organisationen/?q={['stadt', 'ulm', 'verband'][i % 3]}",
    }
    results = {}
    for name, url in cases.items():
        client.get(url(0))  # warm up
        times = []
        for i in range(repeat):
            start = time.perf_counter()
            response = client.get(url(i))
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code in (200, 404), (url(i), response.status_code)
        results[name] = {"p50": statistics.median(times), "p95": percentile(times, 95)}
    return results


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(7)
    from benchmarks.generate import FIRST, LAST, PLACES, POSITIONS, RARE_LAST

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["Anrede", "Vorname", "Nachname", "E-Mail", "Funktion", "Organisation", "Ort", "Telefon"])
        for i in range(rows):
            writer.writerow([
                rng.choice(("Frau", "Herr", "")), rng.choice(FIRST), rng.choice(LAST if rng.random() < 0.3 else RARE_LAST),
                f"import.{i}@example.org", rng.choice(POSITIONS), f"Importverband {i % 500}",
                f"{rng.choice(PLACES)} {i % 500}", f"030 {rng.randint(1000000, 9999999)}",
            ])  # fmt: skip


def measure_import(url: str, rows: int) -> dict[str, float]:
    """Runs in a child process so that its peak RSS is the import's own."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.contacts", "--import-only", url, "--rows", str(rows)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_import(url: str, rows: int) -> None:
    from werkzeug.datastructures import FileStorage

    from crm.auth.models import User
    from crm.contacts.imports.jobs import create_job, run_job, set_mapping
    from crm.contacts.models import ImportStatus
    from crm.extensions import db

    path = Path(tempfile.mkdtemp()) / "import.csv"
    write_csv(path, rows)
    app = make_app(url)
    with app.app_context():
        actor = db.session.scalar(sa.select(User).where(User.email == "bench@example.org"))
        with path.open("rb") as handle:
            job = create_job(FileStorage(handle, filename="import.csv"), actor=actor)
        set_mapping(job, dict(job.mapping), "fill")
        job.status = ImportStatus.importing
        db.session.commit()
        rss_before = peak_rss_mb()
        server = _server_pid()  # the import's connection: the pool hands this thread the same one
        cpu_before, server_before = cpu_seconds(), cpu_seconds(server)
        start = time.perf_counter()
        run_job(job.id, actor.id, False)
        seconds = time.perf_counter() - start
        cpu, server_cpu = cpu_seconds() - cpu_before, cpu_seconds(server) - server_before
    peak = peak_rss_mb()
    print(json.dumps({"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds, "peak_rss_mb": peak,
                      "rss_before_mb": rss_before, "cpu_seconds": cpu, "server_cpu_seconds": server_cpu}))  # fmt: skip


def _server_pid() -> int | None:
    """The process id of the PostgreSQL backend serving this session (None on SQLite)."""
    from crm.extensions import db

    connection = db.session.connection()
    return connection.connection.dbapi_connection.info.backend_pid if connection.dialect.name == "postgresql" else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--organizations", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the import CSV")
    parser.add_argument("--postgres", help="URL of an EMPTY PostgreSQL database to use as well")
    parser.add_argument("--sqlite", metavar="PATH", help="SQLite file to use (default: a new temporary one)")
    parser.add_argument(
        "--reuse", action="store_true",
        help="measure again on databases a previous run filled (--sqlite PATH, --postgres URL) instead of "
        "generating them (use with --no-import: an import adds its rows)",
    )
    parser.add_argument("--no-import", action="store_true", help="measure the pages only, skip the import")
    parser.add_argument("--no-pages", action="store_true", help="measure the import only, skip the pages")
    parser.add_argument("--import-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.import_only:
        run_import(args.import_only, args.rows)
        return
    sqlite_path = args.sqlite or f"{tempfile.mkdtemp(prefix='crm-bench-')}/bench.sqlite"
    databases = {"SQLite": f"sqlite:///{Path(sqlite_path).resolve()}"}
    if args.postgres:
        databases["PostgreSQL"] = args.postgres
    for label, url in databases.items():
        start = time.perf_counter()
        app = prepare(url, args.people, args.organizations, reuse=args.reuse)
        print(f"\n== {label}: {args.people:,} people, {args.organizations:,} organizations "
              f"(generated and migrated in {time.perf_counter() - start:.0f} s)")  # fmt: skip
        for name, figures in ({} if args.no_pages else measure_pages(app, args.repeat)).items():
            print(f"{name:<34} p50 {figures['p50']:7.1f} ms   p95 {figures['p95']:7.1f} ms")
        if args.no_import:
            continue
        figures = measure_import(url, args.rows)
        print(f"{'Import ' + format(args.rows, ',') + ' CSV-Zeilen':<34} {figures['rows_per_second']:7.0f} Zeilen/s   "
              f"{figures['seconds']:.0f} s   Spitzen-RSS {figures['peak_rss_mb']:.0f} MB   CPU: Python {figures['cpu_seconds']:.1f} s"
              + (f", PostgreSQL {figures['server_cpu_seconds']:.1f} s" if figures["server_cpu_seconds"] else ""))  # fmt: skip


if __name__ == "__main__":
    main()
