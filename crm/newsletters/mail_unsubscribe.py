"""Unsubscribing by mail: the mailto address in List-Unsubscribe (RFC 2369).

A mail program that does not use the one-click link (RFC 8058) unsubscribes by sending a mail to the
mailto address of the header (crm.newsletters.links.unsubscribe_mailto) with the subject "Abmelden
<token>". `flask mail process-bounces` reads that mailbox (it is the bounce mailbox unless
CRM_UNSUBSCRIBE_MAILTO names another one) and hands every message that is no bounce to
unsubscribe_by_mail(): a valid token withdraws the consent it names, exactly as the link does, and the
ledger entry keeps the mail's sender, Message-ID and date as the proof.

Only the subject is read. A newsletter quoted in an auto-reply carries its tokens only inside links
(…/abmelden/<token>), never after the word "Abmelden", so it unsubscribes nobody; a mail written by
hand ("bitte streichen Sie mich") has no token and stays in the mailbox for the office: its sender
may not be the person whose address it names.
"""
import email
import email.policy
import logging
import re
from datetime import datetime
from email.utils import parseaddr, parsedate_to_datetime

from crm.contacts.models import Person
from crm.extensions import db
from crm.mail import bounces
from crm.newsletters.links import MAILTO_SUBJECT, read_unsubscribe_token
from crm.newsletters.subscription import unsubscribe
from crm.security import TokenInvalid

logger = logging.getLogger(__name__)

#: itsdangerous' URL-safe token: payload (a leading dot when compressed), a dot, the signature.
TOKEN = re.compile(rf"\b{MAILTO_SUBJECT}\s+(\.?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)", re.IGNORECASE)
NOTE = "Abmeldung per E-Mail"


def unsubscribe_by_mail(data: bytes) -> bool:
    """Apply the unsubscribe request in the mail `data`; False (left for a person) when it carries no valid token."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    found = TOKEN.search(str(message.get("Subject", "")))
    if found is None:
        return False
    try:
        person_id, channel = read_unsubscribe_token(found.group(1))
    except TokenInvalid:
        logger.warning("Unsubscribe mail %s: the token is not valid; left in the mailbox", message.get("Message-ID"))
        return False
    person = db.session.get(Person, person_id)
    if person is None:  # deleted meanwhile, and so mailed no more
        return True
    unsubscribe(person, channel, source=_proof(message), note=NOTE, requested_at=_sent_at(message))
    db.session.flush()
    return True


def _proof(message: email.message.EmailMessage) -> str:
    """ "Abmeldung per E-Mail von leser@example.org an abmelden@example.org, Message-ID <…>" for the consent ledger."""
    sender = parseaddr(str(message.get("From", "")))[1] or "unbekannt"
    recipient = parseaddr(str(message.get("To", "")))[1] or "unbekannt"
    message_id = str(message.get("Message-ID", "")).strip() or "ohne Message-ID"
    return f"{NOTE} von {sender} an {recipient}, Message-ID {message_id}"


def _sent_at(message: email.message.EmailMessage) -> datetime | None:
    """The mail's Date header (aware), or None (now) when it is missing, unreadable or without a time zone."""
    try:
        sent = parsedate_to_datetime(str(message.get("Date", "")))
    except (TypeError, ValueError):
        return None
    return sent if sent.tzinfo is not None else None


bounces.REQUEST_HANDLERS.append(unsubscribe_by_mail)
