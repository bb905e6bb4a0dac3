"""Personal links in bulk mail: one-click unsubscribe, the preference centre, and the List-Unsubscribe headers.

The unsubscribe token is signed (itsdangerous, the app's SECRET_KEY, its own salt) and carries the
person id and the channel. It never expires: RFC 8058 and the law expect the link in a mail from
years ago to work as well as yesterday's. It only ever withdraws consent, so a leaked link can do
no more than the recipient's own "Abmelden". The preference link can grant consent too, so it
expires (PREFERENCES_LINK_MAX_AGE); a fresh one is offered on every unsubscribe page.
"""
import functools
from email.utils import parseaddr

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from crm.contacts.models import ConsentChannel, Person
from crm.mail.services import external_url
from crm.security import FastDumps, TokenInvalid, load_token, make_token

UNSUBSCRIBE_SALT = "crm.newsletters.unsubscribe"
PREFERENCES_PURPOSE = "newsletters.preferences"
#: The token of the links in previews and test mails: its page explains that it unsubscribes nobody.
PREVIEW_TOKEN = "vorschau"
#: The subject of an unsubscribe request by mail starts with this word, then the token.
MAILTO_SUBJECT = "Abmelden"


def _unsubscribe_serializer() -> URLSafeSerializer:
    return _serializer_for(current_app.config["SECRET_KEY"])


@functools.lru_cache(maxsize=8)
def _serializer_for(secret_key: str) -> URLSafeSerializer:
    """One serializer per key (a newsletter signs a link per recipient)."""
    return URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT)


@functools.lru_cache(maxsize=8)
def _dumps_for(secret_key: str) -> FastDumps:
    return FastDumps(_serializer_for(secret_key))


def unsubscribe_token(person: Person, channel: ConsentChannel) -> str:
    """A signed token without expiry naming the person and the list to leave."""
    return _dumps_for(current_app.config["SECRET_KEY"])([person.id, ConsentChannel(channel).value])


def read_unsubscribe_token(token: str) -> tuple[int, ConsentChannel]:
    """(person id, channel) of an unsubscribe token; raises TokenInvalid when it was tampered with."""
    try:
        person_id, channel = _unsubscribe_serializer().loads(token)
        return int(person_id), ConsentChannel(channel)
    except (BadSignature, TypeError, ValueError) as exc:
        raise TokenInvalid() from exc


def unsubscribe_url(person: Person, channel: ConsentChannel) -> str:
    """The absolute one-click unsubscribe link (https in production: CRM_BASE_URL)."""
    return external_url("subscription.unsubscribe", token=unsubscribe_token(person, channel))


def preview_unsubscribe_url() -> str:
    """The unsubscribe link shown in previews and test mails: it leads to an explanation, not an unsubscribe."""
    return external_url("subscription.unsubscribe", token=PREVIEW_TOKEN)


def preferences_token(person: Person) -> str:
    return make_token(PREFERENCES_PURPOSE, person.id)


def read_preferences_token(token: str) -> int:
    """The person id of a preference link; raises TokenExpired or TokenInvalid."""
    person_id = load_token(PREFERENCES_PURPOSE, token, current_app.config["PREFERENCES_LINK_MAX_AGE"])
    if not isinstance(person_id, int):
        raise TokenInvalid()
    return person_id


def preferences_url(person: Person) -> str:
    """The absolute link to the person's preference centre (expires after PREFERENCES_LINK_MAX_AGE)."""
    return external_url("subscription.preferences", token=preferences_token(person))


def unsubscribe_mailto() -> str:
    """The address for unsubscribing by mail: CRM_UNSUBSCRIBE_MAILTO, else the bounce address (its mailbox is
    the one `flask mail process-bounces` reads, crm.newsletters.mail_unsubscribe), else the sender's."""
    config = current_app.config
    return config.get("UNSUBSCRIBE_MAILTO") or config.get("BOUNCE_ADDRESS") or parseaddr(config["MAIL_FROM"])[1]


def mailto_link(address: str, token: str) -> str:
    """The List-Unsubscribe mailto URL: a mail to `address` whose subject carries the token (URL-safe as it is)."""
    return f"mailto:{address}?subject={MAILTO_SUBJECT}%20{token}"


def list_unsubscribe_headers(person: Person, channel: ConsentChannel) -> dict[str, str]:
    """List-Unsubscribe (RFC 2369: https link first, then mailto) and List-Unsubscribe-Post (RFC 8058)."""
    token = unsubscribe_token(person, channel)
    url = external_url("subscription.unsubscribe", token=token)
    return {"List-Unsubscribe": f"<{url}>, <{mailto_link(unsubscribe_mailto(), token)}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
