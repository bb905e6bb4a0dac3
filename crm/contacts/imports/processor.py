"""Processing import rows: the dry run and the import plan every row the same way.

Rows are streamed from the file in batches. Per batch, the people already known by email and
the candidates for duplicates are fetched in one query each; every row is then planned in
memory: matched (person by email, else by name + organization; organization by AGS, else by
name), checked and described. The dry run stops there. The import writes new people of a batch
with set-based INSERTs (crm.contacts.imports.bulk) and changes to existing records through the
services, each row inside its own SAVEPOINT, so a failing row never half-writes.
"""
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from crm.contacts.duplicates import Candidate, candidates_for, evidence
from crm.contacts.imports.bulk import write_batch
from crm.contacts.imports.checks import ORGANIZATION_FIELDS, PERSON_FIELDS, RowError, check_row
from crm.contacts.imports.fields import FIELDS
from crm.contacts.imports.reader import iter_rows
from crm.contacts.models import Affiliation, ImportJob, ImportRowResult, Organization, Person
from crm.contacts.search import cologne_phonetic, fold, name_key
from crm.extensions import db

BATCH_SIZE = 500


@dataclass
class Plan:
    """What one row means and what importing it changes."""

    row: int
    values: dict
    action: str = "unchanged"  # create | update | unchanged | error
    messages: list[tuple[str | None, str]] = field(default_factory=list)  # (field, text)
    label: str | None = None
    organization: Organization | None = None
    org_key: str | None = None
    org_changes: dict = field(default_factory=dict)
    person: Person | None = None
    person_changes: dict = field(default_factory=dict)
    new_tags: list[str] = field(default_factory=list)
    affiliation: Affiliation | None = None  # the current role at the organization, if any
    affiliation_changes: dict = field(default_factory=dict)
    consent: bool | None = None  # newsletter consent to record

    def fail(self, name: str | None, message: str) -> "Plan":
        self.action, self.messages = "error", [(name, message)]
        return self

    @property
    def creates_person(self) -> bool:
        return self.action == "create" and bool(self.values.get("last_name"))


class Importer:
    """Runs one import job, dry or for real."""

    def __init__(self, job: ImportJob, *, actor, dry_run: bool):
        self.job, self.actor, self.dry_run = job, actor, dry_run
        self.actor_id = getattr(actor, "id", None)
        self.columns = {name: int(index) for index, name in job.mapping.items()}
        self.source = f"Import {job.filename}"
        # Organizations are looked up in memory (there are far fewer than people).
        self.org_by_ags = dict(db.session.execute(sa.select(Organization.ags, Organization.id).where(Organization.ags.is_not(None))).all())
        self.org_by_name = {fold(name): oid for oid, name in db.session.execute(sa.select(Organization.id, Organization.name))}
        # Rows of this file that create or change a record: key -> row number (same in dry run and import).
        self.planned_orgs: dict[str, int] = {}
        self.planned_people: dict[str, int] = {}
        #: The organizations of the current batch (the session only holds objects weakly).
        self.batch_organizations: dict[int, Organization] = {}

    def header(self, name: str | None) -> str | None:
        """The file's header of the column mapped to `name`, for messages."""
        if name in self.columns and self.columns[name] < len(self.job.headers):
            return self.job.headers[self.columns[name]]
        return FIELDS[name][0] if name in FIELDS else None

    def extract(self, values: list[str]) -> dict[str, str]:
        return {name: values[i].strip() if i < len(values) else "" for name, i in self.columns.items()}

    # --- matching -----------------------------------------------------------------------------

    def find_organization(self, values: dict) -> tuple[Organization | None, str | None]:
        """(existing organization or None, key of the organization this row means)."""
        ags, name = values.get("ags"), values.get("organization")
        if not ags and not name:
            return None, None
        org_id = self.org_by_ags.get(ags) if ags else None
        if org_id is None and name:
            org_id = self.org_by_name.get(fold(name))
        if org_id is None and ags and not name and f"ags:{ags}" not in self.planned_orgs:
            raise RowError("ags", f"Zum AGS {ags} gibt es keine Organisation; bitte den Namen angeben.")
        organization = (self.batch_organizations.get(org_id) or db.session.get(Organization, org_id)) if org_id else None
        if organization is not None and ags and organization.ags and organization.ags != ags:
            raise RowError("ags", f"{organization.name} hat den AGS {organization.ags}, nicht {ags}.")
        if organization is not None:
            return organization, f"id:{organization.id}"
        return None, f"ags:{ags}" if ags else f"name:{fold(name)}"

    def find_person(self, values: dict, organization: Organization | None, known: dict[str, Person],
                    colleagues: dict[tuple, list[Person]]) -> Person | None:  # fmt: skip
        email = values.get("email")
        if email and email in known:
            return known[email]
        first, last = fold(values.get("first_name")), fold(values["last_name"])
        if organization is not None:  # prefetched for the whole batch: (id, email) of same-named people there
            for person_id, person_email in colleagues.get((organization.id, name_key(values.get("first_name"), values["last_name"])), []):
                if not email or not person_email:
                    return db.session.scalar(
                        sa.select(Person).options(selectinload(Person.affiliations), selectinload(Person.tags))
                        .where(Person.id == person_id)
                    )  # fmt: skip
            return None
        stmt = sa.select(Person).options(selectinload(Person.affiliations)).where(
            Person.name_phonetic == cologne_phonetic(values["last_name"])
        )
        if organization is not None:
            stmt = stmt.join(Affiliation).where(Affiliation.organization_id == organization.id, Affiliation.is_current)
        elif not email:
            stmt = stmt.where(Person.email.is_(None))  # nothing else to go by: same name, no address, no role
        else:
            return None
        for person in db.session.scalars(stmt).unique():
            same_name = fold(person.first_name) == first and fold(person.last_name) == last
            if same_name and (not email or not person.email) and (organization or not any(a.is_current for a in person.affiliations)):
                return person
        return None

    # --- planning -----------------------------------------------------------------------------

    def plan(self, row: int, values: dict, known: dict[str, Person], colleagues: dict, candidates: dict[str, list[Candidate]]) -> Plan:
        plan = Plan(row, values)
        organization, org_key = self.find_organization(values)
        plan.organization, plan.org_key = organization, org_key
        if org_key and organization is None:
            if org_key in self.planned_orgs:
                plan.messages.append(("organization", f"Organisation wie in Zeile {self.planned_orgs[org_key]}"))
            else:
                self.planned_orgs[org_key] = row
                if values.get("organization"):
                    self.planned_orgs.setdefault(f"name:{fold(values['organization'])}", row)
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
        keys = [f"email:{values['email']}"] if values.get("email") else []
        keys.append(f"name:{fold(values.get('first_name'))} {fold(values['last_name'])}|{org_key}")
        earlier = next((self.planned_people[k] for k in keys if k in self.planned_people), None)
        if earlier is not None:  # this file mentioned the person before; that row counts
            return Plan(row, values, "unchanged", [(None, f"gleiche Person wie Zeile {earlier}")], plan.label)
        for key in keys:
            self.planned_people[key] = row
        person = plan.person = self.find_person(values, organization, known, colleagues)
        if person is None:
            plan.action = "create"
            where = organization.name if organization else values.get("organization")
            role = f" als {values['position']}" if values.get("position") else ""
            plan.messages.insert(0, (None, f"Person wird angelegt{f' – {where}{role}' if where else ''}"))
            plan.new_tags = values.get("tags", [])
            plan.consent = values.get("newsletter")
            self._warn_duplicates(plan, candidates)
            return plan
        plan.person_changes = self._person_changes(person, values)
        for name, new in plan.person_changes.items():
            plan.messages.append((name, f"{FIELDS[name][0]}: {getattr(person, name) or '–'} → {new}"))
        have = {fold(t.name) for t in person.tags}
        plan.new_tags = [t for t in dict.fromkeys(values.get("tags", [])) if fold(t) not in have]
        if plan.new_tags:
            plan.messages.append(("tags", f"Themen: + {', '.join(plan.new_tags)}"))
        if organization is not None:
            plan.affiliation = next((a for a in person.affiliations if a.organization_id == organization.id and a.is_current), None)
            if plan.affiliation is None:
                plan.messages.append(("organization", f"neue Funktion bei {organization.name}"))
            elif changes := self._affiliation_changes(plan.affiliation, values):
                plan.affiliation_changes = changes
                plan.messages.append(("position", f"Funktion: {plan.affiliation.position or '–'} → {changes.get('position', plan.affiliation.position)}"))
        elif org_key:
            plan.messages.append(("organization", f"neue Funktion bei {values.get('organization')}"))
        if "newsletter" in values and person.newsletter_consent is not values["newsletter"]:
            plan.consent = values["newsletter"]
            plan.messages.append(("newsletter", "Newsletter-Einwilligung: " + ("erteilt" if plan.consent else "widerrufen")))
        if plan.messages:
            plan.action = "update"
        return plan

    def _warn_duplicates(self, plan: Plan, candidates: dict[str, list[Candidate]]) -> None:
        org_ids = {plan.organization.id} if plan.organization else set()
        city = plan.organization.city if plan.organization else plan.values.get("city")
        warnings = 0
        for candidate in candidates.get(cologne_phonetic(plan.values["last_name"]), []):
            reasons = evidence(plan.values.get("first_name"), plan.values["last_name"], org_ids, {fold(city)} if city else set(), candidate)
            if reasons:
                plan.messages.append((None, f"Achtung, mögliches Duplikat von {candidate.name} (Nr. {candidate.person_id}): {'; '.join(reasons)}"))
                warnings += 1
                if warnings == 3:
                    break

    def _person_changes(self, person: Person, values: dict) -> dict:
        overwrite = self.job.update_mode == "overwrite"
        changes = {}
        for name in PERSON_FIELDS:
            new, old = values.get(name), getattr(person, name)
            if new is None or (name == "email" and person.email) or old == new:
                continue
            if old in (None, "") or overwrite:
                changes[name] = new
        return changes

    def _affiliation_changes(self, affiliation: Affiliation, values: dict) -> dict:
        overwrite = self.job.update_mode == "overwrite"
        return {
            name: values[name] for name in ("position", "department")
            if values.get(name) and getattr(affiliation, name) != values[name] and (overwrite or not getattr(affiliation, name))
        }  # fmt: skip

    def _organization_changes(self, organization: Organization, values: dict) -> dict:
        changes = {n: values[n] for n in ORGANIZATION_FIELDS if values.get(n) and not getattr(organization, n)}
        if values.get("ags") and not organization.ags and organization.kind == "municipality":
            changes["ags"] = values["ags"]
        return changes

    # --- batches ------------------------------------------------------------------------------

    def plan_batch(self, batch: list[tuple[int, list[str]]]) -> list[Plan]:
        cleaned: list[tuple[int, dict]] = []
        plans: dict[int, Plan] = {}
        for row, values in batch:
            try:
                cleaned.append((row, check_row(self.extract(values))))
            except RowError as error:
                plans[row] = Plan(row, {}).fail(error.field, error.message)
        emails = [v["email"] for _, v in cleaned if v.get("email")]
        known = {
            p.email: p
            for p in db.session.scalars(
                sa.select(Person).options(selectinload(Person.affiliations), selectinload(Person.tags)).where(Person.email.in_(emails))
            )
        } if emails else {}  # fmt: skip
        org_ids = {
            oid for _, v in cleaned
            for oid in [self.org_by_ags.get(v.get("ags")) or self.org_by_name.get(fold(v.get("organization")))] if oid
        }  # fmt: skip
        # Loading the batch's organizations once keeps them in the session for every row.
        self.batch_organizations = {o.id: o for o in db.session.scalars(sa.select(Organization).where(Organization.id.in_(org_ids)))}
        by_org, by_city, same_name = set(), set(), set()
        for _, v in cleaned:
            if not v.get("last_name"):
                continue
            org_id = self.org_by_ags.get(v.get("ags")) or self.org_by_name.get(fold(v.get("organization")))
            if org_id:
                same_name.add((org_id, name_key(v.get("first_name"), v["last_name"])))
            key = cologne_phonetic(v["last_name"])
            if org_id:
                by_org.add((key, org_id))
            city = self.batch_organizations[org_id].city if org_id in self.batch_organizations else v.get("city")
            if city:
                by_city.add((key, city))
        candidates = candidates_for(by_org, by_city)
        colleagues = self._colleagues(same_name)
        for row, values in cleaned:
            try:
                plans[row] = self.plan(row, values, known, colleagues, candidates)
            except RowError as error:
                plans[row] = Plan(row, values).fail(error.field, error.message)
        return [plans[row] for row, _ in batch]

    def _colleagues(self, pairs: set[tuple[int, str]]) -> dict[tuple, list[tuple[int, str | None]]]:
        """People with the same name in the same organization as rows of the batch, in one query:
        (organization id, name key) -> [(person id, email)]."""
        if not pairs:
            return {}
        rows = db.session.execute(
            sa.select(Person.id, Person.email, Person.name_key, Affiliation.organization_id)
            .join(Affiliation)
            .where(Person.name_key.in_({k for _, k in pairs}), Affiliation.organization_id.in_({o for o, _ in pairs}))
            .where(Affiliation.is_current)
        )  # fmt: skip
        found: dict[tuple, list[tuple[int, str | None]]] = {}
        for person_id, email, key, org_id in rows:
            if (org_id, key) in pairs:
                found.setdefault((org_id, key), []).append((person_id, email))
        return found

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
        batch: list[tuple[int, list[str]]] = []
        for values in rows:
            row += 1
            if any(values):
                batch.append((row, values))
            if len(batch) == BATCH_SIZE:
                self._finish_batch(batch)
                batch = []
        self._finish_batch(batch)

    def _finish_batch(self, batch) -> None:
        if not batch:
            return
        plans = self.plan_batch(batch)
        if not self.dry_run:
            write_batch(self, plans)
        counts = dict(self.job.counts)
        results = []
        for plan in plans:
            counts[plan.action] += 1
            for name, message in plan.messages or [(None, "")]:
                if plan.action != "unchanged" or message:
                    results.append({"job_id": self.job.id, "row": plan.row, "action": plan.action,
                                    "column": self.header(name), "message": message, "label": plan.label})  # fmt: skip
        if results:
            db.session.execute(sa.insert(ImportRowResult.__table__), results)
        self.job.counts = counts
        self.job.processed_rows += len(plans)
        db.session.commit()
        # Keep the session small: records of earlier batches are not needed again.
        job_id = self.job.id
        db.session.expunge_all()
        self.job = db.session.get(ImportJob, job_id)
        if self.actor_id is not None:
            from crm.auth.models import User

            self.actor = db.session.get(User, self.actor_id)

