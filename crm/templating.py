"""Jinja filters for German dates and numbers (Babel, Europe/Berlin) and for Markdown written by the office."""
from datetime import date, datetime

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from flask import Flask

from crm.audit.labels import ACTION_LABELS, ENTITY_LABELS, audit_value, field_label
from crm.contacts.models import OrganizationKind, Salutation
from crm.events.models import EventKind, EventStatus, InvitationStatus, SessionKind
from crm.markdown import to_html
from crm.members.models import MembershipStatus, MembershipType

LOCALE = "de_DE"

#: Stored enum values in the history read as their German labels ("aktiv", not "active").
AUDIT_ENUMS = {
    ("memberships", "status"): MembershipStatus,
    ("memberships", "type"): MembershipType,
    ("organizations", "kind"): OrganizationKind,
    ("people", "salutation"): Salutation,
    ("events", "status"): EventStatus,
    ("events", "kind"): EventKind,
    ("event_sessions", "kind"): SessionKind,
    ("invitations", "status"): InvitationStatus,
}


def datetime_de(value: datetime | None, fmt: str = "EEEE, d. MMMM y, HH:mm 'Uhr'", tz: str = "Europe/Berlin") -> str:
    """ "Dienstag, 20. November 2018, 11:30 Uhr" in Berlin time."""
    if value is None:
        return ""
    return format_datetime(value, fmt, tzinfo=tz, locale=LOCALE)


def datetime_short_de(value: datetime | None) -> str:
    return datetime_de(value, "dd.MM.y, HH:mm 'Uhr'")


def date_de(value: date | None, fmt: str = "d. MMMM y") -> str:
    return format_date(value, fmt, locale=LOCALE) if value else ""


def number_de(value: int | float | None) -> str:
    return format_decimal(value, locale=LOCALE) if value is not None else ""


def markdown(value: str | None):
    """Office-written Markdown as sanitized HTML (safe to output unescaped)."""
    return to_html(value)


def audit_value_de(value, field: str | None = None, entity_type: str | None = None) -> str:
    """An audit entry's old or new value in German: enum labels, dates as 01.01.2017."""
    if (entity_type, field) == ("statements", "question") and isinstance(value, int):
        return f"Nr. {value + 1}"  # stored 0-based, numbered from 1 on the pages
    enum = AUDIT_ENUMS.get((entity_type, field))
    if enum is not None and value in enum._value2member_map_:
        return enum(value).label
    if field and field.endswith("_date") and isinstance(value, str):
        try:
            return f"{date.fromisoformat(value):%d.%m.%Y}"
        except ValueError:
            pass
    if field and (field.endswith("_at") or field == "rsvp_deadline") and isinstance(value, str):
        try:
            return datetime_short_de(datetime.fromisoformat(value))
        except ValueError:
            pass
    return audit_value(value)


def _autoescape(name: str | None) -> bool:
    # Flask escapes only .html/.xml by default; MJML mails carry user data too. Plain-text mails
    # (.txt) are not HTML and must not be escaped.
    return name is None or name.endswith((".html", ".htm", ".xml", ".mjml"))


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.autoescape = _autoescape
    app.jinja_env.filters.update(
        datetime_de=datetime_de,
        datetime_short_de=datetime_short_de,
        date_de=date_de,
        number_de=number_de,
        markdown=markdown,
        audit_field=field_label,
        audit_value=audit_value_de,
        reject_keys=lambda mapping, *keys: {k: v for k, v in mapping.items() if k not in keys},
    )
    app.jinja_env.globals.update(audit_action_labels=ACTION_LABELS, audit_entity_labels=ENTITY_LABELS)
    app.jinja_env.globals["organization_name"] = app.config["ORGANIZATION_NAME"]
    app.jinja_env.globals["open_request_count"] = _open_request_count


def _open_request_count() -> int:
    """Open member requests, for the office navigation (counted once per page)."""
    from flask import g

    from crm.portal.office import open_request_count

    if "open_request_count" not in g:
        g.open_request_count = open_request_count()
    return g.open_request_count
