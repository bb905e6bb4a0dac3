"""The mail pipeline: MIME building, MJML rendering, SMTP against a real server, the file outbox and its pages."""
import email
import email.policy
import re
import socket
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest
from aiosmtpd.controller import Controller
from flask import render_template

from crm.contacts.models import Person, Salutation
from crm.mail.message import build_message, recipient
from crm.mail.render import render_mail
from crm.mail.services import send_mail
from crm.mail.pool import SMTPPool
from crm.mail.transports import FileTransport, SMTPTransport, TransportError, get_transport
from crm.mail.views import EML_NAME
from tests.html import page_text

SENDER = "Kommune 2.0 e. V. <geschaeftsstelle@example.org>"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _message(subject="Ihr Zugang – bitte Passwort setzen", to=None, **kw):
    kw.setdefault("text", "Sehr geehrter Herr Müller,\n\nbitte setzen Sie Ihr Passwort.\n\nMit freundlichen Grüßen\n")
    kw.setdefault("html", "<p>Sehr geehrter Herr Müller,</p><p>bitte setzen Sie Ihr Passwort.</p>")
    return build_message(
        sender=kw.pop("sender", SENDER),
        to=to or recipient("Jürgen Müller", "juergen.mueller@example.org"),
        subject=subject,
        **kw,
    )


def _wire(msg) -> tuple[bytes, email.message.EmailMessage]:
    """The message as it goes over the wire, and as a mail program reads it back."""
    raw = msg.as_bytes(policy=email.policy.SMTP)
    return raw, email.message_from_bytes(raw, policy=email.policy.default)


# --- building messages --------------------------------------------------------------------------------------------


def test_message_has_text_and_html_alternatives():
    _, parsed = _wire(_message())
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed.get_body(("plain",)).get_content().splitlines()[:3] == [
        "Sehr geehrter Herr Müller,", "", "bitte setzen Sie Ihr Passwort."
    ]
    assert "<p>bitte setzen Sie Ihr Passwort.</p>" in parsed.get_body(("html",)).get_content()


def test_message_without_html_is_plain_text():
    _, parsed = _wire(_message(html=None))
    assert parsed.get_content_type() == "text/plain"


def test_message_headers():
    before = datetime.now(timezone.utc).replace(microsecond=0)
    _, parsed = _wire(_message(reply_to="Geschäftsstelle <antwort@example.org>"))

    assert re.fullmatch(r"<[^@<>\s]+@example\.org>", parsed["Message-ID"]), parsed["Message-ID"]
    sent = parsedate_to_datetime(parsed["Date"])
    assert sent.tzinfo is not None and before <= sent <= datetime.now(timezone.utc) + timedelta(seconds=1)
    sender = parsed["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Kommune 2.0 e. V.", "geschaeftsstelle@example.org")
    reply_to = parsed["Reply-To"].addresses[0]
    assert (reply_to.display_name, reply_to.addr_spec) == ("Geschäftsstelle", "antwort@example.org")
    assert parsed["Subject"] == "Ihr Zugang – bitte Passwort setzen"


def test_message_id_uses_the_senders_domain_and_is_unique():
    first = _message(sender="Verband <info@kommune20.de>")
    second = _message(sender="Verband <info@kommune20.de>")
    assert first["Message-ID"].endswith("@kommune20.de>")
    assert first["Message-ID"] != second["Message-ID"]


def test_no_reply_to_unless_configured():
    assert "Reply-To" not in _message(reply_to=None)


def test_german_display_name_is_encoded_in_the_header():
    raw, parsed = _wire(_message())
    headers = raw.split(b"\r\n\r\n", 1)[0]
    headers.decode("ascii")  # no raw 8-bit bytes in the header block
    to_line = re.search(rb"^To: (.*(?:\r\n[ \t].*)*)", headers, flags=re.M).group(1)
    assert b"=?utf-8?" in to_line.lower()
    address = parsed["To"].addresses[0]
    assert (address.display_name, address.addr_spec) == ("Jürgen Müller", "juergen.mueller@example.org")


def test_display_name_with_comma_stays_one_recipient():
    _, parsed = _wire(_message(to=recipient("Müller, Jürgen", "jm@example.org")))
    addresses = parsed["To"].addresses
    assert len(addresses) == 1
    assert (addresses[0].display_name, addresses[0].addr_spec) == ("Müller, Jürgen", "jm@example.org")


def test_recipient_without_name_is_the_bare_address():
    assert recipient(None, "info@example.org") == "info@example.org"
    assert recipient("", "info@example.org") == "info@example.org"


# --- rendering ----------------------------------------------------------------------------------------------------


def _context(**kw):
    person = Person(salutation=Salutation.herr, first_name="Max", last_name=kw.pop("last_name", "Beispiel"))
    return {"subject": "Neues Passwort", "person": person, "link": "http://crm.test/passwort-setzen/abc", "hours": 24,
            **kw}  # fmt: skip


def test_render_mail_compiles_mjml_to_html_and_text(app):
    with app.app_context():
        html, text = render_mail("password_reset", **_context())

    assert "<mj-" not in html
    assert re.search(r"<html\b", html, flags=re.I)
    assert "Sehr geehrter Herr Beispiel," in html
    assert 'href="http://crm.test/passwort-setzen/abc"' in html
    assert "24 Stunden gültig" in html
    assert text.startswith("Sehr geehrter Herr Beispiel,\n")
    assert "http://crm.test/passwort-setzen/abc" in text


def test_user_values_are_escaped_in_mjml_but_not_in_text(app):
    evil = "<script>alert(1)</script> & Söhne"
    with app.app_context():
        source = render_template("email/password_reset.mjml", **_context(last_name=evil))
        html, text = render_mail("password_reset", **_context(last_name=evil))

    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Söhne" in source
    assert "<script>" not in source
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert f"Sehr geehrter Herr {evil}," in text
    assert "&lt;" not in text and "&amp;" not in text


# --- SMTP ---------------------------------------------------------------------------------------------------------


def test_smtp_transport_delivers_to_the_server(app, mailbox):
    with app.app_context():
        transport = get_transport()
        assert isinstance(transport, SMTPPool)
        try:
            transport.send(_message())
        finally:
            transport.close()

    assert len(mailbox.messages) == 1
    received, envelope = mailbox.messages[0], mailbox.envelopes[0]
    assert envelope.mail_from == "geschaeftsstelle@example.org"
    assert envelope.rcpt_tos == ["juergen.mueller@example.org"]
    assert received["Subject"] == "Ihr Zugang – bitte Passwort setzen"
    assert received["To"].addresses[0].display_name == "Jürgen Müller"
    assert received.get_body(("plain",)).get_content().startswith("Sehr geehrter Herr Müller,")


def test_smtp_bytes_have_crlf_line_ends_only(app, mailbox):
    with app.app_context():
        transport = get_transport()
        transport.send(_message())
        transport.close()

    content = mailbox.envelopes[0].content
    assert content.count(b"\n") > 10
    assert content.count(b"\n") == content.count(b"\r\n"), "bare LF in the SMTP data"


def test_send_mail_renders_and_sends_a_complete_mail(app, db, make, mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_REPLY_TO", "antwort@example.org")
    person = make.person(salutation=Salutation.frau, title="Dr.", first_name="Anna", last_name="Mohrbacher")
    message_id = send_mail(to_email=person.email, to_name="Dr. Anna Mohrbacher", subject="Neues Passwort",
                           template="password_reset", person=person, link="http://crm.test/x", hours=24)  # fmt: skip

    [received] = mailbox.to(person.email)
    assert received["Message-ID"] == message_id
    assert received["Reply-To"] == "antwort@example.org"
    assert received.get_body(("plain",)).get_content().startswith("Sehr geehrte Frau Dr. Mohrbacher,")
    assert "Sehr geehrte Frau Dr. Mohrbacher," in received.get_body(("html",)).get_content()


def test_bcc_recipients_get_the_mail_but_are_not_shown(app, mailbox):
    msg = _message(headers={"Bcc": "vorstand@example.org"})
    with app.app_context():
        transport = get_transport()
        transport.send(msg)
        transport.close()

    assert sorted(mailbox.envelopes[0].rcpt_tos) == ["juergen.mueller@example.org", "vorstand@example.org"]
    delivered = mailbox.envelopes[0].content
    assert b"vorstand@example.org" not in delivered, "Bcc address visible to every recipient"


class _PeerRecorder:
    """An SMTP handler that remembers from which client connection each message came."""

    def __init__(self, refuse: str | None = None):
        self.peers: list = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.peers.append(session.peer)
        return "250 Message accepted for delivery"


@pytest.fixture()
def recording_server():
    handler = _PeerRecorder(refuse="unbekannt@example.org")
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller
    controller.stop()


def test_smtp_transport_reuses_one_connection(recording_server):
    transport = SMTPTransport("127.0.0.1", recording_server.port, timeout=5)
    try:
        for n in range(3):
            transport.send(_message(subject=f"Nachricht {n}"))
    finally:
        transport.close()

    peers = recording_server.handler.peers
    assert len(peers) == 3
    assert len(set(peers)) == 1, f"a new connection per message: {peers}"


def test_refused_recipient_raises_german_error_and_next_mail_still_goes(recording_server):
    transport = SMTPTransport("127.0.0.1", recording_server.port, timeout=5)
    try:
        with pytest.raises(TransportError, match="Mailserver"):
            transport.send(_message(to="unbekannt@example.org"))
        transport.send(_message())
    finally:
        transport.close()
    assert len(recording_server.handler.peers) == 1


def test_unreachable_server_raises_transport_error_in_german():
    port = _free_port()  # nothing listens here
    transport = SMTPTransport("127.0.0.1", port, timeout=5)
    with pytest.raises(TransportError) as failed:
        transport.send(_message())
    message = str(failed.value)
    assert "Mailserver" in message
    assert f"127.0.0.1:{port}" in message
    with pytest.raises(TransportError):  # still a clean error on the next try
        transport.send(_message())
    transport.close()


# --- file outbox --------------------------------------------------------------------------------------------------


def test_file_transport_writes_eml_files(tmp_path):
    outbox = tmp_path / "outbox"
    transport = FileTransport(outbox)
    first = transport.send(_message(subject="Erste"))
    second = transport.send(_message(subject="Zweite"))

    assert first.parent == outbox and second.parent == outbox
    assert first.suffix == ".eml" and EML_NAME.match(first.name)
    assert sorted(p.name for p in outbox.iterdir()) == [first.name, second.name]  # names sort by time
    raw = first.read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == "Erste"
    assert parsed["To"].addresses[0].display_name == "Jürgen Müller"


@pytest.fixture()
def file_outbox(app, tmp_path, monkeypatch):
    outbox = tmp_path / "outbox"
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "file")
    monkeypatch.setitem(app.config, "MAIL_OUTBOX_DIR", str(outbox))
    monkeypatch.setitem(app.config, "SHOW_OUTBOX", True)
    return outbox


def _send_to_outbox(app, make):
    person = make.person(salutation=Salutation.herr, first_name="Jürgen", last_name="Müller")
    with app.app_context():
        send_mail(to_email=person.email, to_name="Jürgen Müller", subject="Ihr Zugang", template="password_reset",
                  person=person, link="http://crm.test/passwort-setzen/abc", hours=24)  # fmt: skip
    return person


def test_send_mail_with_file_backend_writes_to_the_outbox(app, db, make, file_outbox, mailbox):
    _send_to_outbox(app, make)
    assert len(list(file_outbox.glob("*.eml"))) == 1
    assert mailbox.messages == []


def test_outbox_pages_list_and_show_the_mail(client, login, make, app, file_outbox):
    login("office")
    person = _send_to_outbox(app, make)
    [path] = file_outbox.glob("*.eml")

    listing = client.get("/outbox/")
    assert listing.status_code == 200
    text = page_text(listing.get_data(as_text=True))
    assert "Postausgang" in text
    assert "Ihr Zugang" in text
    assert f"Jürgen Müller <{person.email}>" in text
    assert f'href="/outbox/{path.name}"' in listing.get_data(as_text=True)

    shown = client.get(f"/outbox/{path.name}")
    assert shown.status_code == 200
    text = page_text(shown.get_data(as_text=True))
    assert "Ihr Zugang" in text
    assert "Sehr geehrter Herr Müller," in text
    assert "http://crm.test/passwort-setzen/abc" in text


@pytest.mark.parametrize(
    "name", ["..%2Fgeheim.eml", "%2E%2E%2Fgeheim.eml", "..%5Cgeheim.eml", "..", "notiz.txt", "fehlt.eml"]
)
def test_outbox_refuses_names_outside_the_outbox(client, login, file_outbox, name):
    file_outbox.mkdir()
    (file_outbox.parent / "geheim.eml").write_bytes(b"Subject: GEHEIM\r\n\r\nStreng vertraulich\r\n")
    (file_outbox / "notiz.txt").write_bytes(b"Subject: NOTIZ\r\n\r\nNotiz\r\n")
    login("office")

    response = client.get(f"/outbox/{name}")
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "GEHEIM" not in body and "vertraulich" not in body and "NOTIZ" not in body


def test_outbox_is_404_with_the_smtp_backend(client, login, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    login("office")
    response = client.get("/outbox/")
    assert response.status_code == 404
    assert "Seite nicht gefunden" in response.get_data(as_text=True)
    assert client.get("/outbox/20240101-000000-000000-x.eml").status_code == 404


def test_outbox_is_404_when_hidden(client, login, file_outbox, monkeypatch, app):
    monkeypatch.setitem(app.config, "SHOW_OUTBOX", False)
    login("admin")
    assert client.get("/outbox/").status_code == 404


def test_outbox_is_forbidden_for_members(client, login, make, app, file_outbox):
    _send_to_outbox(app, make)
    [path] = file_outbox.glob("*.eml")
    login("member")

    for url in ("/outbox/", f"/outbox/{path.name}"):
        response = client.get(url)
        assert response.status_code == 403, url
        body = response.get_data(as_text=True)
        assert "Kein Zugriff" in body
        assert "Ihr Zugang" not in body
