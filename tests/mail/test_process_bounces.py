"""`flask mail process-bounces` end to end: from a Maildir, and from a real IMAP server (Dovecot)."""
import imaplib
import re

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.mail.bounce_inboxes import ImapInbox
from crm.mail.models import Delivery, DeliveryStatus, Suppression
from tests.mail.conftest import FIXTURE_DELIVERIES, dsn
from tests.mail.dovecot import PASSWORD

SUMMARY = "6 Unzustellbarkeitsmeldungen verarbeitet, 3 Adressen gesperrt, 2 Nachrichten übersprungen.\n"
SKIPPED = {"abwesenheitsnotiz.eml", "forged-hmac.eml"}


def process(runner, *args):
    return runner.invoke(args=["mail", "process-bounces", *args])


def statuses() -> dict[int, DeliveryStatus]:
    db.session.expire_all()
    return dict(db.session.execute(sa.select(Delivery.id, Delivery.status)).all())


def assert_everything_applied():
    assert statuses() == {
        4711: DeliveryStatus.bounced, 4712: DeliveryStatus.bounced, 4713: DeliveryStatus.sent, 4714: DeliveryStatus.sent,
        4715: DeliveryStatus.sent, 4716: DeliveryStatus.bounced, 4717: DeliveryStatus.bounced, 9001: DeliveryStatus.bounced,
    }  # fmt: skip
    assert set(db.session.scalars(sa.select(Suppression.email))) == {
        "anna.beispiel@example.com", "bernd.muster@example.com", "clara.klein@example.com",
    }  # fmt: skip


# --- Maildir ------------------------------------------------------------------------------------------------------


@pytest.fixture()
def maildir(tmp_path):
    root = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    for number, name in enumerate(FIXTURE_DELIVERIES):
        if name == "exim-5.1.1-original-headers.eml":
            # Already looked at in a mail program: in cur/, flagged seen, and still processed.
            (root / "cur" / f"1795341761.M{number}P1.mail.example.org:2,S").write_bytes(dsn(name))
        else:
            (root / "new" / f"1795341761.M{number}P1.mail.example.org").write_bytes(dsn(name))
    return root


def names(directory) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def test_maildir_is_processed_and_dsns_are_filed_away(runner, verp, sent, maildir):
    sent()
    result = process(runner, "--maildir", str(maildir))
    assert result.exit_code == 0, result.output
    assert result.output == SUMMARY
    assert_everything_applied()

    skipped = [f"1795341761.M{n}P1.mail.example.org" for n, name in enumerate(FIXTURE_DELIVERIES) if name in SKIPPED]
    assert names(maildir / "new") == sorted(skipped) and names(maildir / "cur") == []
    done = names(maildir / ".Verarbeitet" / "cur")
    assert len(done) == 6 and all(re.fullmatch(r"1795341761\.M\dP1\.mail\.example\.org:2,S", n) for n in done)
    assert (maildir / ".Verarbeitet" / "maildirfolder").exists()

    again = process(runner, "--maildir", str(maildir))
    assert again.output == "0 Unzustellbarkeitsmeldungen verarbeitet, 0 Adressen gesperrt, 2 Nachrichten übersprungen.\n"
    assert names(maildir / "new") == sorted(skipped)


def test_processing_a_dsn_again_changes_nothing(runner, verp, sent, tmp_path):
    sent("postfix-5.1.1-verp.eml")
    for copy in ("first", "second"):
        root = tmp_path / copy
        for sub in ("new", "cur", "tmp"):
            (root / sub).mkdir(parents=True)
        (root / "new" / "dsn").write_bytes(dsn("postfix-5.1.1-verp.eml"))
    first = process(runner, "--maildir", str(tmp_path / "first"))
    second = process(runner, "--maildir", str(tmp_path / "second"))
    assert first.output.startswith("1 Unzustellbarkeitsmeldung verarbeitet, 1 Adresse gesperrt, 0 Nachrichten")
    assert second.output.startswith("1 Unzustellbarkeitsmeldung verarbeitet, 0 Adressen gesperrt, 0 Nachrichten")


def test_a_folder_that_is_no_maildir_is_refused(runner, tmp_path):
    result = process(runner, "--maildir", str(tmp_path))
    assert result.exit_code == 1
    assert f"Error: {tmp_path} ist kein Maildir (die Ordner new, cur und tmp fehlen)." in result.output


def test_without_maildir_or_imap_settings_the_command_says_what_is_missing(runner):
    result = process(runner)
    assert result.exit_code == 1
    assert "Kein Postfach angegeben: --maildir PFAD oder CRM_BOUNCE_IMAP_HOST setzen." in result.output


# --- IMAP (a real Dovecot) ----------------------------------------------------------------------------------------


@pytest.fixture()
def imap_mailbox(app, dovecot, monkeypatch):
    """A fresh Dovecot mailbox holding every DSN file, and the CRM_BOUNCE_IMAP_* settings for it."""
    mailbox = dovecot.new_mailbox()
    for number, name in enumerate(FIXTURE_DELIVERIES):
        mailbox.put(f"1795341761.M{number}P1.mail.example.org", dsn(name))
    settings = {
        "BOUNCE_IMAP_HOST": "127.0.0.1", "BOUNCE_IMAP_PORT": dovecot.port, "BOUNCE_IMAP_USER": mailbox.user,
        "BOUNCE_IMAP_PASSWORD": PASSWORD, "BOUNCE_IMAP_FOLDER": "INBOX", "BOUNCE_IMAP_DONE_FOLDER": "Verarbeitet",
        "BOUNCE_IMAP_TLS": "none",
    }  # fmt: skip
    for key, value in settings.items():
        monkeypatch.setitem(app.config, key, value)
    # The test certificate is trusted the way an administrator would trust a private CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))
    return mailbox


def folder_flags(dovecot, user: str, folder: str) -> list[set[str]]:
    """The flags of each message in `folder`, read over a separate IMAP connection."""
    imap = imaplib.IMAP4("127.0.0.1", dovecot.port)
    try:
        imap.login(user, PASSWORD)
        imap.select(f'"{folder}"', readonly=True)
        _, found = imap.search(None, "ALL")
        flags = []
        for number in found[0].split():
            _, data = imap.fetch(number, "(FLAGS)")
            found_flags = set(re.search(rb"FLAGS \(([^)]*)\)", data[0]).group(1).decode().split())
            flags.append(found_flags - {"\\Recent"})  # a per-session flag of whoever selects first
        return flags
    finally:
        imap.logout()


def assert_filed_away(dovecot, user: str):
    assert folder_flags(dovecot, user, "INBOX") == [set(), set()], "skipped messages stay, unseen"
    assert folder_flags(dovecot, user, "Verarbeitet") == [{"\\Seen"}] * 6


def test_imap_mailbox_is_processed(runner, verp, sent, dovecot, imap_mailbox):
    sent()
    result = process(runner)
    assert result.exit_code == 0, result.output + dovecot.log()
    assert result.output == SUMMARY
    assert_everything_applied()
    assert_filed_away(dovecot, imap_mailbox.user)

    again = process(runner)
    assert again.output == "0 Unzustellbarkeitsmeldungen verarbeitet, 0 Adressen gesperrt, 2 Nachrichten übersprungen.\n"


@pytest.mark.parametrize("tls, port", [("starttls", "port"), ("ssl", "ssl_port")])
def test_imap_over_tls(runner, app, verp, sent, dovecot, imap_mailbox, monkeypatch, tls, port):
    monkeypatch.setitem(app.config, "BOUNCE_IMAP_TLS", tls)
    monkeypatch.setitem(app.config, "BOUNCE_IMAP_PORT", getattr(dovecot, port))
    sent()
    result = process(runner)
    assert result.output == SUMMARY, result.output + dovecot.log()


def test_imap_server_without_move_gets_copy_and_expunge(runner, verp, sent, dovecot, imap_mailbox, monkeypatch):
    connect = ImapInbox._connect

    def without_move(self):
        imap = connect(self)
        imap.capabilities = tuple(c for c in imap.capabilities if c != "MOVE")
        return imap

    monkeypatch.setattr(ImapInbox, "_connect", without_move)
    sent()
    assert process(runner).output == SUMMARY
    assert_filed_away(dovecot, imap_mailbox.user)


def test_imap_certificate_is_checked(runner, dovecot, imap_mailbox, app, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setitem(app.config, "BOUNCE_IMAP_TLS", "ssl")
    monkeypatch.setitem(app.config, "BOUNCE_IMAP_PORT", dovecot.ssl_port)
    result = process(runner)
    assert result.exit_code == 1
    assert f"Das Postfach {imap_mailbox.user} auf 127.0.0.1:{dovecot.ssl_port} ist nicht lesbar:" in result.output
    assert "CERTIFICATE_VERIFY_FAILED" in result.output


def test_imap_wrong_password_is_a_german_error(runner, app, dovecot, imap_mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "BOUNCE_IMAP_PASSWORD", "falsch")
    result = process(runner)
    assert result.exit_code == 1
    assert f"Error: Das Postfach {imap_mailbox.user} auf 127.0.0.1:{dovecot.port} ist nicht lesbar:" in result.output
    assert "AUTHENTICATIONFAILED" in result.output or "Authentication failed" in result.output


def test_unknown_tls_setting_is_refused(runner, app, imap_mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "BOUNCE_IMAP_TLS", "yes")
    result = process(runner)
    assert result.exit_code == 1
    assert "CRM_BOUNCE_IMAP_TLS='yes' gibt es nicht (ssl, starttls oder none)." in result.output


def test_ssl_is_the_default(app):
    assert app.config["BOUNCE_IMAP_TLS"] == "ssl"
    assert ImapInbox(host="imap.example.org", port=0, user="u", password="p").port == 993
    assert ImapInbox(host="imap.example.org", port=0, user="u", password="p", tls="starttls").port == 143
