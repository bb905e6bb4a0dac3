"""Search keys that make German names match however they are typed.

"Müller", "Mueller" and "muller" all fold to "muller", "Groß" and "gross" to "gross", "José" to
"jose". Both the stored key and the query are folded the same way, so a plain LIKE finds them.
"""
import re
import unicodedata

_DIGRAPHS = (("ae", "a"), ("oe", "o"), ("ue", "u"))


def fold(text: str | None) -> str:
    """Lower case, umlauts and their ae/oe/ue spellings to the base vowel, ß to ss, no accents."""
    if not text:
        return ""
    text = text.casefold()  # ß -> ss
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    for digraph, vowel in _DIGRAPHS:
        text = text.replace(digraph, vowel)
    return re.sub(r"\s+", " ", text).strip()


def search_key(*parts: str | None) -> str:
    """One folded string of all parts, for a LIKE '%term%' search."""
    return fold(" ".join(p for p in parts if p))
