"""The newsletter's messages for the delivery pipeline: built once per newsletter, finished per recipient.

A dispatching process keeps one `Mailer` per newsletter. It holds the frozen content as a
MessageTemplate (crm.mail.fastmime: headers folded and bodies encoded once) and the link makers
(the app builds each kind of link once; per recipient only the signed token is filled in). Before
each batch, prepare() loads the batch's people with their roles and their invitations to the
announced events in a few queries, so a batch costs no query per recipient.

message_for() in crm.newsletters.sending builds the same message the slow way with EmailMessage;
it sends test mails, and tests/newsletters/test_mailer.py proves the two give the same message.
"""
import threading
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from html import escape
from typing import Callable

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from crm.contacts.models import Affiliation, ConsentChannel, Person
from crm.contacts.salutation import full_name, letter_salutation
from crm.events.links import rsvp_token
from crm.events.models import Invitation
from crm.extensions import db
from crm.mail import pipeline
from crm.mail.fastmime import BodyTemplate, MessageTemplate, Personal
from crm.mail.message import sender_domain
from crm.mail.handover import Row
from crm.mail.services import external_url
from crm.mail.transports import Envelope
from crm.newsletters.links import mailto_link, preferences_token, unsubscribe_mailto, unsubscribe_token
from crm.newsletters.models import Newsletter
from crm.newsletters.render import MARKER, NEUTRAL_SALUTATION, PERSONAL
from crm.newsletters.sending import MAILING, _is_sending, event_ids, finish_if_done, frozen, list_id, pause_automatically, sender

_TOKEN = "TOKEN-PLATZHALTER"


def url_maker(endpoint: str) -> Callable[[str], str]:
    """external_url(endpoint, token=…) for many tokens: the link is built once, the token filled in."""
    prefix, _, suffix = external_url(endpoint, token=_TOKEN).partition(_TOKEN)
    return lambda token: f"{prefix}{token}{suffix}"  # signed tokens are URL-safe already


class Links:
    """The personal links of one newsletter's recipients."""

    def __init__(self, newsletter: Newsletter):
        self.event_ids = event_ids(newsletter)
        self.public = {i: external_url("archive.event", event_id=i) for i in self.event_ids}
        self.unsubscribe = url_maker("subscription.unsubscribe")
        self.preferences = url_maker("subscription.preferences")
        self.rsvp = url_maker("rsvp.show")
        self.mailto = unsubscribe_mailto()
        #: (person id, event id) -> the invitation's answer token, for the people of the batch being sent
        #: (see load(); made there, since the invitations expire at the commit before sending).
        self.invitations: dict[tuple[int, int], str] = {}

    def load(self, person_ids: list[int]) -> None:
        """The invitations of these people to the announced events, in one query."""
        self.invitations = {}
        if self.event_ids and person_ids:
            rows = db.session.scalars(
                sa.select(Invitation)
                .where(Invitation.person_id.in_(person_ids), Invitation.event_id.in_(self.event_ids))
                .options(selectinload(Invitation.event))
            )
            self.invitations = {(i.person_id, i.event_id): rsvp_token(i) for i in rows}

    def values(self, person: Person | None, unsubscribe_token_: str | None = None) -> dict[str, str]:
        """The marker values for `person` (None: the neutral ones of the web version)."""
        values = {}
        for event_id in self.event_ids:
            token = self.invitations.get((person.id, event_id)) if person is not None else None
            values[f"rsvp:{event_id}"] = self.rsvp(token) if token else self.public[event_id]
            values[f"rsvp-label:{event_id}"] = "Zu Ihrer Einladung" if token else "Mehr erfahren"
        values["salutation"] = person.letter_salutation if person is not None else NEUTRAL_SALUTATION
        if person is not None:
            values["unsubscribe"] = self.unsubscribe(unsubscribe_token_ or unsubscribe_token(person, ConsentChannel.newsletter))
            values["preferences"] = self.preferences(preferences_token(person))
        return values

    def list_unsubscribe(self, token: str) -> list[str]:
        """List-Unsubscribe (RFC 2369): the one-click https link first, then the mailto address."""
        return [self.unsubscribe(token), mailto_link(self.mailto, token)]


@dataclass(slots=True)
class Recipient:
    """What a newsletter needs of a person: the name, the salutation's parts and the consent."""

    id: int
    salutation: str | None
    title: str | None
    first_name: str | None
    last_name: str | None
    newsletter_consent: bool | None
    position: str | None = None  # of the primary current role, as in Person.letter_salutation

    @property
    def full_name(self) -> str:
        return full_name(self.title, self.first_name, self.last_name)

    @property
    def letter_salutation(self) -> str:
        return letter_salutation(self.salutation, self.title, self.first_name, self.last_name, self.position)


def _key(match) -> str:
    return f"{match[1]}:{match[2]}" if match[2] else match[1]


class Mailer:
    """One newsletter's frozen content and links, for as many recipients as there are."""

    def __init__(self, newsletter: Newsletter):
        self.started_at: datetime | None = newsletter.started_at
        compiled = frozen(newsletter)
        config = current_app.config
        reply_to = newsletter.reply_to or config["MAIL_REPLY_TO"]
        fixed = [("Subject", newsletter.subject), ("From", sender(newsletter))]
        fixed += [("Reply-To", reply_to)] if reply_to else []
        fixed += [("List-Id", list_id()), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
        keep = lambda match: match.group(1)  # noqa: E731 - a recipient's mail keeps its personal parts
        self.template = MessageTemplate(
            fixed=fixed,
            text=BodyTemplate(PERSONAL.sub(keep, compiled.text), MARKER, _key),
            html=BodyTemplate(PERSONAL.sub(keep, compiled.html), MARKER, _key, lambda value: escape(value, quote=True)),
            domain=sender_domain(config["MAIL_FROM"]),
        )
        self.envelope_sender = parseaddr(config["MAIL_FROM"])[1]
        self.links = Links(newsletter)
        #: The recipients of the batch being sent.
        self.people: dict[int, Recipient] = {}

    def load(self, person_ids: list[int]) -> None:
        """The batch's recipients and their invitations, in three queries of plain rows (ORM objects with
        their roles would cost half a millisecond each)."""
        columns = (Person.id, Person.salutation, Person.title, Person.first_name, Person.last_name, Person.newsletter_consent)
        self.people = {row[0]: Recipient(*row) for row in db.session.execute(sa.select(*columns).where(Person.id.in_(person_ids)))}
        roles = (
            sa.select(Affiliation.person_id, Affiliation.position)
            .where(Affiliation.person_id.in_(person_ids), Affiliation.is_current)
            .order_by(Affiliation.person_id, *Person.affiliations.property.order_by)  # as Person.primary_affiliation
        )
        primary: dict[int, str | None] = {}
        for person_id, position in db.session.execute(roles):
            primary.setdefault(person_id, position)  # the first in that order
        for person_id, position in primary.items():
            self.people[person_id].position = position
        self.links.load(person_ids)

    def envelope(self, person: "Person | Recipient", email: str) -> Envelope:
        token = unsubscribe_token(person, ConsentChannel.newsletter)
        personal = Personal(person.full_name, email, self.links.values(person, token), self.links.list_unsubscribe(token))
        message_id = self.template.message_id()
        return Envelope(self.envelope_sender, (email,), self.template.render(personal, message_id), message_id, dotless=True)


#: The mailers of this thread, one per newsletter, renewed when the newsletter is started again. Per thread:
#: a mailer holds the batch it prepared, and two dispatch threads of one process (the embedded engine) may
#: work on the same newsletter at once.
_LOCAL = threading.local()


def _mailers() -> dict[int, Mailer]:
    if not hasattr(_LOCAL, "mailers"):
        _LOCAL.mailers = {}
    return _LOCAL.mailers


def mailer_for(newsletter: Newsletter) -> Mailer:
    mailer = _mailers().get(newsletter.id)
    if mailer is None or mailer.started_at != newsletter.started_at:
        mailer = _mailers()[newsletter.id] = Mailer(newsletter)
    return mailer


def prepare(newsletter_id: int, batch: list[Row]) -> None:
    """Load what the batch's messages need: its people with their roles, and their invitations."""
    newsletter = db.session.get(Newsletter, newsletter_id)
    if newsletter is None:
        _mailers().pop(newsletter_id, None)
        return
    mailer_for(newsletter).load([d.person_id for d in batch if d.person_id is not None])


def render_delivery(delivery: Row) -> Envelope:
    """The pipeline's renderer: the frozen newsletter, finished for the delivery's person."""
    mailer = _mailers().get(delivery.subject_id)
    if mailer is None or delivery.person_id not in mailer.people:  # not prepared as part of a batch
        prepare(delivery.subject_id, [delivery])
        mailer = _mailers().get(delivery.subject_id)
    person = mailer.people.get(delivery.person_id) if mailer else None
    if mailer is None or person is None:
        raise pipeline.SkipDelivery("Newsletter oder Person gibt es nicht mehr.")
    if person.newsletter_consent is not True:
        raise pipeline.SkipDelivery("Die Einwilligung wurde inzwischen widerrufen.")
    return mailer.envelope(person, delivery.email)


pipeline.register(
    MAILING, render_delivery, channel=ConsentChannel.newsletter, prepare=prepare, active=_is_sending, finished=finish_if_done,
    pause=pause_automatically,
)
