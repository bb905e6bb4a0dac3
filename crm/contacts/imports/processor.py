"""Processing import rows: the dry run and the import plan every row the same way.

Rows are streamed from the file in batches. Per batch, what the database knows about the rows is
fetched in a few queries (crm.contacts.imports.lookup) as plain values; every row is then planned
in memory: matched (person by email, else by name + organization; organization by AGS, else by
name), checked and described. The dry run stops there. The import writes the batch
(crm.contacts.imports.bulk): new people set-based, changes to existing records through the
services, each such row inside its own SAVEPOINT, so a failing row never half-writes.
"""
import gc
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from crm.contacts.duplicates import Candidate, evidence
from crm.contacts.imports import lookup
from crm.contacts.imports.bulk import write_batch
from crm.contacts.imports.checks import ORGANIZATION_FIELDS, PERSON_FIELDS, RowError, check_row
from crm.contacts.imports.fields import FIELDS
from crm.contacts.imports.reader import iter_rows
from crm.contacts.imports.seen import SeenRows
from crm.contacts.imports.sql import insert_rows, large_page_cache
from crm.contacts.models import ImportJob, ImportRowResult, Organization, Person
from crm.contacts.search import fold, name_key
from crm.extensions import db

#: Rows per batch: the lookups, the writes and the commit with the progress happen per batch.
#: Memory grows with the batch, not with the file.
BATCH_SIZE = 10_000
REPORT_COLUMNS = ("job_id", "row", "action", "column", "message", "label")


@dataclass(slots=True)
class Plan:
    """What one row means and what importing it changes."""

    row: int
    values: dict
    action: str = "unchanged"  # create | update | unchanged | error
    messages: list[tuple[str | None, str]] = field(default_factory=list)  # (field, text)
    label: str | None = None
    organization: lookup.Org | None = None
    org_key: str | None = None
    org_changes: dict = field(default_factory=dict)
    person: lookup.KnownPerson | None = None
    person_changes: dict = field(default_factory=dict)
    new_tags: list[str] = field(default_factory=list)
    affiliation: lookup.Role | None = None  # the current role at the organization, if any
    affiliation_changes: dict = field(default_factory=dict)
    consent: bool | None = None  # newsletter consent to record

    def fail(self, name: str | None, message: str) -> "Plan":
        self.action, self.messages = "error", [(name, message)]
        return self

    @property
    def creates_person(self) -> bool:
        return self.action == "create" and bool(self.values.get("last_name"))


@dataclass
class Batch:
    """What the database knows about the rows of one batch, and what planning them needs from each row."""

    known: dict[str, lookup.KnownPerson]  # by email
    neighbours: lookup.Neighbours
    org_ids: dict[int, int | None]  # row -> the id of the known organization it names
    person_keys: dict[int, list[str]]  # row -> its keys in the register of seen rows (see _person_keys)


@contextmanager
def _batch_garbage_collection():
    """Python's cyclic garbage collector paused while batches are processed, and run on what each
    batch left behind. A batch keeps a few hundred thousand objects alive until it is written (rows,
    plans, report lines); every few thousand new objects the collector would walk them all again,
    a fifth of the import's time. Reference counting frees a batch when it is done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield gc.collect
    finally:
        if enabled:  # (another import running at the same time may have paused it first)
            gc.enable()


class Importer:
    """Runs one import job, dry or for real."""

    def __init__(self, job: ImportJob, *, actor, dry_run: bool):
        self.job, self.actor, self.dry_run = job, actor, dry_run
        self.columns = {name: int(index) for index, name in job.mapping.items()}
        self.headers = {name: self.header(name) for name in (None, *FIELDS)}
        self.source = f"Import {job.filename}"
        # Organizations are looked up in memory (there are far fewer than people).
        self.org_by_ags = dict(db.session.execute(sa.select(Organization.ags, Organization.id).where(Organization.ags.is_not(None))).all())
        self.org_by_name = {fold(name): oid for oid, name in db.session.execute(sa.select(Organization.id, Organization.name))}
        self.org_by_city = lookup.organizations_by_city()
        #: Rows of this file that create or change a record: key -> row number (same in dry run and import).
        self.seen = SeenRows()
        #: The organizations of the current batch, by id.
        self.batch_organizations: dict[int, lookup.Org] = {}
        #: Organizations this import created: id -> the key the file first named it by (see org_key).
        self.created_organizations: dict[int, str] = {}

    def header(self, name: str | None) -> str | None:
        """The file's header of the column mapped to `name`, for messages."""
        if name in self.columns and self.columns[name] < len(self.job.headers):
            return self.job.headers[self.columns[name]]
        return FIELDS[name][0] if name in FIELDS else None

    def extract(self, cells: list[str]) -> dict[str, str]:
        """The mapped cells of a row by field (the reader trims them)."""
        return {name: cells[i] if i < len(cells) else "" for name, i in self.columns.items()}

    # --- matching -----------------------------------------------------------------------------

    def org_id(self, values: dict) -> int | None:
        """The id of the known organization a row names (by AGS, else by name)."""
        ags, name = values.get("ags"), values.get("organization")
        return (self.org_by_ags.get(ags) if ags else None) or (self.org_by_name.get(fold(name)) if name else None)

    def find_organization(self, values: dict, org_id: int | None) -> tuple[lookup.Org | None, str | None]:
        """(existing organization or None, key of the organization this row means); `org_id`: org_id(values)."""
        ags, name = values.get("ags"), values.get("organization")
        if not ags and not name:
            return None, None
        if org_id is None and ags and not name and self.seen.get(f"org ags:{ags}") is None:
            raise RowError("ags", f"Zum AGS {ags} gibt es keine Organisation; bitte den Namen angeben.")
        organization = self.organization(org_id) if org_id else None
        if organization is not None and ags and organization.ags and organization.ags != ags:
            raise RowError("ags", f"{organization.name} hat den AGS {organization.ags}, nicht {ags}.")
        return organization, self.org_key(values, org_id)

    def org_key(self, values: dict, org_id: int | None) -> str:
        """The key of the organization a row means: its id if known, else the AGS, else the name.
        An organization this file created keeps the key it had before, as in the dry run: its people
        are rows of this file, which the register of seen rows knows under that key."""
        if org_id:
            return self.created_organizations.get(org_id) or f"id:{org_id}"
        return f"ags:{values['ags']}" if values.get("ags") else f"name:{fold(values.get('organization'))}"

    def fetch_organizations(self, org_ids) -> None:
        """Add these organizations to the batch's (in one query) unless it has them."""
        self.batch_organizations.update(lookup.organizations(set(org_ids) - self.batch_organizations.keys() - {None}))

    def organization(self, org_id: int) -> lookup.Org:
        if org_id not in self.batch_organizations:
            self.batch_organizations.update(lookup.organizations([org_id]))
        return self.batch_organizations[org_id]

    def find_person(self, values: dict, organization: lookup.Org | None, batch: Batch) -> lookup.KnownPerson | None:
        email = values.get("email")
        if email and email in batch.known:
            return batch.known[email]
        if organization is not None:  # prefetched for the whole batch: (id, email) of same-named people there
            for person_id, person_email in batch.neighbours.colleagues.get((organization.id, name_key(values.get("first_name"), values["last_name"])), []):
                if not email or not person_email:
                    return lookup.known_people(Person.id == person_id)[0]
            return None
        if email:
            return None
        # Nothing else to go by: the same name, no address, no role.
        person_id = lookup.unattached_namesake(values.get("first_name"), values["last_name"])
        return lookup.known_people(Person.id == person_id)[0] if person_id else None

    # --- planning -----------------------------------------------------------------------------

    def plan(self, row: int, values: dict, batch: Batch) -> Plan:
        plan = Plan(row, values)
        organization, org_key = self.find_organization(values, batch.org_ids[row])
        plan.organization, plan.org_key = organization, org_key
        if org_key and organization is None:
            if (earlier := self.seen.get(f"org {org_key}")) is not None:
                plan.messages.append(("organization", f"Organisation wie in Zeile {earlier}"))
            else:
                self.seen.add(f"org {org_key}", row)
                if values.get("organization"):
                    self.seen.add(f"org name:{fold(values['organization'])}", row)
                plan.action = "create" if not values.get("last_name") else "update"
                plan.messages.append(("organization", f"Organisation „{values.get('organization')}“ wird angelegt"))
        elif organization is not None:
            plan.org_changes = self._organization_changes(organization, values)
            if plan.org_changes:
                plan.action = "update"
                names = ", ".join(FIELDS.get(k, (k,))[0] for k in plan.org_changes)
                plan.messages.append(("organization", f"{organization.name}: ergänzt {names}"))
        if not values.get("last_name"):
            plan.label = values.get("organization") or (organization.name if organization else None)
            return plan
        plan.label = " ".join(p for p in (values.get("first_name"), values["last_name"]) if p)
        keys = batch.person_keys[row]
        earlier = next((seen for key in keys if (seen := self.seen.get(key)) is not None), None)
        if earlier is not None:  # this file mentioned the person before; that row counts
            return Plan(row, values, "unchanged", [(None, f"gleiche Person wie Zeile {earlier}")], plan.label)
        for key in keys:
            self.seen.add(key, row)
        person = plan.person = self.find_person(values, organization, batch)
        if person is None:
            plan.action = "create"
            where = organization.name if organization else values.get("organization")
            role = f" als {values['position']}" if values.get("position") else ""
            plan.messages.insert(0, (None, f"Person wird angelegt{f' – {where}{role}' if where else ''}"))
            plan.new_tags = values.get("tags", [])
            plan.consent = values.get("newsletter")
            self._warn_duplicates(plan, batch.neighbours.candidates)
            return plan
        self._plan_update(plan, person)
        return plan

    def _plan_update(self, plan: Plan, person: lookup.KnownPerson) -> None:
        values, organization = plan.values, plan.organization
        plan.person_changes = self._person_changes(person, values)
        for name, new in plan.person_changes.items():
            plan.messages.append((name, f"{FIELDS[name][0]}: {getattr(person, name) or '–'} → {new}"))
        have = {fold(t) for t in person.tags}
        plan.new_tags = [t for t in dict.fromkeys(values.get("tags", [])) if fold(t) not in have]
        if plan.new_tags:
            plan.messages.append(("tags", f"Themen: + {', '.join(plan.new_tags)}"))
        if organization is not None:
            plan.affiliation = next((r for r in person.roles if r.organization_id == organization.id), None)
            if plan.affiliation is None:
                plan.messages.append(("organization", f"neue Funktion bei {organization.name}"))
            elif changes := self._affiliation_changes(plan.affiliation, values):
                plan.affiliation_changes = changes
                plan.messages.append(("position", f"Funktion: {plan.affiliation.position or '–'} → {changes.get('position', plan.affiliation.position)}"))
        elif plan.org_key:
            plan.messages.append(("organization", f"neue Funktion bei {values.get('organization')}"))
        if "newsletter" in values and person.newsletter_consent is not values["newsletter"]:
            plan.consent = values["newsletter"]
            plan.messages.append(("newsletter", "Newsletter-Einwilligung: " + ("erteilt" if plan.consent else "widerrufen")))
        if plan.messages:
            plan.action = "update"

    @staticmethod
    def _person_keys(values: dict, org_key: str | None) -> list[str]:
        """The keys under which the register knows a person row: its email, its name at its organization."""
        keys = [f"person email:{values['email']}"] if values.get("email") else []
        keys.append(f"person name:{fold(values.get('first_name'))} {fold(values['last_name'])}|{org_key}")
        return keys

    def _warn_duplicates(self, plan: Plan, candidates: dict[tuple, list[Candidate]]) -> None:
        if not candidates:
            return
        org_ids = {plan.organization.id} if plan.organization else set()
        city = plan.organization.city if plan.organization else plan.values.get("city")
        cities = {fold(city)} if city else set()
        key = lookup.sound(plan.values["last_name"])
        nearby = {c.person_id: c for place in (*org_ids, *cities) for c in candidates.get((key, place), ())}
        if not nearby:
            return
        warnings = 0
        for _, candidate in sorted(nearby.items()):
            reasons = evidence(plan.values.get("first_name"), plan.values["last_name"], org_ids, cities, candidate)
            if reasons:
                plan.messages.append((None, f"Achtung, mögliches Duplikat von {candidate.name} (Nr. {candidate.person_id}): {'; '.join(reasons)}"))
                warnings += 1
                if warnings == 3:
                    break

    def _person_changes(self, person: lookup.KnownPerson, values: dict) -> dict:
        overwrite = self.job.update_mode == "overwrite"
        changes = {}
        for name in PERSON_FIELDS:
            new, old = values.get(name), getattr(person, name)
            if new is None or (name == "email" and person.email) or old == new:
                continue
            if old in (None, "") or overwrite:
                changes[name] = new
        return changes

    def _affiliation_changes(self, affiliation: lookup.Role, values: dict) -> dict:
        overwrite = self.job.update_mode == "overwrite"
        return {
            name: values[name] for name in ("position", "department")
            if values.get(name) and getattr(affiliation, name) != values[name] and (overwrite or not getattr(affiliation, name))
        }  # fmt: skip

    def _organization_changes(self, organization: lookup.Org, values: dict) -> dict:
        changes = {n: values[n] for n in ORGANIZATION_FIELDS if values.get(n) and not getattr(organization, n)}
        if values.get("ags") and not organization.ags and organization.kind == "municipality":
            changes["ags"] = values["ags"]
        return changes

    # --- batches ------------------------------------------------------------------------------

    def plan_batch(self, rows: list[tuple[int, dict[str, str]]]) -> list[Plan]:
        cleaned: list[tuple[int, dict]] = []
        plans: dict[int, Plan] = {}
        for row, data in rows:
            try:
                cleaned.append((row, check_row(data)))
            except RowError as error:
                plans[row] = Plan(row, {}).fail(error.field, error.message)
        batch = self.look_up(cleaned)
        for row, values in cleaned:
            try:
                plans[row] = self.plan(row, values, batch)
            except RowError as error:
                plans[row] = Plan(row, values).fail(error.field, error.message)
        self.seen.flush()
        return [plans[row] for row, _ in rows]

    def look_up(self, cleaned: list[tuple[int, dict]]) -> Batch:
        """Everything the batch's rows will ask the database and the register, fetched at once."""
        org_ids = {row: self.org_id(v) for row, v in cleaned}
        self.batch_organizations = lookup.organizations(set(org_ids.values()) - {None})
        known = lookup.people_by_email([v["email"] for _, v in cleaned if v.get("email")])
        by_org, by_city, same_name, seen_keys, person_keys = set(), set(), set(), [], {}
        for row, v in cleaned:
            if v.get("ags"):
                seen_keys.append(f"org ags:{v['ags']}")
            if v.get("organization"):
                seen_keys.append(f"org name:{fold(v['organization'])}")
            if not v.get("last_name"):
                continue
            org_id = org_ids[row]
            person_keys[row] = self._person_keys(v, self.org_key(v, org_id))
            seen_keys += person_keys[row]
            if v.get("email") in known:
                continue  # matched by email: no namesakes or duplicate candidates needed
            key = lookup.sound(v["last_name"])
            if org_id and org_id not in self.created_organizations:
                same_name.add((org_id, name_key(v.get("first_name"), v["last_name"])))
                by_org.add((key, org_id))
            city = self.batch_organizations[org_id].city if org_id in self.batch_organizations else v.get("city")
            if city:
                by_city.add((key, city))
        self.seen.prefetch(seen_keys)
        # The people at organizations this file created are its own earlier rows: the register
        # of seen rows matches them, and the dry run, which cannot see them, warns of none.
        neighbours = lookup.neighbours(same_name, by_org, by_city, orgs_in=self.org_by_city, leave_out=self.created_organizations.keys())
        return Batch(known, neighbours, org_ids, person_keys)

    def run(self) -> None:
        """Process every row, committing progress (and, for real, the data) every BATCH_SIZE rows."""
        self.job.processed_rows = 0
        self.job.counts = {"create": 0, "update": 0, "unchanged": 0, "error": 0}
        db.session.execute(sa.delete(ImportRowResult).where(ImportRowResult.job_id == self.job.id))
        rows = iter_rows(Path(self.job.stored_path), self.job.file_format, self.job.encoding, self.job.delimiter)
        row = 0
        for values in rows:  # the header is the first non-empty row; its row number counts from 1
            row += 1
            if any(values):
                break
        batch: list[tuple[int, dict[str, str]]] = []
        try:
            with _batch_garbage_collection() as collect:
                for values in rows:
                    row += 1
                    if any(values):
                        batch.append((row, self.extract(values)))
                    if len(batch) == BATCH_SIZE:
                        self._finish_batch(batch)
                        batch = []
                        collect(0)  # the cycles the batch made (the rest of it is freed already)
                self._finish_batch(batch)
        finally:
            self.seen.close()

    def _report(self, plans: list[Plan]) -> None:
        """The per-row report: a line per message (plain unchanged rows need none)."""
        job_id, headers = self.job.id, self.headers
        insert_rows(ImportRowResult.__table__, REPORT_COLUMNS, (
            (job_id, plan.row, plan.action, headers.get(name), message, plan.label)
            for plan in plans for name, message in plan.messages or [(None, "")] if plan.action != "unchanged" or message
        ))  # fmt: skip

    def _finish_batch(self, batch) -> None:
        if not batch:
            return
        with large_page_cache():
            plans = self.plan_batch(batch)
            if not self.dry_run:
                write_batch(self, plans)
            self._report(plans)
        tally = Counter(plan.action for plan in plans)
        self.job.counts = {action: n + tally[action] for action, n in self.job.counts.items()}
        self.job.processed_rows += len(plans)
        db.session.commit()
        # Keep the session small: the records of this batch are not needed again.
        for record in list(db.session):
            if record is not self.job and record is not self.actor and record in db.session:  # (expunge cascades)
                db.session.expunge(record)
