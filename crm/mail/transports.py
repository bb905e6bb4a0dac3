"""Mail transports: real SMTP, or the file outbox that is the embedded default."""
import copy
import dataclasses
import email.policy
import logging
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
from crm.mail import dialogue

logger = logging.getLogger(__name__)

#: A connection unused for this long is checked (NOOP) before the next message: servers drop idle ones.
IDLE_CHECK_SECONDS = 10


class TransportError(RuntimeError):
    """The message could not be handed over; the German message says why.

    `permanent`: the server answered 5xx, trying again will not help. `connection`: the server could
    not be reached or dropped the connection, so the next message would fail the same way. `reply`:
    the server's answer ("451 4.3.0 …"), if it gave one; `refused`: the recipients it refused, each
    with its answer (a DATA answer counts for the recipient of a message that has only one). `elsewhere`:
    the server closed before it took the message, and another one could take it now.
    """

    def __init__(self, message: str, *, permanent: bool = False, connection: bool = False, reply: str | None = None,
                 refused: dict[str, str] | None = None, elsewhere: bool = False):  # fmt: skip
        super().__init__(message)
        self.permanent = permanent
        self.connection = connection
        self.elsewhere = elsewhere
        self.reply = reply
        self.refused = {address.lower(): answer for address, answer in (refused or {}).items()}

    @property
    def server_lost(self) -> bool:
        """Whether the server is out of use for now (not reachable, the connection broke, or it is closing
        with 421): another server may take the message."""
        return self.connection or self.code == 421

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
    #: No line of `data` starts with "." (crm.mail.fastmime writes it as "=2E"), so the transport has no dot to
    #: double and skips looking for one: 26 µs for a 28 KB newsletter.
    dotless: bool = False


def envelope(msg: "EmailMessage | Envelope", *, sender: str | None = None) -> Envelope:
    """The wire form of `msg`; `sender` replaces the envelope sender (MAIL FROM) taken from the headers."""
    if isinstance(msg, Envelope):
        return msg if sender is None else dataclasses.replace(msg, sender=sender)
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
        #: A message whose envelope is out and whose content is not: nothing else may go out here meanwhile.
        self._announced: "Outgoing | None" = None
        #: Messages handed over whose final answer is not read yet (asking NOOP now would read theirs).
        self._unanswered = 0
        #: The terminator of the message handed over last, held back to go out with the next envelope,
        #: and the hook to run right before it goes (its journal entry).
        self._terminator, self._before_terminator = b"", None

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
        idle = time.monotonic() - self._used_at > IDLE_CHECK_SECONDS
        if self._smtp is not None and idle and not self._unanswered and not self._alive():
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
        return send_announced(self, msg, before_commit, deferred)

    def announce(self, msg: EmailMessage | Envelope, *, before_commit: Callable[[], None] | None = None) -> "Outgoing":
        """Write the message's envelope now and leave the rest to Outgoing.hand_over(), so that the
        server answers while the caller builds the next message (crm.mail.dialogue)."""
        item = envelope(msg)
        if self.signer is not None:
            item = self.signer.sign(item)
        if self.busy:
            raise RuntimeError(f"{self.name}: the message announced before is not handed over yet")
        smtp = self._connection()
        first, before_first = self._terminator, self._before_terminator
        self._terminator, self._before_terminator = b"", None
        announced = self._guarded(item, lambda: dialogue.announce(smtp, item, first=first, before_first=before_first))
        self._announced = Outgoing(self, smtp, item, announced, before_commit)
        return self._announced

    def flush(self) -> None:
        """Send the terminator held back for the next envelope now (the next message goes elsewhere, or
        the final answer is wanted). An error shows when that answer is read."""
        if self._terminator and self._smtp is not None:
            try:
                dialogue.send_terminator(self._smtp, self._terminator, self._before_terminator)
            except (smtplib.SMTPException, OSError):
                pass
        self._terminator, self._before_terminator = b"", None

    @property
    def busy(self) -> bool:
        """Whether a message is announced here and not yet handed over."""
        return self._announced is not None

    def _refused(self, item: Envelope, refused: dict) -> None:
        if refused:  # the others got it; the office sees the refusal in the log only
            logger.warning("Mail %s: %s refused %s", item.message_id, self.name, refused)

    def _guarded(self, item: Envelope, step: Callable, *, final: bool = False):
        """step(), with smtplib's errors told as TransportError in German. `final`: step reads the final
        answer, after which the dialogue is in a known state whatever it says (the server has closed
        after a 421)."""
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
            if not final or exc.smtp_code == 421:
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
        self.flush()  # the message handed over last is in the journal as sent: the server is to have it
        self._announced, self._unanswered = None, 0
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp = None


def _reply_of(code: int, text: bytes | str) -> str:
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(text.split())}"


def _reply(exc: Exception) -> str | None:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply_of(exc.smtp_code, exc.smtp_error)
    return None


def send_announced(transport, msg: EmailMessage | Envelope, before_commit: Callable[[], None] | None,
                   deferred: bool) -> Callable[[], None] | None:  # fmt: skip
    """send() of a transport that announces: both steps at once, and the final answer now unless deferred."""
    answer = transport.announce(msg, before_commit=before_commit).hand_over()
    if deferred:
        return answer
    answer()
    return None


@dataclass
class Outgoing:
    """A message whose envelope the server has (or will get with the message, if it does not pipeline)."""

    transport: SMTPTransport
    smtp: smtplib.SMTP
    item: Envelope
    announced: bool
    before_commit: Callable[[], None] | None

    def hand_over(self) -> Callable[[], None]:
        """Read the answers to the envelope and send the message; returns the function that reads the
        final answer (raising TransportError), to be called before the connection's next hand-over."""
        transport, item = self.transport, self.item
        if transport._announced is self:
            transport._announced = None
        answer = transport._guarded(item, lambda: dialogue.hand_over(self.smtp, item, self.announced, terminate=False))
        transport._unanswered += 1
        transport._terminator, transport._before_terminator = b".\r\n", self.before_commit

        def final_answer() -> None:
            if transport._smtp is self.smtp:
                transport._unanswered -= 1
                transport.flush()
            transport._refused(item, transport._guarded(item, answer, final=True))

        return final_answer

    def abandon(self) -> None:
        """Give the message up: the server forgets an envelope whose connection closes before the message."""
        self.transport.close()


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
