"""A person's own choices of mail and topics, wherever they make them (member portal, preference centre).

Each changed channel becomes a consent-ledger row with the wording the person saw; granting a
channel again lifts their earlier unsubscribe from the suppression list. Topics are audited.
"""
import sqlalchemy as sa

from crm.contacts.models import ConsentChannel, ConsentMethod, Person, Tag
from crm.contacts.services.people import CONSENT_CACHE, record_consent, set_tags
from crm.errors import ValidationFailed
from crm.extensions import db, utcnow
from crm.mail.suppressions import lift_unsubscribe

def topic_choices() -> list[tuple[int, str]]:
    """Every topic a person may choose, by name."""
    return [(t.id, t.name) for t in db.session.scalars(sa.select(Tag).order_by(Tag.name))]


def set_preferences(
    person: Person, *, actor, method: ConsentMethod, source: str, wording: dict[ConsentChannel, str], wording_version: str,
    wanted: dict[ConsentChannel, bool], tag_ids: list[int] | None, ip: str | None, user_agent: str | None,
) -> list[str]:  # fmt: skip
    """Record changed mail choices in the consent ledger and set the topics (None: leave them); returns what changed."""
    changed = []
    for channel, wants in wanted.items():
        current = getattr(person, CONSENT_CACHE[channel])
        if bool(current) == wants or (not wants and current is None):
            continue  # unchanged, or never agreed: nothing to withdraw
        if wants and not person.email:
            # shown below the first choice of the form, wherever the refused one is
            raise ValidationFailed("newsletter", "Ohne E-Mail-Adresse können wir Ihnen nichts zusenden.")
        now = utcnow()
        record_consent(
            person, actor=actor, channel=channel, granted=wants, method=method, source=source,
            wording=wording[channel] if wants else None, wording_version=wording_version if wants else None,
            requested_at=now, request_ip=ip, user_agent=(user_agent or "")[:500] or None, confirmed_at=now, confirmed_ip=ip,
        )  # fmt: skip
        if wants:
            lift_unsubscribe(person.email, channel)
        changed.append(channel.label)
    if tag_ids is not None:
        tags = db.session.scalars(sa.select(Tag).where(Tag.id.in_(tag_ids))).all() if tag_ids else []
        if {t.id for t in person.tags} != {t.id for t in tags}:
            set_tags(person, [t.name for t in tags], actor=actor)
            changed.append("Themen")
    return changed
