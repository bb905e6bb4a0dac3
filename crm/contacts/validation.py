"""Field checks with German messages, shared by forms, services and the import."""
import re
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

# German numbers as people write them: 030 773 07-253, +49 30 7730 7253, (0621) 12 34 56, 0171/1203537.
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()/\-.]+$")
_NON_DIGITS = re.compile(r"\D")


def clean(data: dict[str, Any]) -> dict[str, Any]:
    """Empty strings become None, strings are trimmed."""
    return {k: (v.strip() or None) if isinstance(v, str) else v for k, v in data.items()}


def normalize_email(value: str | None) -> str | None:
    """Trimmed and lower-cased, or None when empty."""
    value = (value or "").strip().lower()
    return value or None


# Plain addresses (dot-separated atoms @ hostname labels . letters) are valid without further ado;
# everything else goes to email_validator, which knows the rules (and takes ~100 µs per address:
# too slow to ask for each of 100,000 imported rows).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN_EMAIL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}")


def email_error(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) <= 254 and len(value.partition("@")[0]) <= 64 and _PLAIN_EMAIL.fullmatch(value):
        return None
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return "Bitte geben Sie eine gültige E-Mail-Adresse an (z. B. name@example.org)."
    return None


def phone_error(value: str | None) -> str | None:
    if not value:
        return None
    if not _PHONE_CHARS.match(value) or value.count("+") > 1:
        return "Bitte nur Ziffern, Leerzeichen und + ( ) / - verwenden, z. B. 030 7730 7253 oder +49 30 7730 7253."
    if not (value.startswith("+") or value.lstrip("(").startswith("0")):
        return "Bitte mit Vorwahl angeben: mit 0 (z. B. 030 …) oder international mit + (z. B. +49 30 …)."
    if not 6 <= len(_NON_DIGITS.sub("", value)) <= 16:
        return "Diese Telefonnummer ist zu kurz oder zu lang."
    return None


def postal_code_error(value: str | None) -> str | None:
    if value and not re.fullmatch(r"[0-9]{5}", value):
        return "Eine deutsche Postleitzahl hat genau 5 Ziffern."
    return None


def url_error(value: str | None) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or "." not in parts.netloc or " " in value:
        return "Bitte eine vollständige Adresse mit http:// oder https:// angeben, z. B. https://www.example.org."
    return None


def population_error(value) -> str | None:
    if value is not None and value < 0:
        return "Die Einwohnerzahl darf nicht negativ sein."
    return None
