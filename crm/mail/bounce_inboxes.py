"""The mailboxes `flask mail process-bounces` reads: a Maildir on this machine, or an IMAP folder.

Both read every message, seen or not, so a person who has opened a DSN in a mail program does not
hide it from the CRM. Processed DSNs are filed away, marked seen, in the folder "Verarbeitet"; what
was skipped (auto-replies, reports about mail the CRM did not send) stays where it was, unchanged and
unseen, for a person to read, and is read again by the next run.
"""
import contextlib
import imaplib
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

from flask import current_app

DONE_FOLDER = "Verarbeitet"


class InboxError(RuntimeError):
    """The mailbox cannot be read; the German message says why."""


class MaildirInbox:
    """A Maildir: reads new/ and cur/; processed messages move to the subfolder .Verarbeitet (Maildir++),
    flagged seen. A mail program or IMAP server on the same Maildir shows that as the folder "Verarbeitet"."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not all((self.path / sub).is_dir() for sub in ("new", "cur", "tmp")):
            raise InboxError(f"{self.path} ist kein Maildir (die Ordner new, cur und tmp fehlen).")
        self.done_dir = self.path / f".{DONE_FOLDER}"

    def __enter__(self) -> "MaildirInbox":
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def messages(self) -> Iterator[tuple[Path, bytes]]:
        for sub in ("new", "cur"):
            for path in sorted((self.path / sub).iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    yield path, path.read_bytes()

    def done(self, path: Path) -> None:
        for sub in ("new", "cur", "tmp"):
            (self.done_dir / sub).mkdir(parents=True, exist_ok=True)
        (self.done_dir / "maildirfolder").touch()
        # A rename within one file system is atomic: the message is in exactly one of the two places.
        unique = path.name.partition(":")[0]
        os.replace(path, self.done_dir / "cur" / f"{unique}:2,S")


class ImapInbox:
    """An IMAP folder (CRM_BOUNCE_IMAP_*): processed messages are flagged \\Seen and moved to the folder
    CRM_BOUNCE_IMAP_DONE_FOLDER (created when missing); skipped ones are fetched with BODY.PEEK and stay unseen."""

    def __init__(self, *, host: str, port: int, user: str, password: str, folder: str = "INBOX",
                 done_folder: str = DONE_FOLDER, tls: str = "ssl", timeout: int = 30):  # fmt: skip
        if tls not in ("ssl", "starttls", "none"):
            raise InboxError(f"CRM_BOUNCE_IMAP_TLS={tls!r} gibt es nicht (ssl, starttls oder none).")
        self.host, self.port = host, port or (993 if tls == "ssl" else 143)
        self.user, self.password, self.tls, self.timeout = user, password, tls, timeout
        self.folder, self.done_folder = folder, done_folder
        self._imap: imaplib.IMAP4 | None = None

    @classmethod
    def from_config(cls) -> "ImapInbox":
        config = current_app.config
        if not config.get("BOUNCE_IMAP_HOST"):
            raise InboxError("Kein Postfach angegeben: --maildir PFAD oder CRM_BOUNCE_IMAP_HOST setzen.")
        return cls(
            host=config["BOUNCE_IMAP_HOST"], port=config["BOUNCE_IMAP_PORT"], user=config["BOUNCE_IMAP_USER"] or "",
            password=config["BOUNCE_IMAP_PASSWORD"] or "", folder=config["BOUNCE_IMAP_FOLDER"],
            done_folder=config["BOUNCE_IMAP_DONE_FOLDER"], tls=config["BOUNCE_IMAP_TLS"],
        )  # fmt: skip

    def __enter__(self) -> "ImapInbox":
        try:
            with self._talking():
                self._imap = self._connect()
                self._ok(self._imap.login(self.user, self.password), "Anmeldung")
                self._ok(self._imap.select(_quote(self.folder)), f"Ordner {self.folder}")
                self._ensure_done_folder()
        except InboxError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self._imap is not None:
            try:
                self._imap.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
            self._imap = None

    def _connect(self) -> imaplib.IMAP4:
        context = ssl.create_default_context()
        if self.tls == "ssl":
            return imaplib.IMAP4_SSL(self.host, self.port, ssl_context=context, timeout=self.timeout)
        imap = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
        if self.tls == "starttls":
            imap.starttls(ssl_context=context)
        return imap

    def _ensure_done_folder(self) -> None:
        _, listed = self._imap.list('""', _quote(self.done_folder))
        if not [line for line in listed if line]:
            self._ok(self._imap.create(_quote(self.done_folder)), f"Ordner {self.done_folder} anlegen")
            self._imap.subscribe(_quote(self.done_folder))

    def messages(self) -> Iterator[tuple[bytes, bytes]]:
        # UIDs stay valid while others are moved away; sequence numbers would not.
        with self._talking():
            _, found = self._ok(self._imap.uid("SEARCH", None, "UNDELETED"), "Suche")
        for uid in found[0].split():
            with self._talking():
                _, parts = self._ok(self._imap.uid("FETCH", uid, "(BODY.PEEK[])"), "Abruf")
            data = next((part[1] for part in parts if isinstance(part, tuple)), None)
            if data is not None:
                yield uid, data

    def done(self, uid: bytes) -> None:
        with self._talking():
            self._ok(self._imap.uid("STORE", uid, "+FLAGS", "(\\Seen)"), "Markieren")
            if "MOVE" in self._imap.capabilities:  # RFC 6851
                self._ok(self._imap.uid("MOVE", uid, _quote(self.done_folder)), "Verschieben")
                return
            self._ok(self._imap.uid("COPY", uid, _quote(self.done_folder)), "Kopieren")
            self._ok(self._imap.uid("STORE", uid, "+FLAGS", "(\\Deleted)"), "Löschen")
            if "UIDPLUS" in self._imap.capabilities:  # RFC 4315: expunge only this message
                self._ok(self._imap.uid("EXPUNGE", uid), "Löschen")
            else:
                self._ok(self._imap.expunge(), "Löschen")

    @contextlib.contextmanager
    def _talking(self):
        """Turn the server's refusals and broken connections into InboxError."""
        try:
            yield
        except (imaplib.IMAP4.error, OSError) as exc:
            raise InboxError(f"Das Postfach {self.user} auf {self.host}:{self.port} ist nicht lesbar: {exc}") from exc

    @staticmethod
    def _ok(answer: tuple[str, list], what: str) -> tuple[str, list]:
        typ, data = answer
        if typ != "OK":
            raise imaplib.IMAP4.error(f"{what}: {typ} {b' '.join(d for d in data if isinstance(d, bytes)).decode(errors='replace')}")
        return answer


def _quote(name: str) -> str:
    """An IMAP quoted string (folder names may contain spaces)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
