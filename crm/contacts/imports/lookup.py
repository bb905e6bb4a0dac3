"""What the database already knows about the rows of an import batch, as plain values.

A few queries per batch (people by email, same-named people in the same organizations,
duplicate candidates, the organizations named) instead of a few per row; and plain rows instead
of ORM objects, which a batch of thousands of rows would fill the session with. Writing goes
through the ORM only for the records a row changes (crm.contacts.imports.bulk).
"""
import functools
from dataclasses import dataclass, field
from typing import NamedTuple

import sqlalchemy as sa

from crm.contacts.duplicates import Candidate, candidate_pairs, gather
from crm.contacts.imports.checks import PERSON_FIELDS
from crm.contacts.imports.sql import one_of
from crm.contacts.models import Affiliation, Organization, Person, Tag, person_tags
from crm.contacts.search import cologne_phonetic, fold
from crm.extensions import db

sound = functools.lru_cache(maxsize=65536)(cologne_phonetic)  # last names repeat a lot in a file


class Org(NamedTuple):
    """An organization as the rows of a batch need it."""

    id: int
    name: str
    short_name: str | None
    kind: str
    ags: str | None
    street: str | None
    postal_code: str | None
    city: str | None
    state: str | None


class Role(NamedTuple):
    """A current role of a known person."""

    id: int
    organization_id: int
    position: str | None
    department: str | None


@dataclass(slots=True)
class KnownPerson:
    """A person the import matched: the fields a row may fill, topics and current roles."""

    id: int
    salutation: object
    title: str | None
    first_name: str | None
    last_name: str
    email: str | None
    phone: str | None
    mobile: str | None
    fax: str | None
    notes: str | None
    newsletter_consent: bool | None
    tags: list[str] = field(default_factory=list)
    roles: list[Role] = field(default_factory=list)


def organizations_by_city() -> dict[str, list[int]]:
    """Lower-case city -> ids of the organizations there, as crm.contacts.duplicates.organizations_in
    answers (the import keeps it instead of asking the database per batch)."""
    found: dict[str, list[int]] = {}
    for org_id, city in db.session.execute(sa.select(Organization.id, Organization.city).where(Organization.city.is_not(None))):
        found.setdefault(city.lower(), []).append(org_id)
    return found


def organizations(ids) -> dict[int, Org]:
    """The organizations with these ids, by id."""
    if not ids:
        return {}
    columns = [Organization.__table__.c[name] for name in Org._fields]
    return {row.id: Org(*row) for row in db.session.execute(sa.select(*columns).where(one_of(Organization.id, ids)))}


def known_people(condition) -> list[KnownPerson]:
    """The people matching `condition` (on Person), with their topics and current roles."""
    columns = [Person.id, *(Person.__table__.c[name] for name in PERSON_FIELDS), Person.newsletter_consent]
    people = {row.id: KnownPerson(**row._mapping) for row in db.session.execute(sa.select(*columns).where(condition))}
    if not people:
        return []
    for person_id, name in db.session.execute(
        sa.select(person_tags.c.person_id, Tag.name).join(Tag).where(one_of(person_tags.c.person_id, people)).order_by(Tag.name)
    ):  # fmt: skip
        people[person_id].tags.append(name)
    for row in db.session.execute(
        sa.select(Affiliation.person_id, Affiliation.id, Affiliation.organization_id, Affiliation.position,
                  Affiliation.department)  # fmt: skip
        .where(one_of(Affiliation.person_id, people), Affiliation.is_current)
        .order_by(Affiliation.is_primary.desc(), Affiliation.start_date.desc(), Affiliation.id)
    ):
        people[row.person_id].roles.append(Role(*row[1:]))
    return list(people.values())


def people_by_email(emails) -> dict[str, KnownPerson]:
    return {person.email: person for person in known_people(one_of(Person.email, emails))} if emails else {}


def unattached_namesake(first_name: str | None, last_name: str) -> int | None:
    """A person of this name without email and without a current role (all a row without email and
    organization can be matched by), or None."""
    has_role = sa.select(Affiliation.id).where(Affiliation.person_id == Person.id, Affiliation.is_current).exists()
    rows = db.session.execute(
        sa.select(Person.id, Person.first_name, Person.last_name)
        .where(Person.name_phonetic == sound(last_name), Person.email.is_(None), ~has_role)
        .order_by(Person.id)
    )  # fmt: skip
    first, last = fold(first_name), fold(last_name)
    return next((pid for pid, f, l in rows if fold(f) == first and fold(l) == last), None)


class Neighbours(NamedTuple):
    """People already at a batch's organizations whom its rows may mean."""

    #: (organization id, name key) -> [(person id, email)]: same-named people, to match rows without email
    colleagues: dict[tuple[int, str], list[tuple[int, str | None]]]
    #: (sound of the last name, organization id or folded city) -> duplicate candidates there
    candidates: dict[tuple, list[Candidate]]


def neighbours(same_name: set[tuple[int, str]], by_org: set[tuple[str, int]], by_city: set[tuple[str, str]], *,
               orgs_in: dict[str, list[int]], leave_out=frozenset()) -> Neighbours:  # fmt: skip
    """The people at the batch's organizations whom its rows may mean, in one pass over those
    organizations: same-named people ((organization id, name key) pairs) and duplicate candidates
    (see crm.contacts.duplicates: (sound, organization id) and (sound, city) pairs; `orgs_in`: the
    organizations by lower-case city), except at the organizations `leave_out`. A row then looks
    only at the candidates it shares an organization or a place with."""
    sounds = {(k, o) for k, o in candidate_pairs(by_org, by_city, orgs_in) if o not in leave_out}
    if not sounds and not same_name:
        return Neighbours({}, {})
    colleagues: dict[tuple[int, str], list[tuple[int, str | None]]] = {}
    found: dict[int, Candidate] = {}
    sound_of: dict[int, str] = {}
    for pid, title, first, last, email, key, phonetic, org_id, org_name, city in _people_at(sounds, same_name):
        if (org_id, key) in same_name:
            colleagues.setdefault((org_id, key), []).append((pid, email))
        if (phonetic, org_id) in sounds:
            gather(found, pid, title, first, last, org_id, org_name, city)
            sound_of[pid] = phonetic
    candidates: dict[tuple, list[Candidate]] = {}
    for pid, candidate in sorted(found.items()):
        for place in (*candidate.organizations, *candidate.cities):
            candidates.setdefault((sound_of[pid], place), []).append(candidate)
    for namesakes in colleagues.values():
        namesakes.sort()  # by person id: the same match every time
    return Neighbours(colleagues, candidates)


def _people_at(sounds: set[tuple[str, int]], same_name: set[tuple[int, str]]) -> sa.Result:
    """People with a current role at these (sound, organization id) and (organization id, name key)
    pairs. The pairs are matched as "<organization id> <key>" strings: each key of the batch at
    each organization of the batch would be many times more rows than the pairs asked for."""
    at = sa.cast(Affiliation.organization_id, sa.String) + " "
    return db.session.execute(
        sa.select(Person.id, Person.title, Person.first_name, Person.last_name, Person.email, Person.name_key,
                  Person.name_phonetic, Organization.id, Organization.name, Organization.city)  # fmt: skip
        .join(Affiliation, Affiliation.person_id == Person.id)
        .join(Organization, Organization.id == Affiliation.organization_id)
        .where(one_of(Affiliation.organization_id, {o for _, o in sounds} | {o for o, _ in same_name}), Affiliation.is_current)
        .where(sa.or_(
            one_of(at + Person.name_phonetic, [f"{o} {k}" for k, o in sounds]),
            one_of(at + Person.name_key, [f"{o} {k}" for o, k in same_name]),
        ))  # fmt: skip
    )
