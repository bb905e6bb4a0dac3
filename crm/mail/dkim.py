"""DKIM signatures (dkimpy) on every outgoing message, with the key from the configuration.

The transports sign each message as it goes out (crm.mail.transports, crm.mail.pool), so account
mails, invitations and newsletters, including messages a renderer built as finished bytes, are all
signed in one place. Signed are the headers that say who sent what and how to leave the list, those
the message has: dkimpy would otherwise list an absent header in h= as well (which signs its absence).
Only RSA keys: dkimpy signs ed25519 only with the PyNaCl package, which the project does not carry.
"""
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from flask import Flask, current_app

from crm.mail.message import sender_domain
from crm.mail.transports import Envelope

logger = logging.getLogger(__name__)

#: In this order, as far as the message has them.
SIGNED_HEADERS = (
    "From", "Subject", "Date", "Message-ID", "To", "Cc", "Reply-To", "List-Id", "List-Unsubscribe",
    "List-Unsubscribe-Post", "MIME-Version", "Content-Type",
)  # fmt: skip
_SIGNED = {name.lower(): name.encode() for name in SIGNED_HEADERS}


def header_names(data: bytes) -> set[str]:
    """The (lower-case) names of the header fields of a message in wire form."""
    head = data.split(b"\r\n\r\n", 1)[0]
    return {
        line.split(b":", 1)[0].strip().lower().decode("ascii", "replace")
        for line in head.split(b"\r\n")
        if line and line[:1] not in (b" ", b"\t") and b":" in line
    }


@dataclass(frozen=True)
class DkimSigner:
    domain: str
    selector: str
    key: bytes

    def signature(self, data: bytes) -> bytes:
        """The DKIM-Signature header (with its CRLF) for the message `data`."""
        import dkim  # here: without a key no process carries dkimpy and dnspython

        present = header_names(data)
        include = [raw for name, raw in _SIGNED.items() if name in present]
        return dkim.sign(
            data, self.selector.encode(), self.domain.encode(), self.key, canonicalize=(b"relaxed", b"relaxed"),
            include_headers=include,
        )  # fmt: skip

    def sign(self, item: Envelope) -> Envelope:
        return replace(item, data=self.signature(item.data) + item.data)


_PROBE = b"From: probe@example.org\r\nSubject: probe\r\n\r\nprobe\r\n"


def load(config) -> DkimSigner | None:
    """The signer of CRM_DKIM_*; None when no key is configured. Raises RuntimeError, in German, when the
    key cannot be read or used, so that the app does not start and send unsigned mail unnoticed."""
    path = config.get("DKIM_PRIVATE_KEY_FILE")
    if not path:
        return None
    selector = config.get("DKIM_SELECTOR")
    domain = config.get("DKIM_DOMAIN") or sender_domain(config["MAIL_FROM"])
    if not selector:
        raise RuntimeError("CRM_DKIM_SELECTOR fehlt: Ohne Selektor kann mit dem DKIM-Schlüssel nicht signiert werden.")
    try:
        key = Path(path).read_bytes()
    except OSError as exc:
        raise RuntimeError(f"CRM_DKIM_PRIVATE_KEY_FILE: Der DKIM-Schlüssel {path} kann nicht gelesen werden ({exc.strerror}).") from exc
    signer = DkimSigner(domain, selector, key)
    import dkim

    try:
        signer.signature(_PROBE)
    except dkim.DKIMException as exc:
        raise RuntimeError(f"CRM_DKIM_PRIVATE_KEY_FILE: {path} ist kein lesbarer RSA-Schlüssel im PEM-Format ({exc}).") from exc
    return signer


def init_app(app: Flask) -> None:
    app.extensions["crm_dkim"] = load(app.config)
    if app.extensions["crm_dkim"]:
        logger.info("DKIM signing as %s._domainkey.%s", app.extensions["crm_dkim"].selector, app.extensions["crm_dkim"].domain)


def signer() -> DkimSigner | None:
    """The app's signer (None: mail goes out unsigned)."""
    return current_app.extensions.get("crm_dkim")
