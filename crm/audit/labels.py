"""German names for what the audit log records, so the history reads like German, not like a schema."""
from typing import Any

ACTION_LABELS = {
    "create": "angelegt",
    "update": "geändert",
    "delete": "gelöscht",
    "consent": "Einwilligung erfasst",
    "password_link": "Passwort-Link versandt",
    "password_set": "Passwort gesetzt",
    "merge": "zusammengeführt",
    "merge_undone": "Zusammenführung rückgängig gemacht",
}

ENTITY_LABELS = {
    "people": "Person",
    "organizations": "Organisation",
    "affiliations": "Funktion",
    "memberships": "Mitgliedschaft",
    "users": "Zugang",
    "segments": "Segment",
    "person_merges": "",
}

FIELD_LABELS = {
    "salutation": "Anrede", "title": "Titel", "first_name": "Vorname", "last_name": "Nachname",
    "email": "E-Mail", "phone": "Telefon", "mobile": "Mobil", "fax": "Fax", "language": "Sprache",
    "notes": "Notizen", "tags": "Themen", "name": "Name", "short_name": "Kurzname", "kind": "Art",
    "parent_id": "übergeordnet", "ags": "AGS", "kreisschluessel": "Kreisschlüssel", "state": "Bundesland",
    "population": "Einwohner", "street": "Straße", "postal_code": "PLZ", "city": "Ort", "website": "Website",
    "position": "Funktion", "department": "Abteilung", "is_primary": "Hauptfunktion", "start_date": "Beginn",
    "end_date": "Ende", "role": "Rolle", "active": "aktiv", "status": "Status", "type": "Art",
    "number": "Nummer", "password": "Passwort", "mail": "E-Mail", "description": "Beschreibung",
    "filters": "Filter", "merged": "Zusammenführung", "organization_id": "Organisation", "person_id": "Person",
    "consent.newsletter": "Einwilligung Newsletter", "consent.event_invitation": "Einwilligung Einladungen",
}  # fmt: skip


def field_label(field: str) -> str:
    return FIELD_LABELS.get(field, field)


def audit_value(value: Any) -> str:
    """A stored old/new value as people read it."""
    if value is None or value == "" or value == []:
        return "–"
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
