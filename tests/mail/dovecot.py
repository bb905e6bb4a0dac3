"""A real IMAP server for the tests: Dovecot, started as a foreground process with its own configuration.

Everything lives in a temporary directory: configuration, runtime sockets, log, a
self-signed certificate for 127.0.0.1 (IMAPS and STARTTLS) and one Maildir per test user. Dovecot
runs as the current user; as root (CI containers) its login processes and the mail store must use
Dovecot's own unprivileged users, which the Debian package creates.
"""
import grp
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"
PASSWORD = "bounce-test-passwort"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = {uid}
first_valid_gid = {gid}
disable_plaintext_auth = no
auth_mechanisms = plain login
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
mail_location = maildir:~/Maildir
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
  }}
}}
service anvil {{
  chroot =
}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Mailbox:
    user: str
    maildir: Path
    uid: int
    gid: int

    def put(self, name: str, data: bytes) -> None:
        """Deliver a message as a mail server would: write to tmp/, then rename into new/."""
        for sub in ("tmp", "new", "cur"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(data)
        os.replace(tmp, self.maildir / "new" / name)
        for path in [self.maildir.parent, self.maildir, *self.maildir.rglob("*")]:
            os.chown(path, self.uid, self.gid)


class Dovecot:
    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="crm-dovecot-"))
        self.root.chmod(0o755)  # the mail user (not root) must reach its Maildir
        self.port, self.ssl_port = _free_port(), _free_port()
        self.cert = self.root / "cert.pem"
        self._users = itertools.count(1)
        if os.geteuid() == 0:
            mail_user = pwd.getpwnam("dovecot")
            login_user, internal_user = "dovenull", "dovecot"
        else:
            mail_user = pwd.getpwuid(os.geteuid())
            login_user = internal_user = mail_user.pw_name
        self.uid, self.gid = mail_user.pw_uid, mail_user.pw_gid
        internal_group = grp.getgrgid(self.gid).gr_name
        self.config = self.root / "dovecot.conf"
        self.config.write_text(CONFIG.format(
            root=self.root, login_user=login_user, internal_user=internal_user, internal_group=internal_group,
            port=self.port, ssl_port=self.ssl_port, uid=self.uid, gid=self.gid, password=PASSWORD,
        ))  # fmt: skip
        for sub in ("run", "state"):
            (self.root / sub).mkdir()
        self._certificate()
        self.process: subprocess.Popen | None = None

    def _certificate(self) -> None:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(self.root / "key.pem"), "-out", str(self.cert)],
            check=True, capture_output=True,
        )  # fmt: skip

    def start(self) -> None:
        if not Path(DOVECOT).exists():
            raise RuntimeError(f"{DOVECOT} is missing: apt-get install dovecot-imapd (`make test` does it as root)")
        with (self.root / "stderr.log").open("wb") as stderr:  # a file: a full pipe would block Dovecot
            self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Dovecot stopped: {(self.root / 'stderr.log').read_text()} {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"Dovecot did not answer on port {self.port}: {self.log()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def new_mailbox(self) -> Mailbox:
        """A user of its own for each test, so no test sees another's messages (any name logs in with PASSWORD)."""
        user = f"bounces{next(self._users)}@example.org"
        home = self.root / "home" / user
        home.mkdir(parents=True)
        mailbox = Mailbox(user, home / "Maildir", self.uid, self.gid)
        for sub in ("tmp", "new", "cur"):
            (mailbox.maildir / sub).mkdir(parents=True)
        os.chown(home.parent, self.uid, self.gid)
        for path in [home, *home.rglob("*")]:
            os.chown(path, self.uid, self.gid)
        return mailbox
