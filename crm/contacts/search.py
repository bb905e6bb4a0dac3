"""Search keys that make German names match however they are typed.

"Müller", "Mueller" and "muller" all fold to "muller", "Groß" and "gross" to "gross", "José" to
"jose". Both the stored key and the query are folded the same way, so a plain LIKE finds them.
"""
import functools
import re
import unicodedata

_DIGRAPHS = (("ae", "a"), ("oe", "o"), ("ue", "u"))
_SPACES = re.compile(r"\s+")


@functools.lru_cache(maxsize=65536)  # names repeat a lot in imports and duplicate checks
def fold(text: str | None) -> str:
    """Lower case, umlauts and their ae/oe/ue spellings to the base vowel, ß to ss, no accents."""
    if not text:
        return ""
    text = text.casefold()  # ß -> ss
    if not text.isascii():  # plain ASCII (most names and addresses) has no accents to drop
        text = unicodedata.normalize("NFKD", text)
        for ch in set(text):  # the few distinct accents, not every character one by one
            if unicodedata.combining(ch):
                text = text.replace(ch, "")
    for digraph, vowel in _DIGRAPHS:
        text = text.replace(digraph, vowel)
    return _SPACES.sub(" ", text).strip()


def name_key(first_name: str | None, last_name: str | None) -> str:
    """ "jurgen muller" for Jürgen Müller: equal for the same name however it is spelled."""
    return f"{fold(first_name)} {fold(last_name)}"[:200]


def like_escape(term: str) -> str:
    """A search term with LIKE's wildcards taken literally (use with escape="\\")."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_key(*parts: str | None) -> str:
    """One folded string of all parts, for a LIKE '%term%' search."""
    # Past fold's cache: these strings (with an email address, say) rarely come twice, and
    # caching them would push out the names, which do.
    return fold.__wrapped__(" ".join(p for p in parts if p))


def person_search_key(first_name: str | None, last_name: str | None, email: str | None) -> str:
    """search_key(first_name, last_name, email), for many people at once: each part folded on its own
    (the same result: nothing fold does reaches across the space between parts), the names, which
    repeat, from fold's cache."""
    return " ".join([key for key in (fold(first_name), fold(last_name), fold.__wrapped__(email)) if key])


# Kölner Phonetik (Postel 1969): German names that sound alike get the same code,
# so "Meier", "Meyer" and "Maier" or "Schmidt" and "Schmitt" are found as possible duplicates.
_SIMPLE = {**dict.fromkeys("aeijouy", "0"), "b": "1", **dict.fromkeys("fvw", "3"), **dict.fromkeys("gkq", "4"),
           "l": "5", **dict.fromkeys("mn", "6"), "r": "7", **dict.fromkeys("sz", "8")}  # fmt: skip


def _cologne_code(word: str, i: int) -> str:
    ch = word[i]
    prev = word[i - 1] if i > 0 else ""
    nxt = word[i + 1] if i + 1 < len(word) else ""
    if ch in _SIMPLE:
        return _SIMPLE[ch]
    if ch == "h":
        return ""
    # prev/nxt are "" at the word's ends; sets keep "" from matching like a substring would.
    if ch == "p":
        return "3" if nxt == "h" else "1"
    if ch in "dt":
        return "8" if nxt in set("csz") else "2"
    if ch == "c":
        if i == 0:
            return "4" if nxt in set("ahkloqrux") else "8"
        return "8" if prev in set("sz") or nxt not in set("ahkoqux") else "4"
    if ch == "x":
        return "8" if prev in set("ckq") else "48"
    return ""


def cologne_phonetic(text: str | None) -> str:
    """The Kölner Phonetik code of a name ("" for no letters)."""
    word = "".join(ch for ch in fold(text).replace("ss", "s") if "a" <= ch <= "z")
    if not word:
        return ""
    codes = "".join(_cologne_code(word, i) for i in range(len(word)))
    collapsed = "".join(c for i, c in enumerate(codes) if i == 0 or c != codes[i - 1])
    return collapsed[:1] + collapsed[1:].replace("0", "")
