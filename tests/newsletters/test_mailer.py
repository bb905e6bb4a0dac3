"""The fast path (crm.newsletters.mailer: the message built once, finished per recipient in bytes)
gives every recipient the same message as the slow path (EmailMessage per recipient), and a batch
costs the same number of queries however many people it holds."""
import email
import email.policy
from email.header import decode_header, make_header

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.mail.models import Delivery
from crm.mail.transports import envelope
from crm.newsletters import blocks, mailer, sending
from tests.mail.test_fastmime import assert_wire_rules, read_address

#: Headers whose values differ per message by design (the boundary is chosen per message).
PER_MESSAGE = {"date", "message-id", "content-type"}


@pytest.fixture(autouse=True)
def same_second(monkeypatch):
    """Both paths sign the preference link with the time of day; give them the same second."""
    monkeypatch.setattr("itsdangerous.timed.TimestampSigner.get_timestamp", lambda self: 1_800_000_000)


@pytest.fixture()
def newsletter(make):
    invited_to, announced = make.event(title="Werkstatt „Digitale Schule“"), make.event(title="Webinar E-Akte")
    newsletter = make.newsletter(subject="Rückblick & Ausblick: Mitgliederversammlung in Freiburg", sender_name="Kommune 2.0 – Redaktion",
                                 reply_to="redaktion@example.org")  # fmt: skip
    blocks.add_block(newsletter, "text", {"title": "Grüße", "body": "Text mit **Umlauten**: ä ö ü ß € – und = Zeichen.\n\n.Punkt am Zeilenanfang\n\n" + "Lang " * 200}, actor=None)
    blocks.add_block(newsletter, "upcoming_events", {"title": "Termine", "event_ids": [invited_to.id, announced.id]}, actor=None)
    newsletter.invited_to = invited_to
    return newsletter


def headers(message) -> dict[str, str]:
    return {name.lower(): str(make_header(decode_header(value))) for name, value in message.items() if name.lower() not in PER_MESSAGE}


def parts(message) -> dict[str, str]:
    return {part.get_content_type(): part.get_content().replace("\r\n", "\n") for part in message.walk() if not part.is_multipart()}


@pytest.mark.parametrize(
    "first_name, last_name, salutation, roles, invited",
    [("Erika", "Beispiel", "frau", [], True), ("Jürgen", "Groß-Müller", "herr", ["Bürgermeister"], False),
     ('Hans "Hanne"', "Meier, jun.", None, ["Referent", "Oberbürgermeister"], True),
     ("Maximiliane", "Schwarzwald-Baar-Hohenzollern-Sigmaringen von und zu Überlingen", "frau", ["Landrätin"], False)],
)  # fmt: skip
def test_the_fast_path_sends_what_the_slow_path_builds(make, newsletter, first_name, last_name, salutation, roles, invited):
    person = make.person(first_name=first_name, last_name=last_name, salutation=salutation, newsletter_consent=True)
    for position in roles:  # the salutation names the function of the primary role
        make.affiliation(person, make.organization(), position=position)
    if invited:
        make.invitation(event=newsletter.invited_to, person=person)
    fast = mailer.Mailer(newsletter)
    fast.load([person.id])
    sent = fast.envelope(fast.people[person.id], person.email)
    slow = envelope(sending.message_for(newsletter, person, person.email))

    assert_wire_rules(sent.data, qp_body=False)
    fast_message = email.message_from_bytes(sent.data, policy=email.policy.compat32)
    slow_message = email.message_from_bytes(slow.data, policy=email.policy.compat32)
    assert headers(fast_message).keys() - {"to"} == headers(slow_message).keys() - {"to"}
    for name, value in headers(slow_message).items():
        if name != "to":
            assert headers(fast_message)[name] == value, name
    to = read_address(f"To: {fast_message['To']}".encode())
    assert to == read_address(f"To: {slow_message['To']}".encode()) == (person.full_name, person.email)
    assert fast_message.get_content_type() == slow_message.get_content_type() == "multipart/alternative"
    assert parts(email.message_from_bytes(sent.data, policy=email.policy.default)) == parts(
        email.message_from_bytes(slow.data, policy=email.policy.default)
    )
    text = parts(email.message_from_bytes(sent.data, policy=email.policy.default))["text/plain"]
    assert ("Zu Ihrer Einladung" in text) is invited
    assert text.startswith(person.letter_salutation) or person.letter_salutation in text
    assert sent.message_id == fast_message["Message-ID"] and (sent.sender, sent.recipients) == (slow.sender, slow.recipients)


def test_every_line_of_a_newsletter_is_short_and_ends_in_crlf(make, newsletter):
    person = make.person(newsletter_consent=True)
    sent = mailer.Mailer(newsletter).envelope(person, person.email)
    header, _, body = sent.data.partition(b"\r\n\r\n")
    assert_wire_rules(body)  # quoted-printable: at most 76 characters, none starting with "."
    assert_wire_rules(header, qp_body=False)
    assert sent.dotless  # so the transport sends it as it is


def test_a_batch_costs_the_same_queries_for_five_or_twenty_recipients(make, newsletter, count_queries):
    people = [make.person(newsletter_consent=True) for _ in range(25)]
    for person in people[::3]:
        make.invitation(event=newsletter.invited_to, person=person)
    sending.start(newsletter, actor=None)
    db.session.commit()

    def render(n):
        batch = list(db.session.scalars(sa.select(Delivery).where(Delivery.subject_id == newsletter.id).order_by(Delivery.id).limit(n)))
        db.session.expunge_all()
        batch = list(db.session.scalars(sa.select(Delivery).where(Delivery.id.in_([d.id for d in batch]))))
        with count_queries() as queries:
            mailer.prepare(newsletter.id, batch)
            for delivery in batch:
                mailer.render_delivery(delivery)
        return queries.count

    render(1)  # the first batch builds the mailer: the content and its links, once
    assert render(5) == render(20) <= 6
