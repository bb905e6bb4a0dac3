"""The fields a column can be mapped to, and the German headers that are recognized for them."""
import re

import sqlalchemy as sa

from crm.contacts.models import ImportHeaderMemory
from crm.contacts.search import fold
from crm.extensions import db

#: field -> (German label, recognized header spellings, folded and without punctuation)
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "salutation": ("Anrede", ("anrede", "salutation", "geschlecht")),
    "title": ("Titel", ("titel", "akademischer titel", "title", "grad")),
    "first_name": ("Vorname", ("vorname", "first name", "firstname", "rufname")),
    "last_name": ("Nachname", ("nachname", "name", "familienname", "last name", "lastname", "zuname")),
    "email": ("E-Mail", ("email", "e mail", "mail", "emailadresse", "e mail adresse", "email adresse")),
    "phone": ("Telefon", ("telefon", "tel", "telefonnummer", "phone", "festnetz")),
    "mobile": ("Mobil", ("mobil", "handy", "mobilnummer", "mobiltelefon", "mobile")),
    "fax": ("Fax", ("fax", "telefax")),
    "notes": ("Notizen", ("notizen", "notiz", "bemerkung", "bemerkungen", "anmerkung", "kommentar")),
    "tags": ("Themen", ("themen", "thema", "interessen", "tags", "schlagworte")),
    "organization": ("Organisation", ("organisation", "organization", "firma", "institution", "kommune", "behorde", "verband", "arbeitgeber")),
    "position": ("Funktion", ("funktion", "position", "amt", "rolle", "stellung", "amtsbezeichnung", "job title")),
    "department": ("Abteilung", ("abteilung", "fachbereich", "dezernat", "referat", "department")),
    "ags": ("AGS", ("ags", "gemeindeschlussel", "amtlicher gemeindeschlussel", "gemeindekennziffer")),
    "state": ("Bundesland", ("bundesland", "land", "state")),
    "street": ("Straße (Organisation)", ("strasse", "str", "anschrift", "adresse", "strasse und hausnummer")),
    "postal_code": ("PLZ (Organisation)", ("plz", "postleitzahl")),
    "city": ("Ort (Organisation)", ("ort", "stadt", "city", "wohnort", "sitz")),
    "newsletter": ("Newsletter-Einwilligung (ja/nein)", ("newsletter", "newsletter einwilligung", "einwilligung newsletter")),
}


def normalize_header(header: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", fold(header)).split())


def detect_mapping(headers: list[str]) -> dict[str, str]:
    """Proposed column index -> field, from remembered mappings first, then the German synonyms."""
    remembered = dict(db.session.execute(sa.select(ImportHeaderMemory.header, ImportHeaderMemory.field)).all())
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for index, header in enumerate(headers):
        key = normalize_header(header)
        field = remembered.get(key) or next((f for f, (_, names) in FIELDS.items() if key in names), None)
        if field in FIELDS and field not in used:
            mapping[str(index)] = field
            used.add(field)
    return mapping


def remember_mapping(headers: list[str], mapping: dict[str, str]) -> None:
    """Keep header -> field for the next import (the latest choice wins)."""
    for index, field in mapping.items():
        key = normalize_header(headers[int(index)])[:200]
        if not key:
            continue
        memory = db.session.get(ImportHeaderMemory, key)
        if memory is None:
            db.session.add(ImportHeaderMemory(header=key, field=field))
        else:
            memory.field = field
