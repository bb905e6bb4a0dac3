"""The hand-over journal: what a sending process gave the mail server and has not yet recorded.

The pipeline records sent messages once per batch. A process killed in between (SIGKILL, power
off of a container) would leave rows queued whose messages went out, and the next worker would
send them again. So just before the SMTP DATA terminator (the moment the server takes the
message), the process appends the delivery id to its journal file: a write to the kernel's page
cache, which survives the process. After the batch's results are committed, the journal is
emptied.

Each sending run has its own file and holds an exclusive lock on it (flock) while it lives; the
kernel releases the lock when the process dies, however it dies. recover() takes over the files
whose lock it can get (their writer is gone) and returns their entries, which the pipeline marks
sent before it claims anything.

The files live on the machine that sent, so they are replayed by the next worker started there
(MAIL_JOURNAL_DIR, one directory per database). The entry is written right before the system call
that sends the terminator, also when the terminator waits to go out with the next envelope
(crm.mail.dialogue): a kill while it waits leaves no entry, and the server drops that message. What
is left: a kill between those two system calls leaves one message recorded as sent that the server
never took; a machine that never comes back cannot replay its journal, and its last batch (at most
MAIL_BATCH_SIZE messages) may go out twice when its claim runs out.
"""
import contextlib
import fcntl
import hashlib
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".journal"


def directory_for(base: str | Path, database_url: str) -> Path:
    """One directory per database, so two installations sharing a disk never replay each other's ids."""
    return Path(base) / hashlib.sha256(database_url.encode()).hexdigest()[:16]


class Journal:
    """The journal of one sending run; open it for the run and close() it when the run ends."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def handing_over(self, delivery_id: int, message_id: str) -> None:
        """The server is about to take this message (called right before the DATA terminator)."""
        os.write(self._fd, f"{delivery_id} {message_id}\n".encode("ascii", "replace"))

    def settled(self) -> None:
        """Everything handed over so far is recorded in the database."""
        os.ftruncate(self._fd, 0)

    def close(self) -> None:
        self.path.unlink(missing_ok=True)
        os.close(self._fd)


@dataclass
class Orphan:
    """The journal of a run whose process is gone; this process holds its lock now."""

    path: Path
    fd: int
    #: delivery id -> Message-ID of what was handed over and not recorded.
    entries: dict[int, str]

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        os.close(self.fd)


@contextlib.contextmanager
def taking_over(directory: Path):
    """One process of the machine at a time takes over orphans; the others wait until it has recorded them.
    A process that skipped an orphan another one was still recording would claim its rows and send them."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / "recover.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def orphans(directory: Path) -> list[Orphan]:
    """The journals left by dead processes (each one locked by this process until remove())."""
    found = []
    for path in sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else ():
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:  # another process recovered it just now
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its process is alive (or another one is recovering it)
            os.close(fd)
            continue
        if not path.exists():  # recovered and removed between our open and our lock
            os.close(fd)
            continue
        found.append(Orphan(path, fd, _entries(fd)))
    return found


def _entries(fd: int) -> dict[int, str]:
    entries = {}
    with os.fdopen(os.dup(fd), "rb") as file:
        for line in file.read().decode("ascii", "replace").splitlines():
            delivery_id, _, message_id = line.partition(" ")
            if delivery_id.isdigit():
                entries[int(delivery_id)] = message_id
    return entries
