"""Several SMTP servers sharing the load: one reused connection each, their own rates, failover.

CRM_SMTP_SERVERS lists them as URLs, `smtp://user:password@host:587?tls=starttls&rate=50`
(`smtps://` means TLS from the start; `rate` is messages per second, `burst` how many may go at once);
without it the one server of CRM_SMTP_HOST, CRM_SMTP_PORT … is the pool. The servers take turns;
one whose bucket is empty is passed over, so a server with a higher rate carries more. A server that
cannot be reached or answers 421 is taken out for CRM_SMTP_SERVER_COOLDOWN seconds and the message
goes to the next one; only when none is left does the message fail as a connection failure.
"""
import logging
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Callable
from urllib.parse import parse_qs, unquote, urlsplit

from crm.mail import ratelimit
from crm.mail.ratelimit import Bucket, Buckets
from crm.mail.transports import Envelope, SMTPTransport, TransportError, envelope, send_announced

logger = logging.getLogger(__name__)

TLS_MODES = ("none", "starttls", "ssl")


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int = 25
    tls: str = "none"
    user: str | None = None
    password: str | None = None
    #: Messages per second this server takes (0: no limit), and how many may go at once.
    rate: float = 0.0
    burst: float | None = None

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


def parse_server(url: str) -> ServerConfig:
    """One entry of CRM_SMTP_SERVERS; raises RuntimeError with the reason (the password is not repeated)."""
    parts = urlsplit(url.strip())
    shown = f"{parts.scheme}://{parts.hostname or ''}:{parts.port or ''}"
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise RuntimeError(f"CRM_SMTP_SERVERS: „{shown}“ ist keine Adresse der Form smtp://benutzer:passwort@host:port?tls=starttls&rate=50.")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    tls = query.pop("tls", "ssl" if parts.scheme == "smtps" else "none")
    try:
        rate = float(query.pop("rate", 0))
        burst = float(query["burst"]) if "burst" in query else None
        query.pop("burst", None)
    except ValueError:
        raise RuntimeError(f"CRM_SMTP_SERVERS: rate und burst von {shown} müssen Zahlen sein.") from None
    if tls not in TLS_MODES or query or rate < 0:
        raise RuntimeError(f"CRM_SMTP_SERVERS: unbekannte oder falsche Angabe bei {shown} (tls=none|starttls|ssl, rate, burst).")
    port = parts.port or (465 if tls == "ssl" else 25)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return ServerConfig(parts.hostname, port, tls, user, password, rate, burst)


def server_configs(config) -> list[ServerConfig]:
    """The configured servers: CRM_SMTP_SERVERS, or the single one of CRM_SMTP_HOST, CRM_SMTP_PORT, …"""
    urls = [u for u in (config.get("SMTP_SERVERS") or "").split(",") if u.strip()]
    if urls:
        return [parse_server(url) for url in urls]
    return [
        ServerConfig(config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_TLS"], config["SMTP_USER"],
                     config["SMTP_PASSWORD"], config.get("SMTP_RATE_PER_SECOND") or 0.0)
    ]  # fmt: skip


class _Server:
    def __init__(self, config: ServerConfig, transport: SMTPTransport, bucket: Bucket | None):
        self.config, self.transport, self.bucket = config, transport, bucket
        #: Out of service until this moment of the pool's clock (not reachable, or it answered 421).
        self.out_until = 0.0


class SMTPPool:
    """The transport for all mail over SMTP: the single-message API of SMTPTransport over several servers."""

    def __init__(self, servers: list[ServerConfig], *, buckets: Buckets | None = None, timeout: int = 30, signer=None,
                 cooldown: float = 60, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):  # fmt: skip
        if not servers:
            raise ValueError("an SMTP pool needs at least one server")
        store = buckets or Buckets()
        self.servers = [
            _Server(s, SMTPTransport(s.host, s.port, tls=s.tls, user=s.user, password=s.password, timeout=timeout),
                    store.get(f"server:{s.name}", s.rate, s.burst))
            for s in servers
        ]  # fmt: skip
        #: Signs each message once (DKIM), before it goes to whichever server takes it.
        self.signer = signer
        self.cooldown = cooldown
        self._clock, self._sleep = clock, sleep
        self._turn = 0

    @classmethod
    def from_config(cls, config, *, signer=None) -> "SMTPPool":
        return cls(server_configs(config), buckets=ratelimit.buckets(), timeout=config["SMTP_TIMEOUT"], signer=signer,
                   cooldown=config.get("SMTP_SERVER_COOLDOWN", 60))  # fmt: skip

    @property
    def rate(self) -> float | None:
        """The messages per second the servers take together; None: at least one takes any number."""
        if not all(server.bucket for server in self.servers):
            return None
        return sum(server.bucket.rate for server in self.servers)

    def send(self, msg: EmailMessage | Envelope, *, before_commit: Callable[[], None] | None = None,
             deferred: bool = False) -> Callable[[], None] | None:  # fmt: skip
        """SMTPTransport.send() on the next server in turn; a server that cannot be reached gives the
        message to the next one. With deferred=True the function returned reads the final answer."""
        return send_announced(self, msg, before_commit, deferred)

    def announce(self, msg: EmailMessage | Envelope, *, before_commit: Callable[[], None] | None = None) -> "_Outgoing":
        """SMTPTransport.announce() on the next server in turn that can be reached."""
        item = envelope(msg)
        if self.signer is not None:
            item = self.signer.sign(item)  # once, whichever server takes it
        return self._announce(item, before_commit, [])

    def _announce(self, item: Envelope, before_commit: Callable[[], None] | None, failed: list) -> "_Outgoing":
        """`failed`: the servers that could not take it already, with their errors."""
        while (server := self._next(exclude=[s for s, _ in failed])) is not None:
            for other in self.servers:  # a terminator held back for the next envelope goes out now
                if other is not server:
                    other.transport.flush()
            try:
                return _Outgoing(self, server, server.transport.announce(item, before_commit=before_commit), failed)
            except TransportError as error:
                if not error.server_lost:
                    raise  # about this message: another server would answer the same
                self._take_out(server, error)
                failed.append((server, error))
        raise self._none_left([error for _, error in failed])

    def _answer_of(self, server: "_Server", item: Envelope, answer: Callable[[], None], before_commit) -> Callable[[], None]:
        """The final answer of `server`; when it closes (421) or the connection breaks, the server is left
        out and the message goes to another one, as when that happens before the end of the message."""

        def finish() -> None:
            try:
                answer()
            except TransportError as error:
                if not error.server_lost:
                    raise
                self._take_out(server, error)
                if any(s.transport.busy for s in self.servers if s.out_until <= self._clock()):
                    # That server is in the middle of the next message: this one goes back into the
                    # queue, and the next batch takes it there.
                    raise TransportError(str(error), elsewhere=True) from error
                self._announce(item, before_commit, [(server, error)]).hand_over()()

        return finish

    def _next(self, exclude: list[_Server]) -> _Server | None:
        """The next server in turn that is in service and has a token; waits the computed time if none has one."""
        now = self._clock()
        # A server with a message announced and not handed over cannot take another one in between.
        ready = [s for s in self._in_turn() if s.out_until <= now and s not in exclude and not s.transport.busy]
        if not ready:
            return None
        waits = []
        for server in ready:
            wait = server.bucket.try_take() if server.bucket else 0.0
            if not wait:
                self._turn = self.servers.index(server) + 1
                return server
            waits.append((wait, server))
        _, server = min(waits, key=lambda pair: pair[0])
        for waiting in self.servers:  # no terminator held back while sleeping (see handover._Flight.take)
            waiting.transport.flush()
        self._sleep(server.bucket.reserve())
        self._turn = self.servers.index(server) + 1
        return server

    def _in_turn(self) -> list[_Server]:
        start = self._turn % len(self.servers)
        return self.servers[start:] + self.servers[:start]

    def _take_out(self, server: _Server, error: TransportError) -> None:
        server.transport.close()
        server.out_until = self._clock() + self.cooldown
        logger.warning("SMTP server %s out for %ss: %s", server.config.name, self.cooldown, error)

    def _none_left(self, failures: list[TransportError]) -> TransportError:
        if not failures:
            names = ", ".join(s.config.name for s in self.servers)
            return TransportError(f"Kein Mailserver ist gerade verfügbar ({names}); der Versand wird später fortgesetzt.",
                                  connection=True)  # fmt: skip
        last = failures[-1]
        message = str(last) if len(failures) == 1 else "Keiner der Mailserver nimmt gerade an: " + "; ".join(map(str, failures))
        return TransportError(message, connection=True, reply=last.reply, refused=last.refused)

    def flush(self) -> None:
        """Send the terminators held back for the next envelope (SMTPTransport.flush)."""
        for server in self.servers:
            server.transport.flush()

    def close(self) -> None:
        for server in self.servers:
            server.transport.close()


@dataclass
class _Outgoing:
    """A message announced to one server of the pool; if that server is lost before the message is
    out or before its final answer, the message goes to another one."""

    pool: SMTPPool
    server: _Server
    outgoing: object  # the server's transports.Outgoing
    failed: list

    def hand_over(self) -> Callable[[], None]:
        item, before_commit = self.outgoing.item, self.outgoing.before_commit
        try:
            answer = self.outgoing.hand_over()
        except TransportError as error:
            if not error.server_lost:
                raise
            self.pool._take_out(self.server, error)
            failed = [*self.failed, (self.server, error)]
            return self.pool._announce(item, before_commit, failed).hand_over()
        return self.pool._answer_of(self.server, item, answer, before_commit)

    def abandon(self) -> None:
        self.outgoing.abandon()
