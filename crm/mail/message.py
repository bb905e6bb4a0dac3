"""Building MIME messages: every message has text/plain and HTML parts, Message-ID and Date."""
import email.policy
from dataclasses import dataclass, field
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
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


class URLListHeader(UnstructuredHeader):
    """List-Unsubscribe (RFC 2369) as written, one <URL> per folded line.

    The email package would fold a URL longer than a line into an RFC 2047 encoded word, which mail
    clients do not decode in this header, so the link would be lost. A line may hold 998 characters.
    """

    def fold(self, *, policy) -> str:
        urls = [url.strip() for url in str(self).split(",")]
        return f"{self.name}: " + f",{policy.linesep} ".join(urls) + policy.linesep


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("list-unsubscribe", URLListHeader)
MESSAGE_POLICY = email.policy.default.clone(header_factory=_HEADERS)


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
    msg = EmailMessage(policy=MESSAGE_POLICY)
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
