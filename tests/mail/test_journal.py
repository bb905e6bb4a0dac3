"""A sending process killed after handing messages over and before recording them: the next run
finds its journal, records those messages as sent, and sends only the rest."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from functools import partial

import sqlalchemy as sa

from crm.extensions import db
from crm.mail import journal, pipeline
from crm.mail.models import Delivery, DeliveryStatus
from crm.mail.transports import Envelope, SMTPTransport
from tests.events.test_pipeline import MAILING, addresses, deliveries

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from crm.mail.journal import Journal
    log = Journal(Path(sys.argv[1]))
    for entry in sys.argv[2:]:
        delivery_id, message_id = entry.split("=")
        log.handing_over(int(delivery_id), message_id)
    print("bereit", flush=True)
    time.sleep(60)
    """
)


def killed_writer(directory, entries: dict[int, str]) -> None:
    """A real process that journals the entries and is then killed with SIGKILL (no clean-up runs)."""
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(directory), *(f"{i}={m}" for i, m in entries.items())],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    with process.stdout:
        assert process.stdout.readline().strip() == "bereit"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def test_a_killed_run_is_recorded_and_the_rest_sent_once(make, mailbox, sent_hook, app):
    people = [make.person() for _ in range(5)]
    pipeline.queue(MAILING, 1, [p.id for p in people])
    db.session.commit()
    rows = deliveries()
    handed_over = {rows[0].id: "<a@example.org>", rows[1].id: "<b@example.org>"}
    killed_writer(pipeline.journal_directory(), handed_over)

    result = pipeline.dispatch(MAILING, 1)

    assert result.sent == 3
    assert addresses(mailbox) == sorted(p.email for p in people[2:]), "the two handed over were sent again"
    rows = deliveries()
    assert {d.status for d in rows} == {DeliveryStatus.sent}
    assert {d.id: d.message_id for d in rows[:2]} == handed_over
    assert list(pipeline.journal_directory().glob("*.journal")) == []


def test_the_journal_of_a_living_run_is_left_alone(make, app, tmp_path):
    living = journal.Journal(tmp_path)
    living.handing_over(41, "<x@example.org>")
    try:
        assert journal.orphans(tmp_path) == []
    finally:
        living.close()
    assert not living.path.exists()


def test_an_entry_only_records_rows_still_queued(make, sent_hook, app):
    person = make.person()
    pipeline.queue(MAILING, 2, [person.id])
    db.session.commit()
    delivery = deliveries()[0]
    delivery.status = DeliveryStatus.failed
    db.session.commit()
    killed_writer(pipeline.journal_directory(), {delivery.id: "<c@example.org>"})
    assert pipeline.recover() == 0
    assert db.session.scalar(sa.select(Delivery.status).where(Delivery.id == delivery.id)) == DeliveryStatus.failed


def test_journals_are_kept_apart_per_database(tmp_path):
    assert journal.directory_for(tmp_path, "sqlite:///a.sqlite") != journal.directory_for(tmp_path, "postgresql://h/b")


def test_a_run_waits_while_another_process_takes_over_an_orphan(make, mailbox, sent_hook, app):
    people = [make.person() for _ in range(3)]
    pipeline.queue(MAILING, 1, [p.id for p in people])
    db.session.commit()
    handed_over = {deliveries()[0].id: "<a@example.org>"}
    directory = pipeline.journal_directory()
    killed_writer(directory, handed_over)
    taken = threading.Event()

    def other_process():
        """Takes the orphan over, and dies before it recorded anything: the orphan is left as it was."""
        with journal.taking_over(directory):
            [orphan] = journal.orphans(directory)
            taken.set()
            time.sleep(0.5)  # meanwhile the run below asks for orphans and must wait, not claim the rows
            os.close(orphan.fd)

    thread = threading.Thread(target=other_process)
    thread.start()
    taken.wait(timeout=30)
    result = pipeline.dispatch(MAILING, 1)
    thread.join(timeout=30)

    assert result.sent == 2
    assert addresses(mailbox) == sorted(p.email for p in people[1:]), "the message handed over was sent again"


def _message(number: int) -> Envelope:
    message_id = f"<{number}@example.org>"
    data = f"From: a@example.org\r\nTo: b{number}@example.org\r\nMessage-ID: {message_id}\r\n\r\nHallo\r\n".encode()
    return Envelope("a@example.org", (f"b{number}@example.org",), data, message_id)


def test_a_process_killed_before_a_terminator_went_out_has_not_journaled_that_message(tmp_path, smtp_server, mailbox):
    """A message's terminator waits to go out with the next envelope (crm.mail.dialogue). A process killed
    meanwhile leaves a message the server drops: its journal must not have it as sent, or recovery would
    record it as sent and nobody would ever get it."""
    log = journal.Journal(tmp_path)
    transport = SMTPTransport("127.0.0.1", smtp_server.port, timeout=5)
    first, second = _message(1), _message(2)
    transport.announce(first, before_commit=partial(log.handing_over, 1, first.message_id)).hand_over()
    assert log.path.read_text() == "", "journaled before its terminator went out"

    transport.announce(second, before_commit=partial(log.handing_over, 2, second.message_id))
    assert log.path.read_text() == f"1 {first.message_id}\n"  # its terminator went out with the next envelope
    transport._smtp.close()  # the process dies (its sockets close; no terminator for the second)
    log.close()

    deadline = time.monotonic() + 5
    while not mailbox.envelopes and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # the server has had time for a second message too
    assert [e.rcpt_tos for e in mailbox.envelopes] == [["b1@example.org"]]
