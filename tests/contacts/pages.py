"""Reading the contacts pages as a person (or a browser) does: counts, rows, field errors, forms."""
import html
import re
from html.parser import HTMLParser

from tests.html import page_text


def shown_count(markup: str) -> int:
    """The number in the first `<strong data-count>` ("1.234" is German for 1234)."""
    match = re.search(r"<(?:strong|td)[^>]*\bdata-count\b[^>]*>([^<]*)<", markup)
    assert match, "no count on the page"
    return int(match.group(1).replace(".", ""))


def listed_people(markup: str) -> list[str]:
    """The names in the people table, in the order shown ("Müller, Jürgen")."""
    match = re.search(r'<table class="people">.*?<tbody>(.*?)</tbody>', markup, flags=re.S)
    if not match:
        return []
    return [page_text(name) for name in re.findall(r'<a href="/personen/\d+">(.*?)</a>', match.group(1), flags=re.S)]


def search_people(client, q: str, **args) -> tuple[int, list[str]]:
    """What the people list shows for the search `q`: the count and the names on the page."""
    response = client.get("/personen/", query_string={"q": q, **args})
    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    return shown_count(markup), listed_people(markup)


def field_error(markup: str, field_id: str) -> str | None:
    """The German message shown right below the field `field_id`, or None."""
    match = re.search(rf'<p class="error-text" id="{re.escape(field_id)}-error">(.*?)</p>', markup, flags=re.S)
    return page_text(match.group(1)) if match else None


def field_errors(markup: str) -> dict[str, str]:
    """Every field message on the page: {field id: message}."""
    return {
        field: page_text(message)
        for field, message in re.findall(r'<p class="error-text" id="([\w-]+)-error">(.*?)</p>', markup, flags=re.S)
    }


def flashes(markup: str) -> list[str]:
    return [page_text(m) for m in re.findall(r'<div class="flash [^"]*"[^>]*>(.*?)</div>', markup, flags=re.S)]


def _strip_first_newline(text: str) -> str:
    """A browser drops the newline right after <textarea>."""
    return text.removeprefix("\r\n") if text.startswith("\r\n") else text.removeprefix("\n")


class _Forms(HTMLParser):
    """Collects each form's action and the values a browser would submit."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._select: str | None = None
        self._select_first: str | None = None
        self._select_chosen = False
        self._textarea: str | None = None
        self._text: list[str] = []

    @property
    def _fields(self) -> list:
        return self.forms[-1]["fields"]

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"), "fields": []})
        elif not self.forms:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._fields.append((a["name"], a.get("value", "on")))
            elif kind not in ("submit", "button", "file"):
                self._fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select, self._select_first, self._select_chosen = a.get("name"), None, False
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in a and not self._select_chosen:
                self._fields.append((self._select, value))
                self._select_chosen = True
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), []

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            if not self._select_chosen and self._select_first is not None:
                self._fields.append((self._select, self._select_first))
            self._select = None
        elif tag == "textarea" and self._textarea:
            self._fields.append((self._textarea, _strip_first_newline("".join(self._text))))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)


def form_values(markup: str, index: int = -1) -> dict[str, str | list[str]]:
    """What a browser would send for the page's form number `index` (default: the last form).

    Fields that occur more than once (checkboxes) become lists.
    """
    parser = _Forms()
    parser.feed(markup)
    values: dict[str, str | list[str]] = {}
    for name, value in parser.forms[index]["fields"]:
        if name in values:
            previous = values[name]
            values[name] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            values[name] = value
    return values


def form_by_action(markup: str, action: str) -> dict[str, str | list[str]]:
    """The values of the form that posts to `action`."""
    parser = _Forms()
    parser.feed(markup)
    for number, form in enumerate(parser.forms):
        if form["action"] == action:
            return form_values(markup, number)
    raise AssertionError(f"no form posting to {action}")


def main_form(markup: str) -> dict[str, str | list[str]]:
    """The values of the page's edit form (the `<form method="post" novalidate class="card">`)."""
    parser = _Forms()
    parser.feed(markup)
    for number, form in enumerate(parser.forms):
        if form["method"] == "post" and not form["action"]:
            return form_values(markup, number)
    raise AssertionError("no edit form on the page")


def input_value(markup: str, name: str) -> str | None:
    """The value an input or textarea named `name` shows (None if there is none)."""
    for tag in re.findall(r"<input\b[^>]*>", markup):
        if re.search(rf'\bname="{re.escape(name)}"', tag):
            value = re.search(r'\bvalue="([^"]*)"', tag)
            return html.unescape(value.group(1)) if value else ""
    match = re.search(rf'<textarea[^>]*\bname="{re.escape(name)}"[^>]*>(.*?)</textarea>', markup, flags=re.S)
    return _strip_first_newline(html.unescape(match.group(1))) if match else None


def selected_option(markup: str, name: str) -> str | None:
    match = re.search(rf'<select[^>]*\bname="{re.escape(name)}"[^>]*>(.*?)</select>', markup, flags=re.S)
    if not match:
        return None
    for option in re.findall(r"<option\b[^>]*>", match.group(1)):
        if re.search(r"\sselected\b", option):
            return html.unescape(re.search(r'\bvalue="([^"]*)"', option).group(1))
    return None
