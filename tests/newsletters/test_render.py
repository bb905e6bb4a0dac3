"""Rendering: one compile per newsletter, cheap personalization, a real text part, the guards."""
from html.parser import HTMLParser

import pytest

from crm.newsletters.models import BlockKind, NewsletterBlock
from crm.newsletters.render import compile_newsletter, marker, missing_parts, personalize
from crm.newsletters.sending import problems, values_for

VALUES = {"salutation": "Sehr geehrte Frau <Dr.> Beispiel", "unsubscribe": "https://crm.test/abmelden/a?b=1&c=2",
          "preferences": "https://crm.test/einstellungen/x"}  # fmt: skip


@pytest.fixture()
def newsletter(make):
    newsletter = make.newsletter(subject="Rückblick Freiburg")
    newsletter.blocks += [
        NewsletterBlock(
            kind=BlockKind.text, position=1, title="Gefährliches",
            body='<script>alert(1)</script> <img src=x onerror="alert(2)"> [klick](javascript:alert(3)) und [gut](https://example.org/gut)',
        ),
        NewsletterBlock(kind=BlockKind.text, position=2, title="Liste", body="## Zwischentitel\n\n- erstens\n- zweitens"),
        NewsletterBlock(kind=BlockKind.call_to_action, position=3, title="Mitmachen", body="Jetzt",
                        data={"label": "Beispiel einreichen", "url": "https://example.org/beispiele"}),
        NewsletterBlock(kind=BlockKind.image, position=4, data={"src": "https://example.org/bild.png", "alt": "Gruppenbild"}),
    ]  # fmt: skip
    return newsletter


def test_compiled_once_with_markers_for_the_personal_parts(newsletter):
    compiled = compile_newsletter(newsletter)
    for name in ("salutation", "unsubscribe", "preferences"):
        assert marker(name) in compiled.html and marker(name) in compiled.text
    assert "<mj-" not in compiled.html  # MJML is compiled, not sent
    assert missing_parts(compiled) == []


def test_personalize_fills_and_escapes_the_recipients_values(newsletter):
    mail = personalize(compile_newsletter(newsletter), VALUES)
    assert "Sehr geehrte Frau &lt;Dr.&gt; Beispiel," in mail.html
    assert 'href="https://crm.test/abmelden/a?b=1&amp;c=2"' in mail.html
    assert "Sehr geehrte Frau <Dr.> Beispiel," in mail.text
    assert "Newsletter abbestellen: https://crm.test/abmelden/a?b=1&c=2" in mail.text
    assert "[[crm:" not in mail.html + mail.text


class _Elements(HTMLParser):
    """Every element with its attributes, as a browser would build them."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def test_markdown_is_sanitized(newsletter):
    elements = _Elements(personalize(compile_newsletter(newsletter), VALUES).html).found
    assert not [tag for tag, _ in elements if tag == "script"]
    assert not [attrs for _, attrs in elements if any(name.startswith("on") for name in attrs)]
    links = [attrs.get("href") for tag, attrs in elements if tag == "a"]
    assert "https://example.org/gut" in links
    assert not [link for link in links if link and link.startswith("javascript:")]


def test_the_text_part_reads_like_a_letter(newsletter):
    text = personalize(compile_newsletter(newsletter), VALUES).text
    assert "Rückblick Freiburg\n==================" in text
    assert "Zwischentitel\n=============" in text
    assert "- erstens\n- zweitens" in text
    assert "gut (https://example.org/gut)" in text
    assert "Beispiel einreichen: https://example.org/beispiele" in text
    assert "[Bild: Gruppenbild]" in text
    assert "Impressum\nKommune 2.0 e. V. (Demo)\nBeispielstraße 1, 10115 Berlin" in text


def test_web_version_has_no_personal_data(newsletter, make):
    person = make.person(first_name="Erika", last_name="Zwanziger", email="erika.zwanziger@example.org")
    web = personalize(compile_newsletter(newsletter), values_for(newsletter, None), personal=False)
    assert "Guten Tag," in web.html
    assert "abbestellen" not in web.html and "abbestellen" not in web.text
    assert person.email not in web.html + web.text and "Zwanziger" not in web.html + web.text


def test_sending_is_refused_without_impressum(newsletter, app, monkeypatch):
    monkeypatch.setitem(app.config, "IMPRINT_REGISTER", "")
    found = problems(newsletter)
    assert "Im Impressum fehlt: Registereintrag (Einstellung CRM_IMPRINT_REGISTER)." in found


def test_a_layout_without_unsubscribe_link_is_refused(newsletter):
    compiled = compile_newsletter(newsletter)
    compiled.html = compiled.html.replace(f'href="{marker("unsubscribe")}"', 'href="https://example.org/"')
    assert missing_parts(compiled) == ["Das Layout enthält keinen Abmeldelink."]


def test_a_layout_without_impressum_is_refused(newsletter):
    compiled = compile_newsletter(newsletter)
    compiled.html = compiled.html.replace("Beispielstraße 1, 10115 Berlin", "")
    assert "Das Layout zeigt das Impressum nicht (Anschrift fehlt)." in missing_parts(compiled)


def test_problems_name_what_is_missing(make):
    newsletter = make.newsletter(blocks=False, segment=None)
    assert problems(newsletter)[:2] == [
        "Der Newsletter hat noch keinen Inhalt (keinen Block).", "Es ist kein Segment als Empfängerkreis gewählt.",
    ]
