"""German letter salutation and address block, derived from a person's data.

Rules of German business correspondence (DIN 5008 practice): of the academic titles only "Dr."
(abbreviated, once) and "Professor" (written out, replacing "Dr.") enter the salutation; a few
offices do too ("Sehr geehrter Herr Bürgermeister Dreier"), in the female form for women
("Sehr geehrte Frau Bürgermeisterin Muster"); without a known salutation the neutral
"Guten Tag Kim Beispiel" is used. The address block keeps the full academic title.
"""
import functools
import re

#: Offices used in salutations, male form -> female form. Longest first, so that
#: "Oberbürgermeister" is not read as "Bürgermeister".
OFFICES: dict[str, str] = dict(
    sorted(
        {
            "Bürgermeister": "Bürgermeisterin",
            "Oberbürgermeister": "Oberbürgermeisterin",
            "Erster Bürgermeister": "Erste Bürgermeisterin",
            "Regierender Bürgermeister": "Regierende Bürgermeisterin",
            "Landrat": "Landrätin",
            "Stadtdirektor": "Stadtdirektorin",
            "Kreisdirektor": "Kreisdirektorin",
            "Oberkreisdirektor": "Oberkreisdirektorin",
            "Minister": "Ministerin",
            "Bundesminister": "Bundesministerin",
            "Staatsminister": "Staatsministerin",
            "Ministerpräsident": "Ministerpräsidentin",
            "Staatssekretär": "Staatssekretärin",
            "Senator": "Senatorin",
            "Präsident": "Präsidentin",
            "Regierungspräsident": "Regierungspräsidentin",
        }.items(),
        key=lambda item: -len(item[0]),
    )
)


def _is_female(salutation) -> bool:
    return salutation == "frau"


def _is_gendered(salutation) -> bool:
    return salutation in ("frau", "herr")


def _starts_with_word(text: str, word: str) -> bool:
    word = word.casefold()
    # "Bürgermeister-Stellvertreter" is not the Bürgermeister: a hyphen continues the word.
    return text == word or (text.startswith(word) and not (text[len(word)].isalnum() or text[len(word)] == "-"))


@functools.lru_cache(maxsize=4096)  # a newsletter asks for every recipient; the offices repeat
def office_title(position: str | None, salutation) -> str | None:
    """The office to name in the salutation, in the person's form, or None ("Leiterin des OB-Büros")."""
    if not position or not _is_gendered(salutation):
        return None
    text = " ".join(position.split()).casefold()
    for male, female in OFFICES.items():
        if _starts_with_word(text, male) or _starts_with_word(text, female):
            return female if _is_female(salutation) else male
    return None


def academic_salutation(title: str | None, salutation) -> str | None:
    """ "Professor"/"Professorin" for any professorship, "Dr." for any doctorate, else None."""
    if not title:
        return None
    if re.search(r"\bprof", title, flags=re.IGNORECASE):
        return "Professorin" if _is_female(salutation) else "Professor"
    if re.search(r"\bdr\b", title, flags=re.IGNORECASE):
        return "Dr."
    return None


def full_name(title, first_name, last_name) -> str:
    """ "Dr. Anna Beispiel": title, first and last name, as far as they are known."""
    return " ".join(p for p in (title, first_name, last_name) if p)


def letter_salutation(salutation, title, first_name, last_name, position=None) -> str:
    """The opening line of a letter or mail, without the trailing comma."""
    if _is_gendered(salutation) and last_name:
        parts = [
            "Sehr geehrte Frau" if _is_female(salutation) else "Sehr geehrter Herr",
            office_title(position, salutation),
            academic_salutation(title, salutation),
            last_name,
        ]
        return " ".join(p for p in parts if p)
    name = " ".join(p for p in (first_name, last_name) if p)
    return f"Guten Tag {name}" if name else "Guten Tag"


def address_lines(salutation, title, first_name, last_name, position=None) -> list[str]:
    """The person lines of a postal address: ["Herrn Bürgermeister", "Michael Dreier"]."""
    name = full_name(title, first_name, last_name)
    if not _is_gendered(salutation):
        return [name]
    first = "Frau" if _is_female(salutation) else "Herrn"
    office = office_title(position, salutation)
    return [f"{first} {office}" if office else first, name]
