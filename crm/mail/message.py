"""Building MIME messages: every message has text/plain and HTML parts, Message-ID and Date."""
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from crm.extensions import utcnow


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message, e.g. ("veranstaltung.ics", "text/calendar", b"...", {"method": "PUBLISH"})."""

    filename: str
    content_type: str
    data: bytes
    params: dict[str, str] = field(default_factory=dict)


def sender_domain(from_header: str) -> str:
    address = parseaddr(from_header)[1]
    return address.rpartition("@")[2] or "localhost"


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    reply_to: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[Attachment] | None = None,
) -> EmailMessage:
    """A multipart/alternative message ready for any transport (multipart/mixed with attachments)."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = to
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain=sender_domain(sender))
    for name, value in (headers or {}).items():
        msg[name] = value
    # Quoted-printable keeps every line 7-bit clean, so no relay has to support 8BITMIME.
    msg.set_content(text, cte="quoted-printable")
    if html:
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
    for attachment in attachments or ():
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename, params=attachment.params
        )
    return msg


def recipient(name: str | None, email: str) -> str:
    """A To header value with a properly encoded display name."""
    if not name:
        return email
    local, _, domain = email.rpartition("@")
    return str(Address(display_name=name, username=local, domain=domain))
