"""Synthetic data for benchmarks: German names, municipalities, roles, topics, memberships.

Every address is on a reserved domain (example.org/.com/.test). Rows are written with set-based
INSERTs in batches, so 100,000 people take seconds, not minutes.

    python -m benchmarks.generate --people 100000 --organizations 20000
"""
import argparse
import random
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa

from crm.contacts import search_index
from crm.contacts.models import Affiliation, Organization, Person, Tag, person_tags
from crm.contacts.municipal import BUNDESLAENDER
from crm.contacts.search import cologne_phonetic, name_key, search_key
from crm.extensions import db
from crm.members.models import Counter, Membership

FIRST = ("Anna Anika Bernd Christoph Claudia Dirk Eva Frank Gabriele Hans Ingrid Jan Jürgen Julia Karin Klaus "
         "Lena Marc Maria Markus Michael Nicole Oliver Petra Ralf Sabine Sabrina Stefan Svenja Thomas Ulrike "
         "Uwe Yvonne Zoë Björn Sören Jörg Günther Käthe Özlem").split()  # fmt: skip
LAST = ("Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer Richter "
        "Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Schmitt Werner "
        "Krause Meier Lehmann Groß Huber Dreier Meineke Brunzel Hardtner Scheffler Rethmann Mohrbacher Krellmann "
        "Handschuh Kahlen Wulff Vitt Heller Vogel Baumgartner Acimovic Özdemir Yılmaz").split()  # fmt: skip
# Besides the most common names, thousands of rarer ones, as in a real address book.
_STEMS = "Acker Berg Brand Busch Eich Feld Fried Hage Hart Hell Hof Horn Kirch Klein Lind Mohr Ober Rein Ros Sonn Stein Wald Wein Wester Wolf".split()
_ENDS = "mann meier bauer hardt berger feld stätter huber ner ling kamp rath beck hoff".split()
RARE_LAST = [stem + end for stem in _STEMS for end in _ENDS]
PLACES = ("Aachen Bamberg Celle Dessau Erfurt Flensburg Görlitz Hameln Ingolstadt Jena Kassel Lübeck Mainz "
          "Neuss Oldenburg Potsdam Quedlinburg Rostock Siegen Trier Ulm Villingen Wetzlar Zwickau Öhringen "
          "Überlingen Bad Tölz Groß-Gerau").split()  # fmt: skip
POSITIONS = ("Bürgermeister Bürgermeisterin Oberbürgermeister Stadtdirektorin Landrat Referent Referentin "
             "Amtsleiter Amtsleiterin CDO Digitallotse Sachbearbeiterin Projektleiter Geschäftsführer").split()
TOPICS = ("E-Government Bildung Mobilität Gesundheit Breitband Smart-City Open-Data Bürgerbeteiligung "
          "IT-Sicherheit Wirtschaftsförderung Kultur Integration").split()
KINDS = ("municipality", "county", "association", "company", "research", "public_agency", "other")
BATCH = 5000


def _insert(table, rows: list[dict]) -> None:
    for start in range(0, len(rows), BATCH):
        db.session.execute(sa.insert(table), rows[start : start + BATCH])


def generate(people: int = 100_000, organizations: int = 20_000, seed: int = 2018) -> None:
    rng = random.Random(seed)
    states = list(BUNDESLAENDER)
    now = datetime.now(timezone.utc)
    tags = [{"id": i + 1, "name": name} for i, name in enumerate(TOPICS)]
    _insert(Tag.__table__, tags)

    org_rows = []
    for i in range(1, organizations + 1):
        kind = rng.choice(KINDS)
        state = rng.choice(states)
        place = f"{rng.choice(PLACES)} {i}"
        name = f"{'Stadt' if kind == 'municipality' else 'Verband'} {place}"
        ags = f"{state}{i:06d}" if kind == "municipality" else None
        kreis = f"{state}{i % 1000:03d}" if kind == "county" and i < 1000 else None
        if kind == "county" and kreis is None:
            kind = "other"
        org_rows.append({
            "id": i, "name": name, "kind": kind, "state": state, "city": place, "ags": ags, "kreisschluessel": kreis,
            "population": rng.randint(800, 600_000) if kind == "municipality" else None,
            "search_key": search_key(name, None, place, ags, kreis), "created_at": now, "updated_at": now,
        })  # fmt: skip
    _insert(Organization.__table__, org_rows)

    person_rows, affiliation_rows, tag_rows, membership_rows = [], [], [], []
    affiliation_id = member_number = 0
    for i in range(1, people + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST if rng.random() < 0.3 else RARE_LAST)
        email = f"{search_key(first).replace(' ', '')}.{search_key(last).replace(' ', '')}.{i}@{rng.choice(('example.org', 'example.com', 'kommune.test'))}"
        person_rows.append({
            "id": i, "salutation": rng.choice(("frau", "herr", None)), "first_name": first, "last_name": last,
            "email": email if rng.random() < 0.9 else None, "language": "de",
            "search_key": search_key(first, last, email), "name_phonetic": cologne_phonetic(last),
            "name_key": name_key(first, last),
            "newsletter_consent": rng.choice((True, False, None)), "invitation_consent": rng.choice((True, None)),
            "created_at": now - timedelta(days=rng.randint(0, 3000)), "updated_at": now,
        })  # fmt: skip
        person_rows[-1]["search_key"] = search_key(first, last, person_rows[-1]["email"])
        mine = []
        for n in range(rng.choice((1, 1, 1, 2))):
            affiliation_id += 1
            position = rng.choice(POSITIONS)
            ended = n == 1 and rng.random() < 0.5
            affiliation_rows.append({
                "id": affiliation_id, "person_id": i, "organization_id": rng.randint(1, organizations),
                "position": position, "search_key": search_key(position), "is_primary": n == 0,
                "start_date": date(2010, 1, 1) + timedelta(days=rng.randint(0, 4000)),
                "end_date": date(2021, 1, 1) if ended else None, "created_at": now,
            })  # fmt: skip
            mine.append(affiliation_rows[-1])
        current = [a for a in mine if a["end_date"] is None]
        person_rows[-1]["context_key"] = search_key(*(
            part for a in current for part in (org_rows[a["organization_id"] - 1]["name"], org_rows[a["organization_id"] - 1]["city"], a["position"])
        ))[:1000]  # fmt: skip
        for tag_id in rng.sample(range(1, len(TOPICS) + 1), rng.choice((0, 1, 2, 3))):
            tag_rows.append({"person_id": i, "tag_id": tag_id})
        if rng.random() < 0.3:
            member_number += 1
            membership_rows.append({
                "number": member_number, "person_id": i, "type": "regular",
                "status": rng.choice(("active", "active", "active", "applied", "ended")),
                "start_date": date(2015, 1, 1), "created_at": now, "updated_at": now,
            })  # fmt: skip
        if len(person_rows) >= BATCH:
            _flush(person_rows, affiliation_rows, tag_rows, membership_rows)
    _flush(person_rows, affiliation_rows, tag_rows, membership_rows)
    db.session.add(Counter(name="member_number", value=member_number))
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        for table in ("people", "organizations", "affiliations", "tags", "memberships"):
            db.session.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
        search_index.settle(db.session.connection())  # as the import does after its last batch
        db.session.commit()
        # What autovacuum does a minute after a bulk load: statistics, and the visibility map
        # without which PostgreSQL cannot answer from the covering indexes alone.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))
    else:
        db.session.execute(sa.text("ANALYZE"))
    db.session.commit()


def _flush(person_rows, affiliation_rows, tag_rows, membership_rows) -> None:
    for table, rows in ((Person.__table__, person_rows), (Affiliation.__table__, affiliation_rows),
                        (person_tags, tag_rows), (Membership.__table__, membership_rows)):  # fmt: skip
        _insert(table, rows)
        rows.clear()


if __name__ == "__main__":
    from crm import create_app

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--organizations", type=int, default=20_000)
    args = parser.parse_args()
    with create_app().app_context():
        generate(args.people, args.organizations)
        print(f"{args.people} people, {args.organizations} organizations generated.")
