"""DKIM: every outgoing message is signed once, verifiably, over the headers that matter; a broken key stops the app."""
import base64
import re
import subprocess

import dkim
import pytest

from config import TestConfig
from crm import create_app
from crm.extensions import db
from crm.mail import dkim as crm_dkim
from crm.mail.message import build_message
from crm.mail.services import send_mail
from crm.mail.transports import Envelope, FileTransport, get_transport, wire_bytes
from crm.newsletters import sending

SELECTOR, DOMAIN = "crm2026", "example.org"


@pytest.fixture(scope="session")
def rsa_key(tmp_path_factory):
    """An RSA 2048 key made with the openssl CLI: (PEM file, the TXT record of its public key)."""
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(path), "2048"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", str(path), "-pubout", "-outform", "DER"], check=True, capture_output=True)
    return path, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public.stdout)


@pytest.fixture()
def signing(app, rsa_key, monkeypatch):
    """The app signs with the test key (as create_app does with CRM_DKIM_*)."""
    path, _ = rsa_key
    monkeypatch.setitem(app.config, "DKIM_PRIVATE_KEY_FILE", str(path))
    monkeypatch.setitem(app.config, "DKIM_SELECTOR", SELECTOR)
    monkeypatch.setitem(app.config, "DKIM_DOMAIN", None)  # the domain of MAIL_FROM
    monkeypatch.setitem(app.extensions, "crm_dkim", crm_dkim.load(app.config))
    return app.extensions["crm_dkim"]


@pytest.fixture()
def verify(rsa_key):
    """verify(raw message) → whether the signature holds, with our key published at crm2026._domainkey.example.org."""
    _, record = rsa_key
    asked = []

    def dns(name, timeout=5):
        asked.append(name)
        return record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    def _verify(data: bytes) -> bool:
        return dkim.verify(data, dnsfunc=dns)

    _verify.asked = asked
    return _verify


def signed_headers(data: bytes) -> list[str]:
    signature = data.split(b"\r\n\r\n", 1)[0].decode()
    tag = re.search(r"\bh=([^;]+);", signature.replace("\r\n", "")).group(1)
    return [name.strip() for name in tag.split(":")]


def test_an_account_mail_is_signed_over_its_headers_and_breaks_when_changed(app, db, make, mailbox, signing, verify):
    person = make.person()
    send_mail(to_email=person.email, to_name="Kim Beispiel", subject="Ihr Zugang", template="password_reset",
              person=person, link="http://crm.test/x", hours=24)  # fmt: skip

    data = mailbox.envelopes[0].content
    assert data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;")
    assert verify(data) and verify.asked == [b"crm2026._domainkey.example.org."]
    assert signed_headers(data) == ["from", "subject", "date", "message-id", "to", "mime-version", "content-type"]
    assert not verify(data.replace(b"Subject: Ihr Zugang", b"Subject: Ihr Zugang!", 1))
    assert not verify(data.replace(b"Sehr geehrte", b"Sehr geehrter", 1)), "the body is covered too"


def test_a_newsletter_is_signed_with_its_list_headers(app, client, login, make, mailbox, signing, verify):
    login("office")
    make.person(newsletter_consent=True)
    newsletter = make.newsletter(segment=make.segment(filters={}))
    db.session.commit()
    client.post(f"/newsletters/{newsletter.id}/senden")

    [envelope] = mailbox.envelopes
    data = envelope.content
    assert verify(data)
    assert {"from", "subject", "date", "message-id", "list-id", "list-unsubscribe", "list-unsubscribe-post"} <= set(
        signed_headers(data)
    )
    assert data.count(b"DKIM-Signature:") == 1
    for original, forged in [(b"List-Unsubscribe=One-Click", b"List-Unsubscribe=Two-Click"),
                             (b"<newsletter.example.org>", b"<newsletter.example.com>"), (b"/abmelden/", b"/abmeldem/")]:  # fmt: skip
        assert original in data and not verify(data.replace(original, forged, 1))


def test_messages_built_as_bytes_and_the_outbox_are_signed_too(db, tmp_path, signing, verify, mailbox):
    msg = build_message(sender="Kommune 2.0 e. V. <geschaeftsstelle@example.org>", to="anna@example.org",
                        subject="Schnell gebaut", text="Hallo", headers={"List-Id": sending.list_id()})  # fmt: skip
    ready = Envelope("bounces@example.org", ("anna@example.org",), wire_bytes(msg), msg["Message-ID"])
    transport = get_transport()
    try:
        transport.send(ready)
    finally:
        transport.close()
    assert verify(mailbox.envelopes[0].content) and "list-id" in signed_headers(mailbox.envelopes[0].content)

    written = FileTransport(tmp_path, signer=signing).send(msg)
    assert verify(written.read_bytes())


def test_only_headers_the_message_has_are_signed(signing):
    data = b"From: a@example.org\r\nSubject: Hallo\r\nX-Extra: 1\r\n\r\nText\r\n"
    assert signed_headers(signing.signature(data) + data) == ["from", "subject"]


def _app_with(**settings):
    class Config(TestConfig):
        pass

    for name, value in settings.items():
        setattr(Config, name, value)
    return create_app(Config)


def test_a_key_that_cannot_be_read_stops_the_app(tmp_path, rsa_key):
    with pytest.raises(RuntimeError, match="DKIM-Schlüssel .*fehlt.pem kann nicht gelesen werden"):
        _app_with(DKIM_PRIVATE_KEY_FILE=str(tmp_path / "fehlt.pem"), DKIM_SELECTOR=SELECTOR)
    broken = tmp_path / "kaputt.pem"
    broken.write_text("-----BEGIN PRIVATE KEY-----\nbm9jaCBrZWluIFNjaGzDvHNzZWw=\n-----END PRIVATE KEY-----\n")
    with pytest.raises(RuntimeError, match="kein lesbarer RSA-Schlüssel"):
        _app_with(DKIM_PRIVATE_KEY_FILE=str(broken), DKIM_SELECTOR=SELECTOR)
    with pytest.raises(RuntimeError, match="CRM_DKIM_SELECTOR fehlt"):
        _app_with(DKIM_PRIVATE_KEY_FILE=str(rsa_key[0]))
    assert _app_with(DKIM_PRIVATE_KEY_FILE=str(rsa_key[0]), DKIM_SELECTOR=SELECTOR).extensions["crm_dkim"].domain == DOMAIN
