"""Finding people who are probably the same: at entry, at import, and across the whole database.

A match needs evidence the office can check: the same email address; the same name in the same
organization; or a very similar name (same Kölner Phonetik of the last name, first names equal or
one letter apart) and the same city.
"""
from dataclasses import dataclass, field
from itertools import combinations

import sqlalchemy as sa

from crm.contacts.models import Affiliation, DuplicateDismissal, Organization, Person
from crm.contacts.search import cologne_phonetic, fold
from crm.extensions import db

MAX_GROUP = 400  # people sharing one sound of a last name compared pairwise on the duplicates page


@dataclass
class Candidate:
    """A person as far as duplicate detection needs it."""

    person_id: int
    name: str
    first: str  # folded
    last: str  # folded
    organizations: dict[int, str] = field(default_factory=dict)  # current ones: id -> name
    cities: dict[str, str] = field(default_factory=dict)  # folded -> as written

    @classmethod
    def of(cls, person: Person) -> "Candidate":
        current = [a for a in person.affiliations if a.is_current]
        return cls(
            person.id, person.full_name, fold(person.first_name), fold(person.last_name),
            {a.organization_id: a.organization.name for a in current},
            {fold(a.organization.city): a.organization.city for a in current if a.organization.city},
        )  # fmt: skip


def _similar_first_names(a: str, b: str) -> bool:
    if not a or not b:
        return True  # an unknown first name does not speak against a match
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = j = edits = 0
    while i < len(a) and j < len(b):
        if a[i] != b[j]:
            edits += 1
            if len(a) == len(b):
                i += 1
            j += 1
        else:
            i, j = i + 1, j + 1
    return edits + (len(b) - j) + (len(a) - i) <= 1


def evidence(first: str | None, last: str | None, org_ids: set[int], cities: set[str], candidate: Candidate) -> list[str]:
    """Why `candidate` is probably the person described (empty: probably not)."""
    first, last = fold(first), fold(last)  # cached: cheap when called for many candidates
    shared = org_ids & set(candidate.organizations)
    if first == candidate.first and last == candidate.last and shared:
        return [f"gleicher Name bei {candidate.organizations[next(iter(shared))]}"]
    same_city = cities & set(candidate.cities)
    if same_city and _similar_first_names(first, candidate.first):
        return [f"ähnlicher Name ({candidate.name}) und gleicher Ort ({candidate.cities[next(iter(same_city))]})"]
    return []


def organizations_in(cities: set[str]) -> dict[str, list[int]]:
    """Lower-cased city -> ids of the organizations there (one pass over the small organizations table)."""
    found: dict[str, list[int]] = {}
    for org_id, city in db.session.execute(
        sa.select(Organization.id, sa.func.lower(Organization.city)).where(sa.func.lower(Organization.city).in_(cities))
    ):  # fmt: skip
        found.setdefault(city, []).append(org_id)
    return found


MAX_CANDIDATES = 5000  # per query: a bound on the work for files full of common names


def candidate_pairs(by_org: set[tuple[str, int]], by_city: set[tuple[str, str]], orgs_in: dict[str, list[int]] | None = None,
                    ) -> set[tuple[str, int]]:  # fmt: skip
    """(sound, organization id) pairs to look for candidates at: the (sound, organization id)
    pairs given, and for (sound, city) pairs the organizations in that city (`orgs_in`, as
    organizations_in() answers, if the caller keeps it)."""
    pairs = {(k, o) for k, o in by_org if k}
    by_city = {(k, c.lower()) for k, c in by_city if k and c}
    if by_city:
        orgs_in = organizations_in({c for _, c in by_city}) if orgs_in is None else orgs_in
        pairs |= {(k, o) for k, c in by_city for o in orgs_in.get(c, [])}
    return pairs


def candidates_for(by_org: set[tuple[str, int]], by_city: set[tuple[str, str]]) -> dict[str, list[Candidate]]:
    """People whose last name sounds like a checked person's and who share an organization
    ((sound, organization id) pairs) or a city ((sound, city) pairs) with that person; grouped
    by the sound, in one query."""
    pairs = candidate_pairs(by_org, by_city)
    if not pairs:
        return {}
    rows = db.session.execute(
        sa.select(Person.id, Person.title, Person.first_name, Person.last_name, Person.name_phonetic,
                  Organization.id, Organization.name, Organization.city)  # fmt: skip
        .join(Affiliation, Affiliation.person_id == Person.id)
        .join(Organization, Organization.id == Affiliation.organization_id)
        .where(Affiliation.organization_id.in_({o for _, o in pairs}), Person.name_phonetic.in_({k for k, _ in pairs}))
        .where(Affiliation.is_current)
        .limit(MAX_CANDIDATES)
    )
    found: dict[int, Candidate] = {}
    groups: dict[str, list[Candidate]] = {}
    for pid, title, first, last, key, org_id, org_name, city in rows:
        if (key, org_id) in pairs and gather(found, pid, title, first, last, org_id, org_name, city):
            groups.setdefault(key, []).append(found[pid])
    return groups


def gather(found: dict[int, Candidate], person_id: int, title, first, last, org_id: int, org_name: str, city) -> bool:
    """Add a candidate's row (one of its organizations) to `found`; True for a new candidate."""
    new = person_id not in found
    if new:
        found[person_id] = Candidate(person_id, " ".join(p for p in (title, first, last) if p), fold(first), fold(last))
    found[person_id].organizations[org_id] = org_name
    if city:
        found[person_id].cities[fold(city)] = city
    return new


@dataclass
class Match:
    person: Person
    reasons: list[str]


def find_matches(*, first_name: str | None, last_name: str | None, organization: Organization | None) -> list[Match]:
    """People who are probably the person about to be created (for the create form)."""
    org_ids = {organization.id} if organization else set()
    cities = {fold(organization.city)} if organization and organization.city else set()
    key = cologne_phonetic(last_name)
    city = organization.city if organization else None
    found = [
        (candidate, reasons)
        for candidate in candidates_for({(key, o) for o in org_ids}, {(key, city)} if city else set()).get(key, [])
        if (reasons := evidence(first_name, last_name, org_ids, cities, candidate))
    ]
    return [Match(db.session.get(Person, candidate.person_id), reasons) for candidate, reasons in found]


def likely_pairs(limit: int = 200) -> list[tuple[Person, Person, list[str]]]:
    """Pairs of people in the database who are probably the same, minus dismissed pairs."""
    from sqlalchemy.orm import selectinload

    keys = db.session.scalars(
        sa.select(Person.name_phonetic).where(Person.name_phonetic != "")
        .group_by(Person.name_phonetic).having(sa.func.count() > 1)
    ).all()  # fmt: skip
    dismissed = set(db.session.execute(sa.select(DuplicateDismissal.person_a_id, DuplicateDismissal.person_b_id)).all())
    pairs = []
    for key in keys:
        people = db.session.scalars(
            sa.select(Person).options(selectinload(Person.affiliations).selectinload(Affiliation.organization))
            .where(Person.name_phonetic == key).order_by(Person.id).limit(MAX_GROUP)
        ).all()  # fmt: skip
        for a, b in combinations(people, 2):
            if (a.id, b.id) in dismissed:
                continue
            mine = Candidate.of(a)
            reasons = evidence(a.first_name, a.last_name, set(mine.organizations), set(mine.cities), Candidate.of(b))
            if reasons:
                pairs.append((a, b, reasons))
                if len(pairs) >= limit:
                    return pairs
    return pairs


def dismiss(a: Person, b: Person) -> None:
    first, second = sorted((a.id, b.id))
    if db.session.get(DuplicateDismissal, (first, second)) is None:
        db.session.add(DuplicateDismissal(person_a_id=first, person_b_id=second))
