"""The same multipart message for many recipients, built once and finished per recipient in bytes.

Building each newsletter with `email.message.EmailMessage` costs milliseconds: the header parser
reads every address, and the quoted-printable encoder (pure Python) walks the whole 30 KB layout
again for every recipient. A `MessageTemplate` does that work once per mailing: the fixed headers
are folded by the email package's own SMTP policy, and the bodies are split at their markers into
pieces that are encoded once. Per recipient only the marker values, the To, Date and Message-ID
headers and the personal List-Unsubscribe are encoded, and the pieces are joined.

Quoted-printable allows a soft line break ("=" at the end of a line) anywhere between encoded
characters, and a decoder removes it. So every piece except a line's last ends with a soft break:
the joined body decodes to exactly the text the slow path encodes, every line stays within 76
characters (RFC 2045) and ends with CRLF, and no line starts with a dot (see _dotless).
tests/mail/test_fastmime.py proves the decoded message equal to the one EmailMessage builds, and
checks these rules on the bytes.
"""
import base64
import binascii
import email.policy
import re
import secrets
import time
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Callable, Mapping

from crm.extensions import utcnow

POLICY = email.policy.SMTP
#: RFC 2045: an encoded line holds at most 76 characters; the last one may be the soft break "=".
QP_LINE = 76
#: A run of "=" cannot occur in quoted-printable text (an "=" is "=3D" there), so this boundary is safe.
BOUNDARY_PREFIX = "==============="


def _qp(text: str) -> bytes:
    """Quoted-printable for text without line breaks, CRLF soft breaks (binascii is written in C)."""
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def _soft_ended(encoded: bytes) -> bytes:
    """`encoded` (a piece of a line) followed by a soft break, its last line kept within 76 characters."""
    if not encoded:
        return b""
    start = encoded.rfind(b"\n") + 1
    last = encoded[start:]
    if len(last) < QP_LINE:
        return encoded + b"=\r\n"
    cut = QP_LINE - 1
    while b"=" in last[max(cut - 2, 0) : cut]:  # never split an "=XX" escape
        cut -= 1
    return encoded[:start] + last[:cut] + b"=\r\n" + last[cut:] + b"=\r\n"


def _dotless(encoded: bytes) -> bytes:
    """`encoded` (pieces of whole lines, each starting a line) with no line that starts with ".": such a
    dot is written "=2E", which decodes the same. So the message has no dot to double (RFC 5321 4.5.2):
    its envelope says so (Envelope.dotless), and the transport sends it without looking for one."""
    if not encoded.startswith(b".") and b"\n." not in encoded:
        return encoded
    return b"\r\n".join(_dot_escaped(line) if line.startswith(b".") else line for line in encoded.split(b"\r\n"))


def _dot_escaped(line: bytes) -> bytes:
    line = b"=2E" + line[1:]
    if len(line) <= QP_LINE:
        return line
    cut = QP_LINE - 1  # a soft break, never inside an "=XX" escape
    while b"=" in line[cut - 2 : cut]:
        cut -= 1
    rest = line[cut:]  # a few characters
    return line[:cut] + b"=\r\n" + (_dot_escaped(rest) if rest.startswith(b".") else rest)


class BodyTemplate:
    """A text with markers, encoded quoted-printable once; render() fills in one recipient's values.

    `pattern` finds the markers and `key(match)` names the value each one takes; `quote` makes a
    value safe for the part (HTML escaping for the HTML part, nothing for plain text).
    """

    def __init__(self, text: str, pattern: re.Pattern, key: Callable[[re.Match], str], quote: Callable[[str], str] = str):
        if not text.endswith("\n"):
            text += "\n"  # as EmailMessage does: a text part ends with a line break
        self.quote = quote
        #: bytes (encoded once) and marker keys (str), in order.
        self.pieces: list[bytes | str] = []
        static: list[str] = []  # consecutive lines without a marker, encoded together
        for line in text.split("\n")[:-1]:
            if not pattern.search(line):
                static.append(line + "\n")
                continue
            self._static("".join(static))
            static = []
            self._line(line, pattern, key)
        self._static("".join(static))

    def _static(self, lines: str) -> None:
        if lines:
            self.pieces.append(_dotless(_qp(lines)))

    def _line(self, line: str, pattern: re.Pattern, key: Callable[[re.Match], str]) -> None:
        position = 0
        for match in pattern.finditer(line):
            self.pieces.append(_dotless(_soft_ended(_qp(line[position : match.start()]))))
            self.pieces.append(key(match))
            position = match.end()
        self.pieces.append(_dotless(_qp(line[position:]) + b"\r\n"))

    def render(self, values: Mapping[str, str]) -> bytes:
        quote = self.quote
        return b"".join(
            piece if type(piece) is bytes else _dotless(_soft_ended(_qp(quote(values.get(piece, ""))))) for piece in self.pieces
        )


def header(name: str, value: str) -> bytes:
    """One header as the email package folds it (RFC 2047 for non-ASCII, lines of at most 78 characters)."""
    return POLICY.fold_binary(*POLICY.header_store_parse(name, value))


def address_header(name: str, display_name: str | None, address: str) -> bytes:
    """`To: Name <address>` without the email package's address parser (a third of a millisecond each)."""
    if not address.isascii():  # an internationalized address (RFC 6531): the email package's rules apply
        from crm.mail.message import recipient

        return header(name, recipient(display_name, address))
    if not display_name:
        return f"{name}: {address}\r\n".encode("ascii")
    if display_name.isascii():
        escaped = display_name.replace("\\", "\\\\").replace('"', '\\"')
        return f'{name}: "{escaped}" <{address}>\r\n'.encode("ascii")
    # Encoded words of at most 75 characters (RFC 2047), each on its own folded line after the first.
    words, chunk = [], b""
    for char in display_name:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > 45:  # 45 bytes are 60 base64 characters: 72 with "=?utf-8?b?" and "?="
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    lines = [f"=?utf-8?b?{base64.b64encode(word).decode('ascii')}?=" for word in words]
    lines[0] = f"{name}: {lines[0]}"
    if len(lines[-1]) + len(address) + 3 > 78:
        lines.append("")  # the address goes on a line of its own
    return ("\r\n ".join(lines) + f" <{address}>\r\n").encode("ascii")


def list_header(name: str, urls: list[str]) -> bytes:
    """A header of <URL>s (List-Unsubscribe, RFC 2369) exactly as written: one URL per folded line.

    The email package would turn a URL longer than a line into an RFC 2047 encoded word, which mail
    clients do not decode in these headers; a line may hold 998 characters (RFC 5322).
    """
    return f"{name}: " .encode("ascii") + ",\r\n ".join(f"<{url}>" for url in urls).encode("ascii") + b"\r\n"


@dataclass
class Personal:
    """What differs per recipient."""

    to_name: str | None
    to_email: str
    values: Mapping[str, str]
    list_unsubscribe: list[str]


class MessageTemplate:
    """A multipart/alternative message (text and HTML, quoted-printable) with per-recipient parts.

    `fixed`: the headers all recipients share (Subject, From, Reply-To, List-Id, …), folded once.
    """

    def __init__(self, *, fixed: list[tuple[str, str]], text: BodyTemplate, html: BodyTemplate, domain: str):
        self.boundary = f"{BOUNDARY_PREFIX}{secrets.randbelow(10**19):019d}=="
        self.domain = domain
        self.fixed = b"".join(header(name, value) for name, value in fixed)
        content_type = header("Content-Type", f'multipart/alternative; boundary="{self.boundary}"')
        self.mime = header("MIME-Version", "1.0") + content_type
        delimiter = f"\r\n--{self.boundary}\r\n".encode("ascii")
        part = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        self.text, self.html = text, html
        self.text_start = delimiter + part.format("plain").encode("ascii")
        self.html_start = delimiter + part.format("html").encode("ascii")
        self.end = f"\r\n--{self.boundary}--\r\n".encode("ascii")
        self._date: tuple[int, bytes] = (0, b"")

    def _date_header(self) -> bytes:
        now = utcnow()
        second = int(now.timestamp())
        if self._date[0] != second:  # one Date header per second, not one per message
            self._date = (second, header("Date", format_datetime(now.replace(microsecond=0))))
        return self._date[1]

    def message_id(self) -> str:
        # Time first (microseconds, fixed-width hex until 2112), then 64 random bits, which keep it unguessable
        # (a forged bounce naming it could suppress the address). In time order, a batch's ids go into
        # one corner of the message_id index; wholly random ones went to a different page each.
        return f"<{time.time_ns() // 1000:013x}.{secrets.token_hex(8)}@{self.domain}>"

    def render(self, personal: Personal, message_id: str) -> bytes:
        """The finished message (CRLF, quoted-printable) for one recipient."""
        return b"".join((
            self.fixed, address_header("To", personal.to_name, personal.to_email), self._date_header(),
            f"Message-ID: {message_id}\r\n".encode("ascii"),
            list_header("List-Unsubscribe", personal.list_unsubscribe) if personal.list_unsubscribe else b"",
            self.mime, self.text_start, self.text.render(personal.values), self.html_start,
            self.html.render(personal.values), self.end,
        ))  # fmt: skip
