"""The member list filter: read from the URL, used by the list, its status counts and the export."""
import re
from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import aliased, contains_eager

from crm.contacts.filters import _read_args
from crm.contacts.models import Affiliation, Organization, Person
from crm.contacts.municipal import BUNDESLAENDER
from crm.contacts.search import fold, like_escape
from crm.members.models import Membership, MembershipStatus, MembershipType

MEMBER_KINDS = {"person": "Personen", "organization": "Organisationen"}

_sort_name = sa.func.coalesce(Person.last_name, Organization.name)

SORTS = {
    "name": ("Name", (_sort_name, Person.first_name, Membership.number)),
    "number": ("Mitgliedsnummer", (Membership.number,)),
    "since": ("Mitglied seit (längste zuerst)", (Membership.start_date.asc().nulls_last(), Membership.number)),
    "-since": ("Mitglied seit (neueste zuerst)", (Membership.start_date.desc().nulls_last(), Membership.number.desc())),
}

_NUMBER_PREFIX = re.compile(r"^(?:nr\.?|nummer)\s*")


def primary_organization_id():
    """The id of a person member's current primary organization, picked as Person.primary_affiliation
    does: the current primary role, else the first current one (correlated to Membership)."""
    return (
        sa.select(Affiliation.organization_id)
        .where(Affiliation.person_id == Membership.person_id, Affiliation.is_current)
        .order_by(Affiliation.is_primary.desc(), Affiliation.start_date.desc())
        .limit(1)
        .correlate(Membership)
        .scalar_subquery()
    )


def _people_in_state(state: str) -> sa.Select:
    """The people whose current primary organization (as primary_organization_id picks it) lies in
    `state`. Only the current roles in that state are checked, not every member row."""
    organization, picked = aliased(Organization), aliased(Affiliation)  # aliases: no correlation to the list
    first_current = (
        sa.select(picked.id)
        .where(picked.person_id == Affiliation.person_id, picked.is_current)
        .order_by(picked.is_primary.desc(), picked.start_date.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        sa.select(Affiliation.person_id)
        .join(organization, organization.id == Affiliation.organization_id)
        .where(organization.state == state, Affiliation.is_current, Affiliation.id == first_current)
    )


def with_members(stmt: sa.Select) -> sa.Select:
    """Join the member (person or organization) whose columns the filter and the sorting use."""
    return stmt.outerjoin(Person, Person.id == Membership.person_id).outerjoin(
        Organization, Organization.id == Membership.organization_id
    )


def with_list_details(stmt: sa.Select) -> sa.Select:
    """Load what the list and the export show in a fixed number of queries (no query per row)."""
    return stmt.options(
        contains_eager(Membership.person).selectinload(Person.affiliations).joinedload(Affiliation.organization),
        contains_eager(Membership.organization),
    )


@dataclass
class MembershipFilter:
    q: str = ""
    status: str = ""
    type: str = ""
    kind: str = ""
    state: str = ""
    sort: str = "name"

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "MembershipFilter":
        """Read the filter from request.args; unknown values are ignored, not errors."""
        return cls(**_read_args(cls, args, {
            "sort": SORTS, "status": MembershipStatus.__members__, "type": MembershipType.__members__,
            "kind": MEMBER_KINDS, "state": BUNDESLAENDER,
        }))  # fmt: skip

    def to_args(self, **overrides: str) -> dict[str, str]:
        """The non-empty arguments, for links that keep the filter (`overrides` replace single ones)."""
        args = {k: v for k, v in (asdict(self) | overrides).items() if v}
        if args.get("sort") == "name":
            del args["sort"]
        return args

    @property
    def is_empty(self) -> bool:
        return not {k: v for k, v in self.to_args().items() if k != "sort"}

    def _search(self) -> list:
        """One condition per word: a number is a member number, anything else part of the name."""
        conditions = []
        for term in _NUMBER_PREFIX.sub("", fold(self.q)).split():
            if term.isdigit():
                conditions.append(Membership.number == int(term[:9]))
                continue
            pattern = f"%{like_escape(term)}%"
            conditions.append(
                sa.or_(Person.search_key.like(pattern, escape="\\"), Organization.search_key.like(pattern, escape="\\"))
            )
        return conditions

    def conditions(self) -> list:
        """WHERE conditions on Membership joined with its member (see with_members)."""
        conditions = self._search()
        if self.status:
            conditions.append(Membership.status == self.status)
        if self.type:
            conditions.append(Membership.type == self.type)
        if self.kind:
            column = Membership.person_id if self.kind == "person" else Membership.organization_id
            conditions.append(column.is_not(None))
        if self.state:
            conditions.append(
                sa.or_(Organization.state == self.state, Membership.person_id.in_(_people_in_state(self.state)))
            )
        return conditions

    def statement(self) -> sa.Select:
        """SELECT of the matching memberships with their members, in the chosen order."""
        return with_members(sa.select(Membership)).where(*self.conditions()).order_by(*SORTS[self.sort][1])

    def status_counts(self) -> sa.Select:
        """(status, count) for the filter as it is apart from the status, for the status tabs."""
        others = replace(self, status="")
        return (
            with_members(sa.select(Membership.status, sa.func.count()))
            .where(*others.conditions())
            .group_by(Membership.status)
        )

    def describe(self) -> list[str]:
        """The filter in words ("Status: aktiv"), for the list heading and the export."""
        parts = [f"Suche: „{self.q}“"] if self.q else []
        if self.status:
            parts.append(f"Status: {MembershipStatus(self.status).label}")
        if self.type:
            parts.append(MembershipType(self.type).label)
        if self.kind:
            parts.append(f"nur {MEMBER_KINDS[self.kind]}")
        if self.state:
            parts.append(f"Bundesland: {BUNDESLAENDER[self.state]}")
        return parts
