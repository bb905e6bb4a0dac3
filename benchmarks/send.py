"""Sending benchmark: a newsletter to N recipients over SMTP, against the raw ceiling of the same sink.

    python -m benchmarks.send [--recipients 100000] [--postgres URL] [--engines embedded,celery]

For each database it generates N recipients (reserved domains, German names and roles, one in ten
invited to the announced event) and a newsletter with text, an event review and an upcoming event.
An SMTP sink takes the mail on 127.0.0.1 in its own process and counts it: Postfix's smtp-sink if it is
installed (`apt-get install postfix`; a C program made for measuring SMTP clients), else aiosmtpd, which
takes only about 700 of these newsletters a second and then limits every figure (--sink chooses). Then,
measured in separate processes so that each peak RSS is the sender's own:

(a) the raw ceiling: messages built beforehand (real newsletters of this data, cycled), pushed with
    the full path's SMTP dialogue (crm.mail.transports, pipelined where the server offers it) over as
    many reused connections as the engine uses;
(b) the full path: start() (segment → one Delivery per recipient) and dispatch (render, personalize,
    MIME, SMTP, ledger), on the embedded engine (one process, one connection) and with Celery
    workers (CRM_CELERY_BROKER_URL; WORKERS processes, one connection each).

Each configuration ends with one line:
engine=… db=… recipients=… msgs_per_s=… raw_msgs_per_s=… ratio=… peak_rss_mb=…
"""
import argparse
import multiprocessing
import os
import queue
import smtplib
import socket
import subprocess
import sys
import threading
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from benchmarks.memory import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = 200  # distinct pre-built messages for the raw ceiling


def make_app(url: str, smtp_port: int, **settings):
    from config import DevelopmentConfig
    from crm import create_app

    class Config(DevelopmentConfig):
        SQLALCHEMY_DATABASE_URI = url
        TASKS_INLINE = True
        MAIL_BACKEND = "smtp"
        SMTP_HOST = "127.0.0.1"
        SMTP_PORT = smtp_port
        SCHEDULER_SECONDS = 0
        BASE_URL = "https://crm.example.org"

    for key, value in settings.items():
        setattr(Config, key, value)
    return create_app(Config)


# --- the SMTP sink ----------------------------------------------------------------------------------------------


def _sink(port: int, counter, ready) -> None:
    from aiosmtpd.controller import Controller

    class Counting:
        async def handle_DATA(self, server, session, envelope):
            with counter.get_lock():
                counter.value += 1
            return "250 OK"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


class Sink:
    """An aiosmtpd server in its own process; `count` is how many messages it accepted."""

    name = "aiosmtpd"

    def __init__(self):
        from tests.conftest import free_port

        self.port = free_port()
        context = multiprocessing.get_context("spawn")
        self._counter, ready = context.Value("q", 0), context.Event()
        self._process = context.Process(target=_sink, args=(self.port, self._counter, ready), daemon=True)
        self._process.start()
        ready.wait(30)

    @property
    def count(self) -> int:
        return self._counter.value

    def reset(self) -> None:
        with self._counter.get_lock():
            self._counter.value = 0

    def stop(self) -> None:
        self._process.kill()


class PostfixSink:
    """Postfix's smtp-sink (written in C for measuring SMTP clients): it takes messages much faster than
    aiosmtpd, so that the figures are the sender's. `count` is read from its running counters."""

    PROGRAM = "/usr/sbin/smtp-sink"
    name = "smtp-sink (Postfix)"

    def __init__(self):
        from tests.conftest import free_port

        self.port = free_port()
        # -c: print counters; -u: the user to run as when started by root; backlog 256.
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self._process = subprocess.Popen([self.PROGRAM, "-c", *user, f"127.0.0.1:{self.port}", "256"], stdout=subprocess.PIPE)
        self._received, self._offset = 0, 0
        threading.Thread(target=self._read_counters, daemon=True).start()
        for _ in range(100):  # until it listens
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start")

    def _read_counters(self) -> None:
        """Follow the counters ("sess=… quit=… mesg=…", each ended by a carriage return)."""
        pending = b""
        while chunk := os.read(self._process.stdout.fileno(), 4096):
            *updates, pending = (pending + chunk).split(b"\r")
            if updates:
                self._received = int(updates[-1].rsplit(b"mesg=", 1)[1])

    @property
    def count(self) -> int:
        return self._received - self._offset

    def reset(self) -> None:
        self._offset = self._received

    def stop(self) -> None:
        self._process.kill()


# --- data -------------------------------------------------------------------------------------------------------


def prepare(url: str, recipients: int) -> int:
    """Migrate and fill the database; returns the id of a first newsletter."""
    import flask_migrate

    from benchmarks.generate import generate
    from crm.contacts.models import Person, Segment
    from crm.events.links import token_digest
    from crm.events.models import Event, EventKind, EventStatus, Invitation, InvitationStatus
    from crm.extensions import db, migrations, utcnow

    app = make_app(url, 25)
    with app.app_context():
        migrations(app)
        flask_migrate.upgrade()
        generate(recipients, max(recipients // 5, 10))
        # Everyone has subscribed with an address (plain ASCII: the sink does not speak SMTPUTF8): N people
        # are N recipients.
        domain = sa.case((Person.id % 3 == 0, "@example.org"), (Person.id % 3 == 1, "@example.com"), else_="@kommune.test")
        email = sa.literal("empfaenger.") + sa.cast(Person.id, sa.String) + domain
        db.session.execute(sa.update(Person).values(email=email, newsletter_consent=True))
        starts = utcnow().replace(microsecond=0) + timedelta(days=30)
        event = Event(title="Webinar: Die E-Akte in kleinen Kommunen", kind=EventKind.webinar, status=EventStatus.published,
                      starts_at=starts, ends_at=starts + timedelta(hours=2), ical_uid="bench@example.org")  # fmt: skip
        db.session.add(event)
        db.session.flush()
        invited = db.session.scalars(sa.select(Person.id).where(Person.id % 10 == 0)).all()
        for start in range(0, len(invited), 5000):
            db.session.execute(sa.insert(Invitation), [
                {"event_id": event.id, "person_id": pid, "status": InvitationStatus.sent, "token_digest": token_digest(event, pid)}
                for pid in invited[start : start + 5000]
            ])  # fmt: skip
        db.session.add(Segment(name="Alle Empfänger", filters={}))
        db.session.commit()
    return new_newsletter(url)


def new_newsletter(url: str) -> int:
    """A draft newsletter to every recipient (one per engine measured: a sent one cannot be sent again)."""
    from crm.contacts.models import Segment
    from crm.events.models import Event
    from crm.extensions import db
    from crm.newsletters.models import BlockKind, Newsletter, NewsletterBlock
    from crm.newsletters.sending import new_web_key

    app = make_app(url, 25)
    with app.app_context():
        segment = db.session.scalar(sa.select(Segment).where(Segment.name == "Alle Empfänger"))
        event_id = db.session.scalar(sa.select(Event.id).where(Event.ical_uid == "bench@example.org"))
        newsletter = Newsletter(web_key=new_web_key(), subject="Rückblick auf die Mitgliederversammlung in Freiburg",
                                preheader="Thesen, Antworten und der nächste Termin", segment=segment)  # fmt: skip
        body = ("Die Mitgliederversammlung in **Freiburg** hat gezeigt, wie viel Kommunen voneinander lernen. "
                "Hier die wichtigsten Antworten auf unsere Leitfragen.\n\n") * 6  # fmt: skip
        newsletter.blocks += [
            NewsletterBlock(kind=BlockKind.text, position=0, title="Liebe Mitglieder", body=body),
            NewsletterBlock(kind=BlockKind.text, position=1, title="Leitfrage 1: Was braucht die Verwaltung?",
                            body="- Mut zur Lücke\n- Gemeinsame Standards\n- Verlässliche Finanzierung\n\n" + body),
            NewsletterBlock(kind=BlockKind.upcoming_events, position=2, title="Termine", data={"event_ids": [event_id]}),
            NewsletterBlock(kind=BlockKind.call_to_action, position=3, title="Mitmachen", body="Jetzt anmelden",
                            data={"url": "https://www.example.org/mitmachen", "label": "Zur Anmeldung"}),
        ]  # fmt: skip
        db.session.add(newsletter)
        db.session.commit()
        return newsletter.id


def _samples(url: str, newsletter_id: int, path: Path) -> None:
    """Real messages of this newsletter (the fast path) for the raw ceiling to push."""
    from crm.extensions import db
    from crm.newsletters.mailer import Mailer
    from crm.newsletters.models import Newsletter

    app = make_app(url, 25)
    with app.app_context():
        mailer = Mailer(db.session.get(Newsletter, newsletter_id))
        ids = list(range(1, SAMPLES + 1))
        mailer.load(ids)
        with path.open("wb") as handle:
            for person_id in ids:
                person = mailer.people[person_id]
                data = mailer.envelope(person, f"empfaenger.{person_id}@example.org").data
                handle.write(len(data).to_bytes(4, "big") + data)


# --- (a) the raw ceiling ---------------------------------------------------------------------------------------


def _push(port: int, samples_path: str, count: int, ready, out) -> None:
    data = Path(samples_path).read_bytes()
    messages, position = [], 0
    while position < len(data):
        size = int.from_bytes(data[position : position + 4], "big")
        messages.append(data[position + 4 : position + 4 + size])
        position += 4 + size
    from crm.mail.dialogue import announce, hand_over
    from crm.mail.transports import Envelope

    smtp = smtplib.SMTP("127.0.0.1", port)
    smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the transport does
    smtp.ehlo()
    ready.wait()  # every pusher loaded and connected: the time counts only the pushing
    start, cpu = time.perf_counter(), time.process_time()
    # The SMTP dialogue of the full path (crm.mail.handover), without the rest: message i is announced
    # after the final answer to i - 2 is read and i - 1 is handed over, with i - 1's terminator.
    announced, answer = None, None
    for i in range(count):
        if announced:
            if answer:
                answer()
            answer = hand_over(smtp, *announced, terminate=False)
        item = Envelope("newsletter@example.org", (f"empfaenger.{i}@example.org",), messages[i % len(messages)], "", dotless=True)
        announced = (item, announce(smtp, item, first=b".\r\n" if answer else b""))
    if answer:
        answer()
    hand_over(smtp, *announced)()
    out.put((start, time.perf_counter(), (time.process_time() - cpu) / count))
    smtp.quit()


def raw_ceiling(sink: Sink, samples: Path, count: int, connections: int, runs: int = 3) -> float:
    """Messages per second of pre-built messages over `connections` reused connections (one process each):
    the best of `runs` runs, from the first pusher's start to the last one's end (without starting Python)."""
    context = multiprocessing.get_context("spawn")
    share, rates = count // connections, []
    for _ in range(runs):
        ready, out = context.Barrier(connections), context.Queue()
        processes = [context.Process(target=_push, args=(sink.port, str(samples), share, ready, out)) for _ in range(connections)]
        sink.reset()
        for process in processes:
            process.start()
        times = [result_of(out, process) for process in processes]
        assert sink.count == share * connections, (sink.count, share * connections)
        rates.append(share * connections / (max(end for _, end, _ in times) - min(start for start, _, _ in times)))
        cpu = ", ".join(f"{cpu * 1000:.2f}" for _, _, cpu in times)
        print(f"   raw: {rates[-1]:,.0f} msgs/s, {cpu} ms CPU per message in the pushing process(es)", flush=True)
    return max(rates)


# --- (b) the full path ------------------------------------------------------------------------------------------


def _embedded(url: str, port: int, newsletter_id: int, out) -> None:
    from crm.extensions import db
    from crm.newsletters import sending
    from crm.newsletters.models import Newsletter

    app = make_app(url, port)
    with app.app_context():
        newsletter = db.session.get(Newsletter, newsletter_id)
        start, cpu = time.perf_counter(), time.process_time()
        queued = sending.start(newsletter, actor=None)
        db.session.commit()
        sending.deliver(newsletter)  # TASKS_INLINE: dispatches here, in this process
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"   embedded: {cpu / queued * 1000:.2f} ms CPU per message in the sending process", flush=True)
    out.put((queued, seconds, peak_rss_mb()))


def result_of(out, process):
    """What `process` put into `out`; raises if it died first (a newsletter that cannot be started)."""
    while True:
        try:
            value = out.get(timeout=1)
            process.join()
            return value
        except queue.Empty:
            if not process.is_alive():
                raise RuntimeError(f"The starting process ended with {process.exitcode} before it reported")


def embedded(url: str, sink: Sink, newsletter_id: int) -> tuple[float, float]:
    """(messages per second, peak RSS in MB) of the whole send on the embedded engine."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=_embedded, args=(url, sink.port, newsletter_id, out))
    sink.reset()
    process.start()
    queued, seconds, rss = result_of(out, process)
    assert sink.count == queued, f"{sink.count} received, {queued} queued"
    return queued / seconds, rss


def report(engine: str, db: str, recipients: int, rate: float, raw: float, rss: float) -> None:
    print(f"engine={engine} db={db} recipients={recipients} msgs_per_s={rate:.0f} raw_msgs_per_s={raw:.0f} "
          f"ratio={rate / raw:.2f} peak_rss_mb={rss:.0f}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--postgres", help="URL of an EMPTY PostgreSQL database to use as well")
    parser.add_argument("--sqlite", metavar="PATH", help="SQLite file to create (default: a temporary one)")
    parser.add_argument("--engines", default="embedded", help="embedded, celery or both (comma-separated)")
    parser.add_argument("--raw", type=int, default=30_000, help="messages for the raw ceiling (at most --recipients)")
    parser.add_argument("--sink", choices=("auto", "smtp-sink", "aiosmtpd"), default="auto",
                        help="the SMTP server that takes the mail (auto: Postfix's smtp-sink if installed, else aiosmtpd)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    sqlite_path = Path(args.sqlite or f"{tempfile.mkdtemp(prefix='crm-send-')}/send.sqlite").resolve()
    databases = {"sqlite": f"sqlite:///{sqlite_path}"}
    if args.postgres:
        databases["postgresql"] = args.postgres
    postfix = args.sink == "smtp-sink" or (args.sink == "auto" and Path(PostfixSink.PROGRAM).exists())
    sink = PostfixSink() if postfix else Sink()
    print(f"SMTP sink: {sink.name} on 127.0.0.1:{sink.port}", flush=True)
    try:
        for label, url in databases.items():
            start = time.perf_counter()
            newsletter_id = prepare(url, args.recipients)
            samples = Path(tempfile.mkdtemp(prefix="crm-send-")) / "samples.bin"
            _samples(url, newsletter_id, samples)
            print(f"== {label}: {args.recipients:,} recipients ready in {time.perf_counter() - start:.0f} s", flush=True)
            for number, engine in enumerate(args.engines.split(",")):
                newsletter_id = newsletter_id if number == 0 else new_newsletter(url)
                if engine == "embedded":
                    raw = raw_ceiling(sink, samples, min(args.raw, args.recipients), 1)
                    rate, rss = embedded(url, sink, newsletter_id)
                elif engine == "celery":
                    from benchmarks.send_celery import celery_run

                    raw, rate, rss = celery_run(url, sink, newsletter_id, samples, min(args.raw, args.recipients))
                else:
                    raise SystemExit(f"Unknown engine {engine!r}")
                report(engine, label, args.recipients, rate, raw, rss)
    finally:
        sink.stop()


if __name__ == "__main__":
    os.environ.setdefault("CRM_ENV", "development")
    main()
