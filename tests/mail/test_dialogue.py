"""The SMTP dialogue of bulk mail (crm.mail.dialogue) against a real aiosmtpd server that offers PIPELINING:
the server answers one message's envelope and takes the content of the one before while the sender builds
the next. (Refusals and closed connections in the middle of this: tests/mail/test_smtp_errors.py.)"""
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from crm.mail import pipeline
from tests.conftest import free_port
from tests.events.test_pipeline import MAILING
from tests.mail.conftest import ScriptedServer
from tests.mail.test_smtp_errors import _use


class _Recording(SMTP):
    """aiosmtpd's server, noting each piece of bytes as it arrives from the socket."""

    def data_received(self, data: bytes) -> None:
        self.event_handler.chunks.append(data)
        super().data_received(data)


class RecordingServer(ScriptedServer):
    def __init__(self):
        super().__init__()
        self.chunks: list[bytes] = []


@pytest.fixture()
def recording():
    handler = RecordingServer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.factory = lambda: _Recording(handler, **controller.SMTP_kwargs)
    controller.start()
    yield controller
    controller.stop()


def test_the_next_envelope_goes_out_with_the_end_of_the_message_before(app, make, recording, sent_hook, monkeypatch):
    """Before its answer to the first message: the server reads the terminator and the next MAIL, RCPT and
    DATA at once and answers them at once (answered apart, the second answer could wait 40 ms for the
    acknowledgement of the first)."""
    _use(app, monkeypatch, recording)
    people = [make.person() for _ in range(3)]
    pipeline.queue(MAILING, 1, [p.id for p in people])

    assert pipeline.dispatch(MAILING, 1).sent == 3

    # (The content before may come in the same piece: what matters is that the envelope is not later.)
    groups = [chunk[chunk.index(b".\r\nMAIL FROM:") :] for chunk in recording.handler.chunks if b".\r\nMAIL FROM:" in chunk]
    assert [group.count(b"RCPT TO:") for group in groups] == [1, 1]
    assert all(group.endswith(b"DATA\r\n") for group in groups)
    assert recording.handler.received == [p.email for p in people]  # each once, in order
