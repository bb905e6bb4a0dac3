"""The SMTP dialogue of one message over smtplib's connection, in two steps so that nobody waits.

announce() writes MAIL, RCPT and DATA in one go to a server that offers PIPELINING (RFC 2920).
hand_over() reads their answers, sends the message and its terminator, and returns the function
that reads the final answer. A bulk sender announces a message, builds the next one while the
server answers, hands the first over, and writes the next envelope before it reads the first's
final answer (the content of a message may open a group of pipelined commands, RFC 2920 3.1). So
the server works on one message while this process makes the next, and neither waits for the
other. The functions raise smtplib's errors, as its sendmail() does; crm.mail.transports tells
them in German.
"""
import re
import smtplib
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from crm.mail.transports import Envelope

#: An address of ASCII atoms (RFC 5321 Dot-string and a domain): smtplib's quoteaddr() would return it
#: unchanged in angle brackets, after running the email package's address parser (12 µs, twice a message).
PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


def quoted(address: str) -> str:
    """The address for MAIL FROM / RCPT TO, as smtplib.quoteaddr() gives it."""
    return f"<{address}>" if PLAIN_ADDRESS.fullmatch(address) else smtplib.quoteaddr(address)


def dot_stuffed(data: bytes) -> bytes:
    """A line that starts with "." gets a second one (RFC 5321 4.5.2), as smtplib does with a regular
    expression that costs a quarter of a millisecond per newsletter; bytes.replace costs a hundredth."""
    if b"\n." in data:  # (finding none is much cheaper than copying 30 KB)
        data = data.replace(b"\n.", b"\n..")
    return b"." + data if data.startswith(b".") else data


def _ascii(item: "Envelope") -> bool:
    # An address with non-ASCII characters (RFC 6531) needs a server that offers SMTPUTF8.
    return item.sender.isascii() and all(address.isascii() for address in item.recipients)


def announce(smtp: smtplib.SMTP, item: "Envelope", *, first: bytes = b"", before_first: Callable[[], None] | None = None) -> bool:
    """Write MAIL, RCPT and DATA for `item` if the server takes them pipelined; whether they went out.
    `first` goes out before them, in the same write: the terminator of the message before (see
    hand_over), with its hook `before_first` run right before that write. Call hand_over() next on
    this connection, before anything else is written to it."""
    smtp.ehlo_or_helo_if_needed()
    if not (_ascii(item) and smtp.has_extn("pipelining")):
        if first:
            send_terminator(smtp, first, before_first)
        return False
    commands = [f"MAIL FROM:{quoted(item.sender)}", *(f"RCPT TO:{quoted(a)}" for a in item.recipients), "DATA"]
    send_terminator(smtp, first + "".join(f"{command}\r\n" for command in commands).encode("ascii"), before_first)
    return True


def send_terminator(smtp: smtplib.SMTP, data: bytes, before: Callable[[], None] | None) -> None:
    """Write `data` (a held-back terminator first, if any) right after the terminator's hook: a process
    killed between the two leaves a journal entry (crm.mail.journal) for a message the server never
    completes, so nothing may happen in between."""
    if before:
        before()
    smtp.send(data)


def hand_over(smtp: smtplib.SMTP, item: "Envelope", announced: bool, *, terminate: bool = True) -> Callable[[], dict]:
    """Send the message (after its envelope's answers, or the whole envelope if it was not announced)
    and its DATA terminator. Returns the function that reads the final answer and returns the refused
    recipients when others were accepted. The bytes have CRLF line ends already.

    terminate=False leaves the terminator ".\r\n" to the caller, to send with the next envelope
    (announce's `first`, with the journal entry as `before_first`: the server discards a message whose
    connection breaks before the final ".", and keeps one that got it, crm.mail.journal). The server
    then reads both at once and answers both at once. (Answered apart, its second answer may wait for
    the acknowledgement of the first, which this side delays up to 40 ms: Nagle's algorithm on the
    server, delayed ACK here.)"""
    if smtp.sock is None:  # closed since the announcement (a 421 to the message before)
        raise smtplib.SMTPServerDisconnected("Die Verbindung wurde geschlossen.")
    if announced:
        refused = _envelope_answers(smtp, item)
    else:
        smtp.ehlo_or_helo_if_needed()
        refused = _envelope_one_by_one(smtp, item, [] if _ascii(item) else ["SMTPUTF8"])
    data = item.data if item.dotless else dot_stuffed(item.data)
    smtp.send(data if data.endswith(b"\r\n") else data + b"\r\n")
    if terminate:
        smtp.send(b".\r\n")

    def answer() -> dict:
        # No RSET after a refusal: the transaction ends with this answer whatever it says (RFC 5321
        # 4.1.1.4), and the next message's envelope may be on its way already.
        if smtp.sock is None:  # closed meanwhile (another message on it failed)
            raise smtplib.SMTPServerDisconnected("Die Verbindung wurde geschlossen.")
        code, reply = smtp.getreply()
        if code == 421:
            smtp.close()
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        return refused

    return answer


def _envelope_one_by_one(smtp: smtplib.SMTP, item: "Envelope", options: list[str]) -> dict:
    """MAIL, RCPT and DATA, each after the answer to the one before; the refused recipients."""
    code, reply = smtp.mail(item.sender, options)
    if code != 250:
        _reset(smtp, code)
        raise smtplib.SMTPSenderRefused(code, reply, item.sender)
    refused = {}
    for address in item.recipients:
        code, reply = smtp.rcpt(address)
        if code not in (250, 251):
            refused[address] = (code, reply)
        if code == 421:
            break
    if len(refused) == len(item.recipients) or code == 421:
        _reset(smtp, code)
        raise smtplib.SMTPRecipientsRefused(refused)
    smtp.putcmd("data")
    code, reply = smtp.getreply()
    if code != 354:
        _reset(smtp, code)
        raise smtplib.SMTPDataError(code, reply)
    return refused


def _envelope_answers(smtp: smtplib.SMTP, item: "Envelope") -> dict:
    """The answers to an announced MAIL, RCPT and DATA, read in order. Raises as the one-by-one
    dialogue does; the refused recipients."""
    sender = smtp.getreply()
    answers = [smtp.getreply() for _ in item.recipients]
    code, reply = smtp.getreply()  # to DATA
    refused = {address: answer for address, answer in zip(item.recipients, answers) if answer[0] not in (250, 251)}
    closing = any(answer[0] == 421 for answer in (sender, *answers))
    failure = None
    if sender[0] != 250:
        failure = smtplib.SMTPSenderRefused(*sender, item.sender)
    elif len(refused) == len(item.recipients) or closing:
        failure = smtplib.SMTPRecipientsRefused(refused)
    elif code != 354:
        failure = smtplib.SMTPDataError(code, reply)
    if failure is None:
        return refused
    if code == 354:  # the server waits for a message nobody is to get: an empty one ends it (RFC 2920 3.1)
        smtp.send(b".\r\n")
        code = smtp.getreply()[0]
    _reset(smtp, 421 if closing else code)
    raise failure


def _reset(smtp: smtplib.SMTP, code: int) -> None:
    """After a refusal: RSET for the next message, or close when the server is closing (421)."""
    try:
        smtp.close() if code == 421 else smtp.rset()
    except smtplib.SMTPServerDisconnected:
        pass
