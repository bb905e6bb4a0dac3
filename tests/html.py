"""Reading pages the way a person does: text without tags, whitespace collapsed."""
import html
import re


def page_text(markup: str) -> str:
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def text(response) -> str:
    """The response body with HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def field_error(response, field_id: str) -> str | None:
    """The error shown right below the field with this id, or None."""
    match = re.search(rf'<p class="error-text" id="{field_id}-error">(.*?)</p>', response.get_data(as_text=True), re.S)
    return html.unescape(match.group(1).strip()) if match else None


def input_value(response, field_id: str) -> str | None:
    """The value an input with this id shows."""
    match = re.search(rf'<input[^>]*\bid="{field_id}"[^>]*>', response.get_data(as_text=True))
    assert match, f"no input #{field_id} on the page"
    value = re.search(r'\bvalue="([^"]*)"', match.group(0))
    return html.unescape(value.group(1)) if value else None
