"""Mail transports: real SMTP, or the file outbox that is the embedded default."""
import copy
import email.policy
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Callable

from flask import current_app

from crm.extensions import utcnow


class TransportError(RuntimeError):
    """The message could not be handed over; the German message says why.

    `permanent`: the server answered 5xx, trying again will not help. `connection`: the server could
    not be reached or dropped the connection, so the next message would fail the same way.
    """

    def __init__(self, message: str, *, permanent: bool = False, connection: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.connection = connection


@dataclass(frozen=True)
class Envelope:
    """A message as it goes over the wire: the envelope addresses and the finished bytes (CRLF line
    ends, no Bcc). Bulk mail is handed to the transports in this form, so a renderer may build the
    bytes without an EmailMessage (the newsletter's fast path) and the pipeline may set the envelope
    sender per delivery."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    message_id: str


def envelope(msg: "EmailMessage | Envelope", *, sender: str | None = None) -> Envelope:
    """The wire form of `msg`; `sender` replaces the envelope sender (MAIL FROM) taken from the headers."""
    if isinstance(msg, Envelope):
        return msg if sender is None else Envelope(sender, msg.recipients, msg.data, msg.message_id)
    return Envelope(sender or envelope_sender(msg), tuple(_all_recipients(msg)), wire_bytes(msg), msg["Message-ID"])


class SMTPTransport:
    """Sends over one SMTP connection, opened lazily and reused until close()."""

    def __init__(self, host: str, port: int, *, tls: str = "none", user=None, password=None, timeout: int = 30):
        self.host, self.port, self.tls = host, port, tls
        self.user, self.password, self.timeout = user, password, timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.tls == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.tls == "starttls":
                smtp.starttls(context=context)
        # The terminator "." goes out as a small write of its own (crm.mail.journal); without NODELAY the
        # kernel holds it back until the server acknowledges the data, up to 40 ms per message.
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.user:
            smtp.login(self.user, self.password or "")
        return smtp

    def send(self, msg: EmailMessage | Envelope, *, before_commit: Callable[[], None] | None = None) -> None:
        """Hand the message over; `before_commit` runs when the server has all of it but has not yet
        been told that it is complete (see crm.mail.journal)."""
        item = envelope(msg)
        try:
            if self._smtp is None:
                self._smtp = self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise TransportError(
                f"Der Mailserver {self.host}:{self.port} ist nicht erreichbar: {exc}", connection=True
            ) from exc
        try:
            # smtplib wants CRLF line ends already; a strict server rejects bare LF.
            _sendmail(self._smtp, item, before_commit)
        except smtplib.SMTPNotSupportedError as exc:
            raise TransportError(
                f"Der Mailserver {self.host}:{self.port} nimmt keine Adressen mit Umlauten an (SMTPUTF8).", permanent=True
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            permanent = all(code >= 500 for code, _ in exc.recipients.values())
            raise TransportError(
                f"Der Mailserver hat die Empfängeradresse abgelehnt: {exc.recipients}", permanent=permanent
            ) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise TransportError(
                f"Der Mailserver {self.host}:{self.port} hat die Nachricht abgelehnt: {exc}", permanent=exc.smtp_code >= 500
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise TransportError(
                f"Der Mailserver {self.host}:{self.port} hat die Nachricht abgelehnt: {exc}", connection=True
            ) from exc

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp = None


_LEADING_DOT = re.compile(rb"(?m)^\.")


def _sendmail(smtp: smtplib.SMTP, item: Envelope, before_commit: Callable[[], None] | None) -> None:
    """What smtplib's sendmail() does, with a hook before the DATA terminator: the server discards
    a message whose connection breaks before the final ".", and keeps one that got it."""
    smtp.ehlo_or_helo_if_needed()
    # An address with non-ASCII characters (RFC 6531) needs a server that offers SMTPUTF8.
    options = [] if item.sender.isascii() and all(a.isascii() for a in item.recipients) else ["SMTPUTF8"]
    code, reply = smtp.mail(item.sender, options)
    if code != 250:
        _reset(smtp, code)
        raise smtplib.SMTPSenderRefused(code, reply, item.sender)
    refused = {}
    for address in item.recipients:
        code, reply = smtp.rcpt(address)
        if code not in (250, 251):
            refused[address] = (code, reply)
        if code == 421:
            break
    if len(refused) == len(item.recipients) or code == 421:
        _reset(smtp, code)
        raise smtplib.SMTPRecipientsRefused(refused)
    smtp.putcmd("data")
    code, reply = smtp.getreply()
    if code != 354:
        _reset(smtp, code)
        raise smtplib.SMTPDataError(code, reply)
    data = _LEADING_DOT.sub(b"..", item.data)
    smtp.send(data if data.endswith(b"\r\n") else data + b"\r\n")
    if before_commit:
        before_commit()
    smtp.send(b".\r\n")
    code, reply = smtp.getreply()
    if code != 250:
        _reset(smtp, code)
        raise smtplib.SMTPDataError(code, reply)


def _reset(smtp: smtplib.SMTP, code: int) -> None:
    """After a refusal: RSET for the next message, or close when the server is closing (421)."""
    try:
        smtp.close() if code == 421 else smtp.rset()
    except smtplib.SMTPServerDisconnected:
        pass


class FileTransport:
    """Writes each message as an .eml file into the outbox directory (viewable in the app)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def send(self, msg: EmailMessage | Envelope, *, before_commit: Callable[[], None] | None = None) -> Path:
        item = envelope(msg)
        if before_commit:
            before_commit()
        self.directory.mkdir(parents=True, exist_ok=True)
        message_id = item.message_id.strip("<>").split("@")[0]
        path = self.directory / f"{utcnow():%Y%m%d-%H%M%S-%f}-{message_id}.eml"
        path.write_bytes(item.data)
        return path

    def close(self) -> None:
        pass


def wire_bytes(msg: EmailMessage) -> bytes:
    """The message as it goes over the wire: CRLF line ends, and no Bcc header for anyone to read."""
    if "Bcc" in msg:
        msg = copy.copy(msg)
        del msg["Bcc"]
    return msg.as_bytes(policy=email.policy.SMTP)


def envelope_sender(msg: EmailMessage) -> str:
    return msg["Sender"].addresses[0].addr_spec if msg["Sender"] else msg["From"].addresses[0].addr_spec


def _all_recipients(msg: EmailMessage) -> list[str]:
    addresses = []
    for header in ("To", "Cc", "Bcc"):
        for value in msg.get_all(header, []):
            addresses += [a.addr_spec for a in value.addresses]
    return addresses


def get_transport():
    """The transport the configuration asks for (CRM_MAIL_BACKEND=smtp|file)."""
    config = current_app.config
    if config["MAIL_BACKEND"] == "file":
        return FileTransport(config["MAIL_OUTBOX_DIR"])
    if config["MAIL_BACKEND"] == "smtp":
        return SMTPTransport(
            config["SMTP_HOST"],
            config["SMTP_PORT"],
            tls=config["SMTP_TLS"],
            user=config["SMTP_USER"],
            password=config["SMTP_PASSWORD"],
            timeout=config["SMTP_TIMEOUT"],
        )
    raise RuntimeError(f"Unknown CRM_MAIL_BACKEND {config['MAIL_BACKEND']!r} (use smtp or file)")
