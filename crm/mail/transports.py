"""Mail transports: real SMTP, or the file outbox that is the embedded default."""
import copy
import email.policy
import logging
import re
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Callable

from flask import current_app

from crm.extensions import utcnow

logger = logging.getLogger(__name__)

#: A connection unused for this long is checked (NOOP) before the next message: servers drop idle ones.
IDLE_CHECK_SECONDS = 10
#: An address of ASCII atoms (RFC 5321 Dot-string and a domain): smtplib's quoteaddr() would return it
#: unchanged in angle brackets, after running the email package's address parser (12 µs, twice a message).
PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


class TransportError(RuntimeError):
    """The message could not be handed over; the German message says why.

    `permanent`: the server answered 5xx, trying again will not help. `connection`: the server could
    not be reached or dropped the connection, so the next message would fail the same way. `reply`:
    the server's answer ("451 4.3.0 …"), if it gave one; `refused`: the recipients it refused, each
    with its answer (a DATA answer counts for the recipient of a message that has only one).
    """

    def __init__(self, message: str, *, permanent: bool = False, connection: bool = False, reply: str | None = None,
                 refused: dict[str, str] | None = None):  # fmt: skip
        super().__init__(message)
        self.permanent = permanent
        self.connection = connection
        self.reply = reply
        self.refused = {address.lower(): answer for address, answer in (refused or {}).items()}

    @property
    def code(self) -> int | None:
        """The server's reply code (421, 550, …), if it answered."""
        return int(self.reply[:3]) if self.reply and self.reply[:3].isdigit() else None


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
    """Sends over one SMTP connection, opened lazily and reused until close() (or until the server
    closes it: after a 421 the next message opens a new one)."""

    def __init__(self, host: str, port: int, *, tls: str = "none", user=None, password=None, timeout: int = 30, signer=None):
        self.host, self.port, self.tls = host, port, tls
        self.user, self.password, self.timeout = user, password, timeout
        #: Signs each message (DKIM, crm.mail.dkim) just before it goes out; None: unsigned.
        self.signer = signer
        self._smtp: smtplib.SMTP | None = None
        self._used_at = 0.0

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"

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

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None and time.monotonic() - self._used_at > IDLE_CHECK_SECONDS and not self._alive():
            self.close()
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except (smtplib.SMTPException, OSError) as exc:
                self.close()
                raise TransportError(
                    f"Der Mailserver {self.name} ist nicht erreichbar: {exc}", connection=True, reply=_reply(exc)
                ) from exc
        self._used_at = time.monotonic()
        return self._smtp

    def _alive(self) -> bool:
        """Whether the server still answers on the open connection (asked before it is used after a pause:
        a message that failed on a dropped connection could not tell whether the server had taken it)."""
        try:
            return self._smtp.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False

    def send(self, msg: EmailMessage | Envelope, *, before_commit: Callable[[], None] | None = None,
             deferred: bool = False) -> Callable[[], None] | None:  # fmt: skip
        """Hand the message over; `before_commit` runs when the server has all of it but has not yet
        been told that it is complete (see crm.mail.journal).

        deferred=True returns as soon as the message is out and leaves the server's final answer to
        the function it returns (which raises TransportError like send()): the caller prepares the
        next message while the server takes this one. Call it before anything else is sent.
        """
        item = envelope(msg)
        if self.signer is not None:
            item = self.signer.sign(item)
        smtp = self._connection()
        answer = self._guarded(item, lambda: _sendmail(smtp, item, before_commit))
        if deferred:
            return lambda: self._refused(item, self._guarded(item, answer))
        self._refused(item, self._guarded(item, answer))
        return None

    def _refused(self, item: Envelope, refused: dict) -> None:
        if refused:  # the others got it; the office sees the refusal in the log only
            logger.warning("Mail %s: %s refused %s", item.message_id, self.name, refused)

    def _guarded(self, item: Envelope, step: Callable):
        """step(), with smtplib's errors told as TransportError in German."""
        try:
            return step()
        except smtplib.SMTPNotSupportedError as exc:
            raise TransportError(
                f"Der Mailserver {self.name} nimmt keine Adressen mit Umlauten an (SMTPUTF8).", permanent=True
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            answers = {address: _reply_of(code, text) for address, (code, text) in exc.recipients.items()}
            error = TransportError(
                f"Der Mailserver hat die Empfängeradresse abgelehnt: {'; '.join(answers.values())}",
                permanent=all(code >= 500 for code, _ in exc.recipients.values()), reply=next(iter(answers.values()), None),
                refused=answers,
            )  # fmt: skip
            self._after(error)
            raise error from exc
        except smtplib.SMTPSenderRefused as exc:  # about our envelope sender, not the recipient
            self.close()
            raise TransportError(
                f"Der Mailserver {self.name} hat den Absender abgelehnt: {_reply(exc)}", permanent=exc.smtp_code >= 500,
                reply=_reply(exc),
            ) from exc
        except smtplib.SMTPResponseException as exc:
            reply = _reply(exc)
            error = TransportError(
                f"Der Mailserver {self.name} hat die Nachricht abgelehnt: {reply}", permanent=exc.smtp_code >= 500,
                reply=reply, refused={item.recipients[0]: reply} if len(item.recipients) == 1 else None,
            )  # fmt: skip
            self.close()  # the state of the dialogue is not certain after a refusal outside RCPT
            raise error from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise TransportError(
                f"Der Mailserver {self.name} hat die Verbindung abgebrochen: {exc}", connection=True
            ) from exc

    def _after(self, error: TransportError) -> None:
        """After a refusal at RCPT the connection stays for the next message, unless the server closed it (421)."""
        if error.code == 421 or any(answer.startswith("421") for answer in error.refused.values()):
            self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp = None


def _dot_stuffed(data: bytes) -> bytes:
    """A line that starts with "." gets a second one (RFC 5321 4.5.2), as smtplib does with a regular
    expression that costs a quarter of a millisecond per newsletter; bytes.replace costs a hundredth."""
    if b"\n." in data:  # (finding none is much cheaper than copying 30 KB)
        data = data.replace(b"\n.", b"\n..")
    return b"." + data if data.startswith(b".") else data


def _sendmail(smtp: smtplib.SMTP, item: Envelope, before_commit: Callable[[], None] | None) -> Callable[[], dict]:
    """What smtplib's sendmail() does (and raises), with a hook before the DATA terminator: the server
    discards a message whose connection breaks before the final ".", and keeps one that got it.
    Returns the function that reads the server's final answer and returns the refused recipients
    when others were accepted. The bytes have CRLF line ends already."""
    smtp.ehlo_or_helo_if_needed()
    # An address with non-ASCII characters (RFC 6531) needs a server that offers SMTPUTF8.
    options = [] if item.sender.isascii() and all(a.isascii() for a in item.recipients) else ["SMTPUTF8"]
    if not options and smtp.has_extn("pipelining"):
        refused = _envelope_pipelined(smtp, item)
    else:
        refused = _envelope_one_by_one(smtp, item, options)
    data = _dot_stuffed(item.data)
    smtp.send(data if data.endswith(b"\r\n") else data + b"\r\n")
    if before_commit:
        before_commit()
    smtp.send(b".\r\n")

    def answer() -> dict:
        code, reply = smtp.getreply()
        if code != 250:
            _reset(smtp, code)
            raise smtplib.SMTPDataError(code, reply)
        return refused

    return answer


def _envelope_one_by_one(smtp: smtplib.SMTP, item: Envelope, options: list[str]) -> dict:
    """MAIL, RCPT and DATA, each after the answer to the one before; the refused recipients."""
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
    return refused


def _quoted(address: str) -> str:
    """The address for MAIL FROM / RCPT TO, as smtplib.quoteaddr() gives it."""
    return f"<{address}>" if PLAIN_ADDRESS.fullmatch(address) else smtplib.quoteaddr(address)


def _envelope_pipelined(smtp: smtplib.SMTP, item: Envelope) -> dict:
    """MAIL, RCPT and DATA sent at once to a server that offers PIPELINING (RFC 2920), then their
    answers read in order: one round trip instead of three per message. Raises as the one-by-one
    dialogue does; the refused recipients."""
    commands = [f"MAIL FROM:{_quoted(item.sender)}", *(f"RCPT TO:{_quoted(a)}" for a in item.recipients)]
    smtp.send("".join(f"{command}\r\n" for command in (*commands, "DATA")))
    sender = smtp.getreply()
    answers = [smtp.getreply() for _ in item.recipients]
    code, reply = smtp.getreply()  # to DATA
    refused = {address: answer for address, answer in zip(item.recipients, answers) if answer[0] not in (250, 251)}
    closing = any(answer[0] == 421 for answer in (sender, *answers))
    failure = None
    if sender[0] != 250:
        failure = smtplib.SMTPSenderRefused(*sender, item.sender)
    elif len(refused) == len(item.recipients) or closing:
        failure = smtplib.SMTPRecipientsRefused(refused)
    elif code != 354:
        failure = smtplib.SMTPDataError(code, reply)
    if failure is None:
        return refused
    if code == 354:  # the server waits for a message nobody is to get: an empty one ends it (RFC 2920 3.1)
        smtp.send(b".\r\n")
        code = smtp.getreply()[0]
    _reset(smtp, 421 if closing else code)
    raise failure


def _reset(smtp: smtplib.SMTP, code: int) -> None:
    """After a refusal: RSET for the next message, or close when the server is closing (421)."""
    try:
        smtp.close() if code == 421 else smtp.rset()
    except smtplib.SMTPServerDisconnected:
        pass


def _reply_of(code: int, text: bytes | str) -> str:
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(text.split())}"


def _reply(exc: Exception) -> str | None:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply_of(exc.smtp_code, exc.smtp_error)
    return None


class FileTransport:
    """Writes each message as an .eml file into the outbox directory (viewable in the app)."""

    def __init__(self, directory: str | Path, *, signer=None):
        self.directory = Path(directory)
        self.signer = signer

    def send(self, msg: EmailMessage | Envelope, *, before_commit: Callable[[], None] | None = None,
             deferred: bool = False):  # fmt: skip
        item = envelope(msg)
        if self.signer is not None:
            item = self.signer.sign(item)
        if before_commit:
            before_commit()
        self.directory.mkdir(parents=True, exist_ok=True)
        message_id = item.message_id.strip("<>").split("@")[0]
        path = self.directory / f"{utcnow():%Y%m%d-%H%M%S-%f}-{message_id}.eml"
        path.write_bytes(item.data)
        return (lambda: None) if deferred else path

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
    """The transport the configuration asks for (CRM_MAIL_BACKEND=smtp|file); with smtp the pool of
    every configured server (CRM_SMTP_SERVERS, or the one of CRM_SMTP_HOST …)."""
    from crm.mail import dkim
    from crm.mail.pool import SMTPPool

    config = current_app.config
    if config["MAIL_BACKEND"] == "file":
        return FileTransport(config["MAIL_OUTBOX_DIR"], signer=dkim.signer())
    if config["MAIL_BACKEND"] == "smtp":
        return SMTPPool.from_config(config, signer=dkim.signer())
    raise RuntimeError(f"Unknown CRM_MAIL_BACKEND {config['MAIL_BACKEND']!r} (use smtp or file)")
