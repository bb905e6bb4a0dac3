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
    "invitation": "Einladung zum Zugang versandt",
    "email_change_requested": "neue E-Mail-Adresse angefragt",
    "erase": "Daten gelöscht (Art. 17 DSGVO)",
}

ENTITY_LABELS = {
    "people": "Person",
    "organizations": "Organisation",
    "affiliations": "Funktion",
    "memberships": "Mitgliedschaft",
    "invitations": "",  # the entry's label already reads "Einladung <Name> – <Veranstaltung>"
    "users": "Zugang",
    "segments": "Segment",
    "person_merges": "",
    "change_requests": "Antrag",
    "events": "Veranstaltung",
    "event_sessions": "Programmpunkt",
    "session_speakers": "Mitwirkung",
    "statements": "",  # the entry's label already reads "Aussage – <Programmpunkt>"
    "newsletters": "Newsletter",
    "newsletter_blocks": "Newsletter-Block",
    "suppressions": "",  # the entry's label already reads "Sperre für <Adresse>"
}

FIELD_LABELS = {
    "salutation": "Anrede", "title": "Titel", "first_name": "Vorname", "last_name": "Nachname",
    "email": "E-Mail", "phone": "Telefon", "mobile": "Mobil", "fax": "Fax", "language": "Sprache",
    "notes": "Notizen", "tags": "Themen", "name": "Name", "short_name": "Kurzname", "kind": "Art",
    "parent_id": "übergeordnet", "ags": "AGS", "kreisschluessel": "Kreisschlüssel", "state": "Bundesland",
    "population": "Einwohner", "street": "Straße", "postal_code": "PLZ", "city": "Ort", "website": "Website",
    "position": "Funktion", "department": "Abteilung", "is_primary": "Hauptfunktion", "start_date": "Beginn",
    "end_date": "Ende", "role": "Rolle", "active": "aktiv", "status": "Status", "type": "Art", "entity": "Art des Eintrags",
    "number": "Nummer", "password": "Passwort", "mail": "E-Mail", "description": "Beschreibung",
    "filters": "Filter", "merged": "Zusammenführung", "organization_id": "Organisation", "person_id": "Person",
    "moved": "übernommen", "held_by_both": "bei beiden vorhanden",
    "data": "Angaben", "message": "Nachricht", "decision_note": "Antwort der Geschäftsstelle",
    "newsletter_consent": "Newsletter erwünscht", "invitation_consent": "Einladungen erwünscht",
    "created_at": "angelegt am", "updated_at": "geändert am", "erased_at": "gelöscht am", "organization": "Organisation",
    "channel": "Kanal", "granted": "erteilt", "method": "Weg", "source": "Quelle", "wording": "Wortlaut",
    "wording_version": "Fassung", "requested_at": "angefragt am", "request_ip": "IP-Adresse (Anfrage)",
    "user_agent": "Browser", "confirmed_at": "bestätigt am", "confirmed_ip": "IP-Adresse (Bestätigung)",
    "effective_at": "wirksam ab", "invited_at": "eingeladen am", "last_login_at": "letzte Anmeldung",
    "password_changed_at": "Passwort geändert am", "ip": "IP-Adresse", "succeeded": "erfolgreich", "purpose": "Zweck",
    "used_at": "verwendet am", "decided_at": "entschieden am", "merged_record": "zusammengeführter Datensatz",
    "given_way": "bei der Zusammenführung zurückgestellte Einträge (für das Rückgängigmachen aufbewahrt)",
    "undone_at": "rückgängig gemacht am", "action": "Vorgang", "record": "Datensatz", "by": "durch",
    "changes": "Änderungen", "full_name": "Name",
    "consent.newsletter": "Einwilligung Newsletter", "consent.event_invitation": "Einwilligung Einladungen",
    "subtitle": "Untertitel", "starts_at": "Beginn", "ends_at": "Ende", "all_day": "ganztägig", "venue": "Veranstaltungsort",
    "room": "Raum", "online_url": "Online-Link", "guiding_questions": "Leitfragen", "partners": "Partner",
    "capacity": "Plätze", "rsvp_deadline": "Anmeldeschluss", "track": "Spur", "order": "Reihenfolge",
    "role_text": "Funktion im Programm", "affiliation_text": "Organisation im Programm", "event_id": "Veranstaltung",
    "session_id": "Programmpunkt", "summary": "Zusammenfassung",
    "question": "Leitfrage", "lead": "Leitsatz", "body": "Text",
    "companions": "Begleitpersonen", "companion_names": "Namen der Begleitung", "note": "Nachricht",
    "deputy_name": "Vertretung", "deputy_email": "E-Mail der Vertretung", "needs": "Verpflegung und Barrierefreiheit",
    "checked_in_at": "anwesend seit", "sent_at": "versandt am", "responded_at": "geantwortet am",
    "subject": "Betreff", "preheader": "Vorschauzeile", "sender_name": "Absendername", "reply_to": "Antwortadresse",
    "layout": "Layout", "segment_id": "Segment", "in_archive": "im Archiv", "scheduled_at": "geplant für",
    "started_at": "Versand begonnen", "finished_at": "Versand beendet", "paused_reason": "Grund", "reason": "Grund", "newsletter_id": "Newsletter",
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
