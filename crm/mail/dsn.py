"""Reading delivery status notifications (RFC 3464) with the standard library's email package.

A DSN is a multipart/report; report-type=delivery-status. Its message/delivery-status part holds one
block of per-message fields and one block per recipient (Action, Status, Final-Recipient,
Original-Recipient, Diagnostic-Code); a text/rfc822-headers or message/rfc822 part usually returns the
original's headers. Anything else that reaches the bounce mailbox (auto-replies, "Abwesenheitsnotiz",
spam) is not a DSN: parse() returns None for it.
"""
import base64
import binascii
import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.utils import getaddresses

#: The headers that carry the address a message was delivered to: the DSN's own To, and what mail
#: servers add on delivery (Postfix: Delivered-To, X-Original-To; Exim: Envelope-To).
DELIVERED_TO_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To")
STATUS_PARTS = ("message/delivery-status", "message/global-delivery-status")
ORIGINAL_PARTS = ("text/rfc822-headers", "message/rfc822", "message/global-headers", "message/global")
STATUS_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


@dataclass(frozen=True)
class RecipientStatus:
    """One per-recipient block of a DSN."""

    action: str  # failed | delayed | delivered | relayed | expanded (lower case)
    status: str  # "5.1.1"; "" when missing
    final_recipient: str | None
    original_recipient: str | None
    diagnostic: str

    @property
    def failed(self) -> bool:
        return self.action == "failed"

    @property
    def delayed(self) -> bool:
        return self.action == "delayed"


@dataclass(frozen=True)
class Report:
    """What a DSN says, and what identifies the message it is about."""

    #: Addresses the DSN was delivered to (our VERP return path, if the original had one).
    delivered_to: tuple[str, ...]
    recipients: tuple[RecipientStatus, ...]
    #: The Message-ID of the returned original, when its headers came back.
    original_message_id: str | None
    subject: str


def parse(data: bytes) -> Report | None:
    """The report in `data` (a whole message as read from the mailbox), or None if it is no DSN."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    if msg.get_content_type() != "multipart/report" or (msg.get_param("report-type") or "").lower() != "delivery-status":
        return None
    status_part = _first_part(msg, STATUS_PARTS)
    if status_part is None:
        return None
    recipients = tuple(_recipient(block) for block in _blocks(status_part)[1:] if block.get("Action"))
    if not recipients:
        return None
    return Report(
        delivered_to=tuple(_delivered_to(msg)), recipients=recipients,
        original_message_id=_original_message_id(msg), subject=_clean(str(msg.get("Subject", ""))),
    )  # fmt: skip


def _first_part(msg: EmailMessage, types: tuple[str, ...]) -> Message | None:
    # Only the report's own parts: a returned original may itself be a DSN, which must not count.
    for part in msg.iter_parts():
        if part.get_content_type() in types:
            return part
    return None


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a delivery-status part: per-message fields first, then one per recipient."""
    # The parser splits message/delivery-status into blocks, takes message/global-delivery-status (RFC 6533,
    # UTF-8) for one message and decodes neither from base64 (which some servers use): take the part's
    # text back and split it the same way for all.
    body = part.as_bytes(policy=email.policy.compat32).partition(b"\n\n")[2]
    if str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64":
        try:
            body = base64.b64decode(body)
        except binascii.Error:
            return []
    text = body.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return [HeaderParser(policy=email.policy.default).parsestr(block) for block in re.split(r"\n\s*\n", text) if block.strip()]


def _recipient(block: Message) -> RecipientStatus:
    diagnostic = _clean(str(block.get("Diagnostic-Code", "")))
    return RecipientStatus(
        action=_clean(str(block.get("Action", ""))).lower(), status=_status(str(block.get("Status", "")), diagnostic),
        final_recipient=_address(block.get("Final-Recipient")), original_recipient=_address(block.get("Original-Recipient")),
        diagnostic=diagnostic,
    )  # fmt: skip


def _status(status: str, diagnostic: str) -> str:
    """The enhanced status code; a generic "5.0.0" (Exim) is replaced by the remote server's own code."""
    match = STATUS_CODE.search(status)
    if match is None:
        found = STATUS_CODE.search(diagnostic)
        return found.group(0) if found else ""
    code = match.group(0)
    if match.group(2) == "0" and match.group(3) == "0":
        specific = STATUS_CODE.search(diagnostic)
        if specific is not None and specific.group(1) == match.group(1):
            return specific.group(0)
    return code


def _address(value) -> str | None:
    """The address of a "rfc822; name@example.org" field, lower case; None for other address types."""
    if value is None:
        return None
    kind, _, address = str(value).partition(";")
    address = address.strip().strip("<>").strip()
    if kind.strip().lower() not in ("rfc822", "utf-8") or "@" not in address:
        return None
    return address.lower()


def _delivered_to(msg: EmailMessage) -> list[str]:
    values = [str(value) for header in DELIVERED_TO_HEADERS for value in msg.get_all(header, [])]
    return [address.lower() for _, address in getaddresses(values) if "@" in address]


def _original_message_id(msg: EmailMessage) -> str | None:
    part = _first_part(msg, ORIGINAL_PARTS)
    if part is None:
        return None
    if part.get_content_type() in ("message/rfc822", "message/global") and isinstance(part.get_payload(), list):
        original = part.get_payload()[0]
    else:
        raw = part.get_payload(decode=True) or b""
        original = HeaderParser(policy=email.policy.default).parsestr(raw.decode("utf-8", errors="replace"))
    message_id = original.get("Message-ID")
    return _clean(str(message_id)) if message_id else None


def _clean(value: str) -> str:
    """One line: folded header values keep their line breaks and indentation otherwise."""
    return " ".join(value.split())
