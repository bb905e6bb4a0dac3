"""Processing import rows: the dry run and the import run the same code; only the writes differ.

Each row is matched (person by email, else by name + organization; organization by AGS, else by
name), checked, and either written inside its own SAVEPOINT (so a failing row never half-writes)
or, in the dry run, only described. Rows are streamed from the file and committed in batches, so
memory stays flat for 100,000 rows.
"""
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from crm.contacts.duplicates import find_matches
from crm.contacts.imports.fields import FIELDS
from crm.contacts.imports.reader import iter_rows
from crm.contacts.models import (
    Affiliation, ConsentChannel, ConsentMethod, ImportJob, ImportRowResult, Organization, OrganizationKind, Person,
    Salutation,
)  # fmt: skip
from crm.contacts.municipal import BUNDESLAENDER, ags_error
from crm.contacts.search import fold
from crm.contacts.services import (
    add_affiliation, create_organization, create_person, record_consent, set_tags, update_affiliation,
    update_organization, update_person,
)  # fmt: skip
from crm.contacts.validation import email_error, normalize_email, phone_error, postal_code_error
from crm.errors import ValidationFailed
from crm.extensions import db

BATCH_SIZE = 500
PERSON_FIELDS = ("salutation", "title", "first_name", "last_name", "email", "phone", "mobile", "fax", "notes")
ORGANIZATION_FIELDS = ("street", "postal_code", "city", "state")
SALUTATIONS = {"frau": Salutation.frau, "herr": Salutation.herr, "divers": Salutation.divers, "": None}
YES, NO = {"ja", "j", "yes", "y", "x", "1", "true", "wahr"}, {"nein", "n", "no", "0", "false", "falsch"}
STATE_BY_NAME = {fold(name): code for code, name in BUNDESLAENDER.items()}


class RowError(Exception):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


@dataclass
class RowResult:
    action: str  # create | update | unchanged | error
    messages: list[tuple[str | None, str]] = field(default_factory=list)  # (field, text)
    label: str | None = None


def _state_code(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit() and value.zfill(2) in BUNDESLAENDER:
        return value.zfill(2)
    return STATE_BY_NAME.get(fold(value), "?")


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
        # What earlier rows of this file created (or, in the dry run, would create): key -> row number.
        self.planned_orgs: dict[str, int] = {}
        self.planned_people: dict[str, int] = {}

    # --- reading ------------------------------------------------------------------------------

    def header(self, name: str | None) -> str | None:
        """The file's header of the column mapped to `name`, for messages."""
        if name in self.columns and self.columns[name] < len(self.job.headers):
            return self.job.headers[self.columns[name]]
        return FIELDS[name][0] if name in FIELDS else None

    def extract(self, values: list[str]) -> dict[str, str]:
        return {name: values[i].strip() if i < len(values) else "" for name, i in self.columns.items()}

    # --- checking -----------------------------------------------------------------------------

    def check(self, data: dict[str, str]) -> dict:
        """Field-level checks; returns the cleaned values or raises RowError."""
        values = {k: v for k, v in data.items() if v}
        if "salutation" in values:
            key = fold(values["salutation"]).rstrip(".")
            key = {"hr": "herr", "fr": "frau", "herrn": "herr", "d": "divers"}.get(key, key)
            if key not in SALUTATIONS:
                raise RowError("salutation", f"Unbekannte Anrede „{values['salutation']}“ (erlaubt: Frau, Herr, divers).")
            values["salutation"] = SALUTATIONS[key]
        if "email" in values:
            values["email"] = normalize_email(values["email"])
            if message := email_error(values["email"]):
                raise RowError("email", message)
        for name in ("phone", "mobile", "fax"):
            if message := phone_error(values.get(name)):
                raise RowError(name, message)
        if message := postal_code_error(values.get("postal_code")):
            raise RowError("postal_code", message)
        if "state" in values:
            values["state"] = _state_code(values["state"])
            if values["state"] == "?":
                raise RowError("state", f"Unbekanntes Bundesland „{data['state']}“.")
        if "ags" in values:
            if message := ags_error(values["ags"], values.get("state") or values["ags"][:2]):
                raise RowError("ags", message)
            values.setdefault("state", values["ags"][:2])
        if "newsletter" in values:
            answer = fold(values["newsletter"])
            if answer not in YES | NO:
                raise RowError("newsletter", f"Bitte „ja“ oder „nein“ angeben, nicht „{values['newsletter']}“.")
            values["newsletter"] = answer in YES
        if "tags" in values:
            values["tags"] = [t.strip() for t in values["tags"].replace(";", ",").split(",") if t.strip()]
        wants_person = any(values.get(n) for n in ("first_name", "last_name", "email"))
        if wants_person and not values.get("last_name"):
            raise RowError("last_name", "Der Nachname fehlt.")
        if not wants_person and not (values.get("organization") or values.get("ags")):
            raise RowError(None, "Die Zeile enthält weder eine Person noch eine Organisation.")
        return values

    # --- matching -----------------------------------------------------------------------------

    def find_organization(self, values: dict) -> tuple[Organization | None, str | None]:
        """(existing organization or None, key of the organization this row means)."""
        ags, name = values.get("ags"), values.get("organization")
        if not ags and not name:
            return None, None
        if ags:
            key = f"ags:{ags}"
            org_id = self.org_by_ags.get(ags)
            if org_id is None and not name:
                if key in self.planned_orgs:
                    return None, key
                raise RowError("ags", f"Zum AGS {ags} gibt es keine Organisation; bitte den Namen angeben.")
        else:
            key = f"name:{fold(name)}"
            org_id = self.org_by_name.get(fold(name))
        if org_id is None and name and fold(name) in self.org_by_name:
            org_id = self.org_by_name[fold(name)]
        organization = db.session.get(Organization, org_id) if org_id else None
        if organization is not None and ags and organization.ags and organization.ags != ags:
            raise RowError("ags", f"{organization.name} hat den AGS {organization.ags}, nicht {ags}.")
        return organization, (f"id:{organization.id}" if organization else key)

    def find_person(self, values: dict, organization: Organization | None, org_key: str | None) -> tuple[Person | None, str]:
        email = values.get("email")
        name_key = f"name:{fold(values.get('first_name'))} {fold(values['last_name'])}|{org_key}"
        if email:
            person = db.session.scalar(sa.select(Person).where(Person.email == email))
            if person is not None:
                return person, f"email:{email}"
        if organization is not None:
            candidates = db.session.scalars(
                sa.select(Person).join(Affiliation).where(
                    Affiliation.organization_id == organization.id, Person.last_name == values["last_name"]
                )
            ).all()  # fmt: skip
            for person in candidates:
                if fold(person.first_name) == fold(values.get("first_name")) and (not email or not person.email):
                    return person, name_key
        return None, (f"email:{email}" if email else name_key)

    # --- one row ------------------------------------------------------------------------------

    def process(self, row_number: int, values: list[str]) -> RowResult | None:
        data = self.extract(values)
        if not any(data.values()):
            return None  # empty line
        try:
            cleaned = self.check(data)
            if self.dry_run:
                return self.plan(row_number, cleaned)
            with db.session.begin_nested():
                return self.apply(row_number, cleaned)
        except RowError as error:
            return RowResult("error", [(error.field, error.message)])
        except ValidationFailed as error:
            return RowResult("error", [(error.field, error.message)])
        except IntegrityError:
            return RowResult("error", [(None, "Die Zeile widerspricht einem vorhandenen Datensatz (z. B. doppelte Adresse).")])

    def _person_changes(self, person: Person, values: dict) -> dict:
        overwrite = self.job.update_mode == "overwrite"
        changes = {}
        for name in PERSON_FIELDS:
            new = values.get(name)
            if new is None or name == "email" and person.email:
                continue
            old = getattr(person, name)
            if old in (None, "") or (overwrite and old != new):
                if old != new:
                    changes[name] = new
        return changes

    def _affiliation_changes(self, affiliation: Affiliation, values: dict) -> dict:
        overwrite = self.job.update_mode == "overwrite"
        return {
            name: values[name]
            for name in ("position", "department")
            if values.get(name) and getattr(affiliation, name) != values[name]
            and (overwrite or not getattr(affiliation, name))
        }

    def _organization_changes(self, organization: Organization, values: dict) -> dict:
        changes = {
            name: values[name] for name in ORGANIZATION_FIELDS if values.get(name) and not getattr(organization, name)
        }
        if values.get("ags") and not organization.ags and organization.kind == OrganizationKind.municipality:
            changes["ags"] = values["ags"]
        return changes

    def plan(self, row_number: int, values: dict) -> RowResult:
        """Describe what the import would do with this row, writing nothing."""
        organization, org_key = self.find_organization(values)
        result = RowResult("unchanged")
        if org_key and organization is None:
            if org_key in self.planned_orgs:
                result.messages.append(("organization", f"Organisation wie in Zeile {self.planned_orgs[org_key]}"))
            else:
                self.planned_orgs[org_key] = row_number
                if values.get("organization"):
                    self.planned_orgs.setdefault(f"name:{fold(values['organization'])}", row_number)
                result.action = "create" if not values.get("last_name") else "update"
                result.messages.append(("organization", f"Organisation „{values.get('organization')}“ wird angelegt"))
        elif organization is not None and (changes := self._organization_changes(organization, values)):
            result.action = "update"
            result.messages.append(("organization", f"{organization.name}: ergänzt {', '.join(FIELDS.get(k, (k,))[0] for k in changes)}"))
        if not values.get("last_name"):
            result.label = values.get("organization") or (organization.name if organization else None)
            return result
        person, person_key = self.find_person(values, organization, org_key)
        result.label = " ".join(p for p in (values.get("first_name"), values["last_name"]) if p)
        if person is None:
            if person_key in self.planned_people:
                result.action = "unchanged"
                result.messages.append((None, f"gleiche Person wie Zeile {self.planned_people[person_key]}"))
                return result
            self.planned_people[person_key] = row_number
            result.action = "create"
            where = organization.name if organization else values.get("organization")
            role = f" als {values['position']}" if values.get("position") else ""
            result.messages.insert(0, (None, f"Person wird angelegt{f' – {where}{role}' if where else ''}"))
            for match in find_matches(
                first_name=values.get("first_name"), last_name=values["last_name"], email=None,
                organization_ids=[organization.id] if organization else [],
            ):  # fmt: skip
                result.messages.append((None, f"Achtung, mögliches Duplikat von {match.person.full_name} (Nr. {match.person.id}): {'; '.join(match.reasons)}"))
            return result
        changes = self._person_changes(person, values)
        for name, new in changes.items():
            result.messages.append((name, f"{FIELDS[name][0]}: {getattr(person, name) or '–'} → {new}"))
        new_tags = [t for t in values.get("tags", []) if fold(t) not in {fold(x.name) for x in person.tags}]
        if new_tags:
            result.messages.append(("tags", f"Themen: + {', '.join(new_tags)}"))
        if organization is not None:
            current = next((a for a in person.affiliations if a.organization_id == organization.id and a.is_current), None)
            if current is None:
                result.messages.append(("organization", f"neue Funktion bei {organization.name}"))
            elif aff_changes := self._affiliation_changes(current, values):
                result.messages.append(("position", f"Funktion: {current.position or '–'} → {aff_changes.get('position', current.position)}"))
        if "newsletter" in values and person.newsletter_consent is not values["newsletter"]:
            result.messages.append(("newsletter", "Newsletter-Einwilligung: " + ("erteilt" if values["newsletter"] else "widerrufen")))
        if result.messages:
            result.action = "update"
        return result

    def apply(self, row_number: int, values: dict) -> RowResult:
        """Write the row (inside the caller's savepoint) and describe what was done."""
        planned = self.plan(row_number, values)
        if planned.action == "unchanged":
            return planned
        organization, _ = self.find_organization(values)
        if organization is None and (values.get("organization") or values.get("ags")):
            organization = create_organization(
                {
                    "name": values.get("organization"),
                    "kind": OrganizationKind.municipality if values.get("ags") else OrganizationKind.other,
                    **{k: values.get(k) for k in ("ags", *ORGANIZATION_FIELDS)},
                },
                actor=self.actor,
            )
            db.session.flush()
            self.org_by_name[fold(organization.name)] = organization.id
            if organization.ags:
                self.org_by_ags[organization.ags] = organization.id
        elif organization is not None and (changes := self._organization_changes(organization, values)):
            update_organization(organization, changes, actor=self.actor)
        if not values.get("last_name"):
            return planned
        person, _ = self.find_person(values, organization, None)
        if person is None:
            person = create_person({k: values.get(k) for k in PERSON_FIELDS}, actor=self.actor)
        elif changes := self._person_changes(person, values):
            update_person(person, changes, actor=self.actor)
        if values.get("tags"):
            set_tags(person, [t.name for t in person.tags] + values["tags"], actor=self.actor)
        if organization is not None:
            current = next((a for a in person.affiliations if a.organization_id == organization.id and a.is_current), None)
            if current is None:
                add_affiliation(person, organization, actor=self.actor, position=values.get("position"), department=values.get("department"))
            elif aff_changes := self._affiliation_changes(current, values):
                update_affiliation(current, aff_changes, actor=self.actor)
        if "newsletter" in values and person.newsletter_consent is not values["newsletter"]:
            record_consent(
                person, actor=self.actor, channel=ConsentChannel.newsletter, granted=values["newsletter"],
                method=ConsentMethod.import_, source=self.source,
            )  # fmt: skip
        return planned

    # --- the whole file -----------------------------------------------------------------------

    def run(self) -> None:
        """Process every row, committing progress (and, for real, the data) every BATCH_SIZE rows."""
        job = self.job
        job.processed_rows = 0
        job.counts = {"create": 0, "update": 0, "unchanged": 0, "error": 0}
        db.session.execute(sa.delete(ImportRowResult).where(ImportRowResult.job_id == job.id))
        counts = dict(job.counts)
        rows = iter_rows(Path(job.stored_path), job.file_format, job.encoding, job.delimiter)
        next((r for r in rows if any(r)), None)  # the header row
        pending: list[ImportRowResult] = []
        row_number = 1
        for values in rows:
            row_number += 1
            result = self.process(row_number, values)
            if result is None:
                continue
            counts[result.action] += 1
            job.processed_rows += 1
            for name, message in result.messages or [(None, "")]:
                if result.action != "unchanged" or message:
                    pending.append(ImportRowResult(job_id=job.id, row=row_number, action=result.action,
                                                   column=self.header(name), message=message, label=result.label))  # fmt: skip
            if job.processed_rows % BATCH_SIZE == 0:
                self._commit_batch(counts, pending)
                pending = []
        self._commit_batch(counts, pending)

    def _commit_batch(self, counts: dict, pending: list[ImportRowResult]) -> None:
        job = self.job
        db.session.add_all(pending)
        job.counts = dict(counts)
        db.session.commit()
        # Keep the session small: rows of earlier batches are not needed again.
        job_id = job.id
        db.session.expunge_all()
        self.job = db.session.get(ImportJob, job_id)
        if self.actor_id is not None:
            from crm.auth.models import User

            self.actor = db.session.get(User, self.actor_id)
