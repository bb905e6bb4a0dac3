"""The people filter reads its people in several ways (crm.contacts.filters): counted from indexes
or as everyone less the rest, found in other tables before the people rows, or by walking the name
index for a broad filter. Every way must give the same people in the same order and the same count."""
import itertools

import pytest
import sqlalchemy as sa

from crm.contacts import filters
from crm.contacts.filters import PersonFilter
from crm.contacts.models import Person
from crm.members.models import MembershipStatus
from crm.members.services import create_membership
from tests.contacts.test_people_list import A, B, C, D, E, OFFICE, names, office, world  # noqa: F401

# Each filter with values that find someone in `world` and values that find nobody.
CHOICES = {
    "state": ["", "08", "09", "05"],
    "kind": ["", "municipality", "association"],
    "tag": ["", "bildung", "mobilitaet"],
    "membership": ["", "active", "applied", "ended", "none"],
    "consent": ["", "newsletter_yes", "newsletter_no", "newsletter_none"],
    "has_email": ["", "yes", "no"],
}


def _combinations(world):
    """Every filter alone and every pair of filters, with each of their values."""
    for first, second in itertools.combinations([None, *CHOICES], 2):
        chosen = [name for name in (first, second) if name]
        for values in itertools.product(*(CHOICES[name][1:] for name in chosen)):
            args = dict(zip(chosen, values))
            if "tag" in args:
                args["tag"] = str(world[args["tag"]])
            yield args


def _listed(db, statement) -> list[int]:
    return db.session.scalars(statement.with_only_columns(Person.id)).all()


def test_every_way_of_reading_a_filter_agrees(db, world):
    checked = 0
    for args in _combinations(world):
        person_filter = PersonFilter.from_args(args)
        by_sorting = _listed(db, person_filter.statement())
        # As a broad filter does: walk the name index and test each person.
        by_walking = _listed(db, person_filter.statement(hits=filters.BROAD_HITS))
        ids = set(db.session.scalars(person_filter.ids()).all())
        assert by_walking == by_sorting, args
        assert ids == set(by_sorting), args
        assert person_filter.count(db.session) == len(by_sorting), args
        checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"has_email": "yes"}, [A, C, D, OFFICE]),
        ({"membership": "none"}, [C, E, OFFICE]),
        ({"state": "09", "membership": "none"}, [C]),
        ({"state": "09", "has_email": "yes"}, [C]),
        ({"kind": "municipality", "membership": "applied"}, [B]),
        ({"membership": "none", "has_email": "no"}, [E]),
    ],
    ids=lambda value: "-".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None,
)
def test_a_broad_filter_walks_the_name_index_and_shows_the_same_page(client, world, monkeypatch, args, expected):
    monkeypatch.setattr(filters, "BROAD_HITS", 1)
    assert names(client, **args) == expected


def test_memberships_of_organizations_are_nobody_s_and_a_second_membership_counts_once(db, make, world, office):
    dietz = db.session.scalar(sa.select(Person).where(Person.last_name == "Dietz"))  # a former member
    create_membership(actor=office, type="regular", status=MembershipStatus.applied, person=dietz)
    db.session.commit()
    # The Verband's active membership is nobody's; Dietz is counted once among the members.
    for membership, expected in (("active", 1), ("applied", 2), ("ended", 1), ("none", 3)):
        person_filter = PersonFilter(membership=membership)
        assert person_filter.count(db.session) == expected, membership
        assert len(db.session.scalars(person_filter.ids()).all()) == expected, membership
