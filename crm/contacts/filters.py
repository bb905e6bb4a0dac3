"""The people filter: one definition used by the list, exports, bulk actions and segments.

A filter is a set of URL arguments, so it can be bookmarked, shared and saved as a segment; a
segment evaluates its arguments anew each time and so always means the current people.
"""
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from crm.contacts import search_index
from crm.contacts.models import Affiliation, Organization, OrganizationKind, Person, person_tags
from crm.contacts.municipal import BUNDESLAENDER
from crm.contacts.search import fold, like_escape
from crm.extensions import db
from crm.members.models import Membership

SORTS = {
    "name": ("Name", (Person.last_name, Person.first_name, Person.id)),
    "-created": ("Neueste zuerst", (Person.created_at.desc(), Person.id.desc())),
    "email": ("E-Mail", (Person.email, Person.id)),
    "-updated": ("Zuletzt geändert", (Person.updated_at.desc(), Person.id.desc())),
}

CONSENT_FILTERS = {
    "newsletter_yes": ("Newsletter: eingewilligt", Person.newsletter_consent.is_(True)),
    "newsletter_no": ("Newsletter: widerrufen", Person.newsletter_consent.is_(False)),
    "newsletter_none": ("Newsletter: nie gefragt", Person.newsletter_consent.is_(None)),
    "invitation_yes": ("Einladungen: eingewilligt", Person.invitation_consent.is_(True)),
    "invitation_no": ("Einladungen: widerrufen", Person.invitation_consent.is_(False)),
    "invitation_none": ("Einladungen: nie gefragt", Person.invitation_consent.is_(None)),
}

#: From this many hits on, a page is read by walking the index of the sort order and stopping at
#: the page (hits come every few rows there); below it, finding and sorting the hits is cheaper.
BROAD_HITS = 5000
#: A search in the list counts its hits up to this many and then says "mehr als …": counting a
#: third of all people exactly would take longer than the rest of the page (segments count exactly).
COUNTED_HITS = 10_000

#: Members of any status: not a filter of the list, but how count() leaves out the members.
ANY_MEMBERSHIP = "*"

MEMBERSHIP_FILTERS = {
    "active": "Mitglied (aktiv)",
    "applied": "Mitgliedschaft beantragt",
    "suspended": "Mitgliedschaft ruhend",
    "ended": "ehemaliges Mitglied",
    "none": "kein Mitglied",
}


def _read_args(cls, args: Mapping[str, Any], known: dict[str, Any]) -> dict[str, str]:
    """The filter fields from URL arguments; a value not in `known` for its field is dropped."""
    values = {f.name: str(args.get(f.name, "") or "").strip() for f in fields(cls)}
    values["q"] = values["q"][:200]
    for name, allowed in known.items():
        if values[name] not in allowed:
            values[name] = "name" if name == "sort" else ""
    return values


def _not_driving(column):
    """The column as an expression of the same value, so that SQLite cannot read rows along its
    index (its planner guesses how many rows a list or IS NULL finds); PostgreSQL estimates
    better from the column itself."""
    if db.session.get_bind().dialect.name != "sqlite":
        return column
    return column + ("" if isinstance(column.type, sa.String) else 0)


def _one_of(column, ids: list[int]):
    """column IN ids; on PostgreSQL as one array parameter (hundreds of parameters take longer to
    send and plan than the query takes to run)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == sa.any_(sa.literal(ids, postgresql.ARRAY(sa.Integer)))
    return column.in_(ids)


@dataclass
class PersonFilter:
    q: str = ""
    state: str = ""
    kind: str = ""
    tag: str = ""
    membership: str = ""
    consent: str = ""
    has_email: str = ""
    sort: str = "name"

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "PersonFilter":
        """Read the filter from request.args or a segment; unknown values are ignored, not errors."""
        values = _read_args(cls, args, {
            "sort": SORTS, "consent": CONSENT_FILTERS, "membership": MEMBERSHIP_FILTERS, "has_email": ("yes", "no"),
            "state": BUNDESLAENDER, "kind": OrganizationKind.__members__,
        })  # fmt: skip
        if not values["tag"].isdigit():
            values["tag"] = ""
        return cls(**values)

    def to_args(self, *, with_sort: bool = True) -> dict[str, str]:
        """The non-empty arguments, for URLs and segments."""
        args = {k: v for k, v in asdict(self).items() if v and (with_sort or k != "sort")}
        if args.get("sort") == "name":
            del args["sort"]
        return args

    @property
    def is_empty(self) -> bool:
        return not self.to_args(with_sort=False)

    def _text_conditions(self, text_index: bool) -> tuple[sa.Select | None, list]:
        """The search: the people's ids as the text-search index finds them (None: not asked,
        see crm.contacts.search_index), and the LIKE conditions for the terms it does not answer."""
        terms = fold(self.q).split()
        matching, answered = search_index.lookup(terms) if text_index else (None, set())
        conditions = []
        for term in terms:
            if term in answered:
                continue
            pattern = f"%{like_escape(term)}%"
            # Both keys live on the people row: name, email, organization, place and function in one test.
            conditions.append(
                sa.or_(Person.search_key.like(pattern, escape="\\"), Person.context_key.like(pattern, escape="\\"))
            )
        return matching, conditions

    def conditions(self, *, walking: bool = False) -> list:
        """WHERE conditions on Person; every filter is an indexed column or an IN over an index.

        walking=True is for a plan that walks the index of the sort order and tests each row it
        meets: no lookup in the text-search index, and the people found in other tables are a
        list to test against, not one to read the people along.
        """
        return self._with_filters(*self._text_conditions(text_index=not walking), walking=walking)

    def _with_filters(self, matching: sa.Select | None, text_conditions: list, *, walking: bool = False) -> list:
        conditions = ([Person.id.in_(matching)] if matching is not None else []) + text_conditions
        found = self._found_elsewhere()
        if found is not None:
            conditions.append((_not_driving(Person.id) if walking else Person.id).in_(found))
        return conditions + self._column_conditions(walking=walking)

    def _found_elsewhere(self) -> sa.Select | None:
        """The ids of the people that the topic, Bundesland/kind and membership filters find, as one
        SELECT over those tables (None: no such filter).

        The sets are intersected before any people row is read: the people of a Bundesland with
        a topic are a few hundred, each set alone thousands, and reading a people row costs more
        than probing an index. Each set is read from an index alone (person_tags by topic,
        affiliations by organization with end date and person, memberships by status and person).
        """
        sets = []
        if self.tag:
            sets.append(sa.select(person_tags.c.person_id).where(person_tags.c.tag_id == int(self.tag)))
        if self.state or self.kind:
            organizations = sa.select(Organization.id)
            if self.state:
                organizations = organizations.where(Organization.state == self.state)
            if self.kind:
                organizations = organizations.where(Organization.kind == self.kind)
            sets.append(
                sa.select(Affiliation.person_id).where(Affiliation.organization_id.in_(organizations), Affiliation.is_current)
            )
        members = None
        if self.membership and self.membership != "none":
            # An organization's membership has no person (NULL), which must not count as one.
            members = sa.select(Membership.person_id).where(Membership.person_id.is_not(None))
            if self.membership != ANY_MEMBERSHIP:
                members = members.where(Membership.status == self.membership)
        if not sets:
            return members
        found = sets[-1]
        if members is not None:
            # Most people of a status are members: SQLite must not read the other set person by
            # person along the members, but look each of its people up among them.
            found = found.where(_not_driving(found.selected_columns[0]).in_(members))
        for outer in reversed(sets[:-1]):
            found = outer.where(outer.selected_columns[0].in_(found))
        return found

    def _column_conditions(self, *, walking: bool = False) -> list:
        """The conditions on the people rows themselves."""
        conditions = []
        email = _not_driving(Person.email) if walking else Person.email
        if self.membership == "none":
            conditions.append(Person.id.not_in(sa.select(Membership.person_id).where(Membership.person_id.is_not(None))))
        if self.consent:
            conditions.append(CONSENT_FILTERS[self.consent][1])
        if self.has_email == "yes":
            conditions.append(email.is_not(None))
        elif self.has_email == "no":
            conditions.append(email.is_(None))
        return conditions

    def ids(self) -> sa.Select:
        """SELECT of the matching people's ids (for counts, bulk actions and segments)."""
        matching, text_conditions = self._text_conditions(text_index=True)
        if matching is not None and not text_conditions and self.to_args(with_sort=False).keys() == {"q"}:
            # The index answers this search alone, and its row ids are the people's (its triggers
            # keep it in step): there is no need to read the people rows.
            return matching
        found = self._found_elsewhere()
        if found is not None and matching is None and not text_conditions and not self._column_conditions():
            # Every person id in those tables is a person's (foreign keys): again no people rows.
            return found.distinct()
        return sa.select(Person.id).where(*self._with_filters(matching, text_conditions))

    def statement(self, *, hits: int | None = None, among: list[int] | None = None) -> sa.Select:
        """SELECT of the matching people in the chosen order; `hits`: how many match, if known;
        `among`: their ids, if known (see found())."""
        order = SORTS[self.sort][1]
        if hits is not None and hits >= BROAD_HITS and among is None:
            return sa.select(Person).where(*self.conditions(walking=True)).order_by(*order)
        if not self.is_empty and self.sort == "name":
            # With a filter, finding the hits first and sorting them is much faster than walking the
            # name index and testing every row in index order (which the planner would pick for
            # ORDER BY ... LIMIT); the concatenation keeps the query off that index.
            order = (Person.last_name + "", Person.first_name, Person.id)
        conditions = [_one_of(Person.id, among)] if among is not None else self.conditions()
        return sa.select(Person).where(*conditions).order_by(*order)

    def count(self, session, *, at_most: int | None = None) -> int:
        """How many people match; with `at_most`, counting stops after at_most + 1 of them."""
        if at_most is None and self.membership == "none":
            # Most people are no members: everyone less the members is counted from indexes
            # (memberships, topics, ...) instead of testing every people row.
            return replace(self, membership="").count(session) - replace(self, membership=ANY_MEMBERSHIP).count(session)
        if at_most is None and self.has_email == "yes":
            # Likewise most people have an address, and the few without are found in its index.
            return replace(self, has_email="").count(session) - replace(self, has_email="no").count(session)
        ids = self.ids() if at_most is None else self.ids().limit(at_most + 1)
        return session.scalar(sa.select(sa.func.count()).select_from(ids.subquery()))

    def found(self, session) -> tuple[int, list[int] | None]:
        """How many people match and, if they are fewer than BROAD_HITS, their ids: the page is
        then read by id instead of finding the people a second time (a few hundred ids cost less
        than intersecting the filters again); more people are counted, and their page is read
        along the index of the sort order (statement())."""
        ids = session.scalars(self.ids().limit(BROAD_HITS)).all()
        if len(ids) < BROAD_HITS:
            return len(ids), ids
        return self.count(session), None

    def count_hits(self, session, *, page_end: int) -> tuple[int, bool]:
        """The hits counted up to COUNTED_HITS, or to the end of the page shown if that is further,
        and whether there are more than that."""
        at_most = max(COUNTED_HITS, page_end)
        hits = self.count(session, at_most=at_most)
        return min(hits, at_most), hits > at_most


ORGANIZATION_SORTS = {
    "name": ("Name", (Organization.name, Organization.id)),
    "city": ("Ort", (Organization.city, Organization.name, Organization.id)),
    "-population": ("Einwohner (absteigend)", (Organization.population.desc().nulls_last(), Organization.id)),
    "-created": ("Neueste zuerst", (Organization.created_at.desc(), Organization.id.desc())),
}


@dataclass
class OrganizationFilter:
    q: str = ""
    kind: str = ""
    state: str = ""
    sort: str = "name"

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "OrganizationFilter":
        return cls(**_read_args(cls, args, {
            "sort": ORGANIZATION_SORTS, "state": BUNDESLAENDER, "kind": OrganizationKind.__members__,
        }))  # fmt: skip

    def to_args(self) -> dict[str, str]:
        args = {k: v for k, v in asdict(self).items() if v}
        if args.get("sort") == "name":
            del args["sort"]
        return args

    def conditions(self) -> list:
        conditions = [Organization.search_key.like(f"%{like_escape(t)}%", escape="\\") for t in fold(self.q).split()]
        if self.kind:
            conditions.append(Organization.kind == self.kind)
        if self.state:
            conditions.append(Organization.state == self.state)
        return conditions

    def statement(self) -> sa.Select:
        return sa.select(Organization).where(*self.conditions()).order_by(*ORGANIZATION_SORTS[self.sort][1])


def describe(person_filter: PersonFilter, tag_names: Mapping[int, str]) -> list[str]:
    """The filter in words ("Bundesland: Bayern"), for segment pages and headings."""
    from crm.contacts.models import ORGANIZATION_KIND_LABELS

    parts = []
    if person_filter.q:
        parts.append(f"Suche: „{person_filter.q}“")
    if person_filter.state:
        parts.append(f"Bundesland: {BUNDESLAENDER.get(person_filter.state, person_filter.state)}")
    if person_filter.kind in OrganizationKind.__members__:
        parts.append(f"Art der Organisation: {ORGANIZATION_KIND_LABELS[OrganizationKind(person_filter.kind)]}")
    if person_filter.tag:
        parts.append(f"Thema: {tag_names.get(int(person_filter.tag), 'gelöschtes Thema')}")
    if person_filter.membership:
        parts.append(MEMBERSHIP_FILTERS[person_filter.membership])
    if person_filter.consent:
        parts.append(CONSENT_FILTERS[person_filter.consent][0])
    if person_filter.has_email:
        parts.append("mit E-Mail-Adresse" if person_filter.has_email == "yes" else "ohne E-Mail-Adresse")
    return parts or ["alle Personen"]
