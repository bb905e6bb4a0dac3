"""Checking one import row: field syntax, lengths, Anrede, Bundesland, AGS, yes/no answers."""
from sqlalchemy.exc import DBAPIError

from crm.contacts.models import Affiliation, Organization, Person, Salutation
from crm.contacts.municipal import BUNDESLAENDER, ags_error
from crm.contacts.search import fold
from crm.contacts.validation import email_error, normalize_email, phone_error, postal_code_error
from crm.errors import ValidationFailed

#: Fields an import row may set on a person, and on its organization (when empty there).
PERSON_FIELDS = ("salutation", "title", "first_name", "last_name", "email", "phone", "mobile", "fax", "notes")
ORGANIZATION_FIELDS = ("street", "postal_code", "city", "state")

SALUTATIONS = {"frau": Salutation.frau, "herr": Salutation.herr, "divers": Salutation.divers, "": None}
SALUTATION_SPELLINGS = {"hr": "herr", "fr": "frau", "herrn": "herr", "d": "divers"}
YES, NO = {"ja", "j", "yes", "y", "x", "1", "true", "wahr"}, {"nein", "n", "no", "0", "false", "falsch"}
STATE_BY_NAME = {fold(name): code for code, name in BUNDESLAENDER.items()}
#: Where each field ends up, for its length limit.
COLUMNS = {
    **{name: Person.__table__.c[name] for name in ("title", "first_name", "last_name", "email", "phone", "mobile", "fax")},
    "position": Affiliation.__table__.c.position,
    "department": Affiliation.__table__.c.department,
    "organization": Organization.__table__.c.name,
    "street": Organization.__table__.c.street,
    "city": Organization.__table__.c.city,
}
LIMITS = {name: column.type.length for name, column in COLUMNS.items()}


class RowError(Exception):
    """A row that cannot be imported; `field` names the column the German message is about."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


#: What makes writing one row fail without failing the import.
ROW_ERRORS = (RowError, ValidationFailed, DBAPIError)


def _state_code(value: str) -> str:
    value = value.strip()
    if value.isdigit() and value.zfill(2) in BUNDESLAENDER:
        return value.zfill(2)
    if fold(value) not in STATE_BY_NAME:
        raise RowError("state", f"Unbekanntes Bundesland „{value}“.")
    return STATE_BY_NAME[fold(value)]


def check_row(data: dict[str, str]) -> dict:
    """The row's cleaned values, or RowError for the first problem found."""
    values = {k: v for k, v in data.items() if v}
    for name, limit in LIMITS.items():
        if len(values.get(name, "")) > limit:
            raise RowError(name, f"Zu lang: höchstens {limit} Zeichen.")
    if "salutation" in values:
        key = fold(values["salutation"]).rstrip(".")
        key = SALUTATION_SPELLINGS.get(key, key)
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
        tags = [t.strip() for t in values["tags"].replace(";", ",").split(",") if t.strip()]
        values["tags"] = list({fold(t): t for t in reversed(tags)}.values())[::-1]  # once each, first spelling
    wants_person = any(values.get(n) for n in ("first_name", "last_name", "email"))
    if wants_person and not values.get("last_name"):
        raise RowError("last_name", "Der Nachname fehlt.")
    if not wants_person and not (values.get("organization") or values.get("ags")):
        raise RowError(None, "Die Zeile enthält weder eine Person noch eine Organisation.")
    return values
