"""Finding people who are probably the same: at entry, at import, and across the whole database.

A match needs evidence the office can check: the same email address; the same name in the same
organization; or a very similar name (same Kölner Phonetik of the last name, first names equal or
one letter apart) and the same city.
"""
from dataclasses import dataclass, field
from itertools import combinations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from crm.contacts.models import Affiliation, DuplicateDismissal, Organization, Person
from crm.contacts.search import cologne_phonetic, fold
from crm.extensions import db

MAX_GROUP = 400  # people sharing one phonetic key compared pairwise; bigger groups are split by first name


@dataclass
class Match:
    person: Person
    reasons: list[str] = field(default_factory=list)


def _similar_first_names(a: str | None, b: str | None) -> bool:
    a, b = fold(a), fold(b)
    if not a or not b:
        return True  # an unknown first name does not speak against a match
    return a == b or _edit_distance_at_most_one(a, b)


def _edit_distance_at_most_one(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = j = edits = 0
    while i < len(a) and j < len(b):
        if a[i] != b[j]:
            edits += 1
            if edits > 1:
                return False
            if len(a) == len(b):
                i += 1
            j += 1
        else:
            i += 1
            j += 1
    return edits + (len(b) - j) + (len(a) - i) <= 1


def _current(person: Person) -> list[Affiliation]:
    return [a for a in person.affiliations if a.is_current]


def _evidence(a_first, a_last, a_orgs: dict[int, Organization], b: Person) -> list[str]:
    reasons = []
    b_orgs = {aff.organization_id: aff.organization for aff in _current(b)}
    same_name = fold(a_first) == fold(b.first_name) and fold(a_last) == fold(b.last_name)
    shared = set(a_orgs) & set(b_orgs)
    if same_name and shared:
        reasons.append(f"gleicher Name bei {a_orgs[next(iter(shared))].name}")
    a_cities = {fold(o.city) for o in a_orgs.values() if o.city}
    b_cities = {fold(o.city) for o in b_orgs.values() if o.city}
    if not reasons and _similar_first_names(a_first, b.first_name) and a_cities & b_cities:
        city = next(o.city for o in b_orgs.values() if o.city and fold(o.city) in a_cities)
        reasons.append(f"ähnlicher Name ({b.full_name}) und gleicher Ort ({city})")
    return reasons


def find_matches(
    *, first_name: str | None, last_name: str | None, email: str | None, organization_ids: list[int] = (),
    exclude_id: int | None = None,
) -> list[Match]:  # fmt: skip
    """People who are probably the person described (for the create form and the import)."""
    matches: dict[int, Match] = {}
    if email:
        same = db.session.scalar(sa.select(Person).where(Person.email == email.strip().lower()))
        if same is not None and same.id != exclude_id:
            matches[same.id] = Match(same, ["gleiche E-Mail-Adresse"])
    key = cologne_phonetic(last_name)
    if key:
        organizations = {o.id: o for o in db.session.scalars(sa.select(Organization).where(Organization.id.in_(organization_ids)))}
        candidates = db.session.scalars(
            sa.select(Person).options(selectinload(Person.affiliations).joinedload(Affiliation.organization))
            .where(Person.name_phonetic == key, Person.id != (exclude_id or -1)).limit(MAX_GROUP)
        ).all()  # fmt: skip
        for candidate in candidates:
            reasons = _evidence(first_name, last_name, organizations, candidate)
            if reasons:
                matches.setdefault(candidate.id, Match(candidate)).reasons.extend(reasons)
    return list(matches.values())


def likely_pairs(limit: int = 200) -> list[tuple[Person, Person, list[str]]]:
    """Pairs of people in the database who are probably the same, minus dismissed pairs."""
    keys = db.session.scalars(
        sa.select(Person.name_phonetic).where(Person.name_phonetic != "")
        .group_by(Person.name_phonetic).having(sa.func.count() > 1)
    ).all()  # fmt: skip
    dismissed = set(db.session.execute(sa.select(DuplicateDismissal.person_a_id, DuplicateDismissal.person_b_id)).all())
    pairs = []
    for key in keys:
        people = db.session.scalars(
            sa.select(Person).options(selectinload(Person.affiliations).joinedload(Affiliation.organization))
            .where(Person.name_phonetic == key).order_by(Person.id).limit(MAX_GROUP)
        ).all()  # fmt: skip
        for a, b in combinations(people, 2):
            if (a.id, b.id) in dismissed:
                continue
            a_orgs = {aff.organization_id: aff.organization for aff in _current(a)}
            reasons = _evidence(a.first_name, a.last_name, a_orgs, b)
            if reasons:
                pairs.append((a, b, reasons))
                if len(pairs) >= limit:
                    return pairs
    return pairs


def dismiss(a: Person, b: Person) -> None:
    first, second = sorted((a.id, b.id))
    if db.session.get(DuplicateDismissal, (first, second)) is None:
        db.session.add(DuplicateDismissal(person_a_id=first, person_b_id=second))


