"""German municipal keys: Bundesland codes, AGS (8 digits) and Kreisschlüssel (5 digits)."""
import re

#: Bundesland code (first two digits of every municipal key) -> name.
BUNDESLAENDER: dict[str, str] = {
    "01": "Schleswig-Holstein",
    "02": "Hamburg",
    "03": "Niedersachsen",
    "04": "Bremen",
    "05": "Nordrhein-Westfalen",
    "06": "Hessen",
    "07": "Rheinland-Pfalz",
    "08": "Baden-Württemberg",
    "09": "Bayern",
    "10": "Saarland",
    "11": "Berlin",
    "12": "Brandenburg",
    "13": "Mecklenburg-Vorpommern",
    "14": "Sachsen",
    "15": "Sachsen-Anhalt",
    "16": "Thüringen",
}

AGS_LENGTH = 8
KREISSCHLUESSEL_LENGTH = 5


def key_error(key: str | None, *, length: int, state: str | None, label: str, dative: str) -> str | None:
    """A German message if `key` is not `length` digits starting with the Bundesland code, else None."""
    if not key:
        return None
    if not re.fullmatch(rf"[0-9]{{{length}}}", key):
        return f"{label} muss aus genau {length} Ziffern bestehen."
    if key[:2] not in BUNDESLAENDER:
        return f"{label} beginnt mit {key[:2]}, das ist kein Bundesland-Schlüssel (01–16)."
    if not state:
        return f"Bitte wählen Sie das Bundesland {dative}."
    if key[:2] != state:
        return (
            f"{label} {key} gehört zu {BUNDESLAENDER[key[:2]]} ({key[:2]}), "
            f"nicht zu {BUNDESLAENDER.get(state, state)} ({state})."
        )
    return None


def ags_error(ags: str | None, state: str | None) -> str | None:
    return key_error(
        ags,
        length=AGS_LENGTH,
        state=state,
        label="Der Amtliche Gemeindeschlüssel (AGS)",
        dative="zum Amtlichen Gemeindeschlüssel (AGS)",
    )


def kreisschluessel_error(key: str | None, state: str | None) -> str | None:
    return key_error(
        key, length=KREISSCHLUESSEL_LENGTH, state=state, label="Der Kreisschlüssel", dative="zum Kreisschlüssel"
    )


def digits_only_sql(column: str) -> str:
    """SQL true when `column` holds only digits, portable to SQLite and PostgreSQL (no regex there)."""
    expr = column
    for digit in "0123456789":
        expr = f"replace({expr}, '{digit}', '')"
    return f"{expr} = ''"
