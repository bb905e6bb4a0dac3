"""The fast MIME path's bytes follow the rules a strict mail server and every reader apply: CRLF line
ends, quoted-printable lines of at most 76 characters, and a body that decodes to exactly the text."""
import binascii
import email
import email.policy
import random
import re

import pytest

from crm.mail.fastmime import BodyTemplate, MessageTemplate, Personal, address_header, list_header

MARK = re.compile(r"\{(\w+)\}")


def key(match) -> str:
    return match[1]


def decoded(encoded: bytes) -> str:
    return binascii.a2b_qp(encoded.replace(b"\r\n", b"\n")).decode("utf-8")


def assert_wire_rules(data: bytes, *, qp_body: bool = True) -> None:
    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b""), "a bare LF"
    assert b"\r" not in data.replace(b"\r\n", b""), "a bare CR"
    data.decode("ascii")  # 7-bit only: no relay needs 8BITMIME
    for line in data.split(b"\r\n"):
        assert len(line) <= (76 if qp_body else 998), line
        assert not line.startswith(b"."), f"{line}: the envelope says dotless, so the transport would not double it"


@pytest.mark.parametrize(
    "source, values",
    [
        ("Hallo {name},\nzweite Zeile\n", {"name": "Jürgen Groß"}),
        ("{name}", {"name": "am Anfang und ohne Zeilenende"}),
        ("Leerzeichen am Ende {name}   \n", {"name": "Wert mit Leerzeichen   "}),
        ("=gleich {name}=", {"name": "a=b=c"}),
        ("{a}{b}{c}\n", {"a": "x" * 200, "b": "", "c": "ü" * 80}),
        ("Link: {url}\n", {"url": "https://crm.test/abmelden/" + "A1b2-_." * 30}),
        ("Fehlt: {unbekannt}.\n", {}),
        (". Punkt am Zeilenanfang\n{name}\n.\n", {"name": ".Punkt"}),
        ("." * 200 + "\n" + "x" * 75 + ".." + "ä" * 30 + "\n", {}),  # dots where the encoder breaks the line
        ("{a}.{b}\n", {"a": "y" * 75, "b": ".mj-column { width:100% }"}),
    ],
)
def test_a_body_decodes_to_the_filled_text_and_keeps_every_line_short(source, values):
    template = BodyTemplate(source, MARK, key)
    encoded = template.render(values)
    expected = MARK.sub(lambda m: values.get(m[1], ""), source)
    assert decoded(encoded) == expected if expected.endswith("\n") else expected + "\n"
    assert_wire_rules(encoded)


def test_random_lines_around_markers_never_break_the_encoding():
    """Static pieces of every length up to and beyond a line, escapes where the soft break would go."""
    rng = random.Random(7)
    alphabet = "abc =äöü\t.<>\"'&é€"
    for _ in range(400):
        parts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 170))) for _ in range(3)]
        source = f"{parts[0]}{{v}}{parts[1]}{{w}}{parts[2]}\n"
        values = {"v": "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 90))), "w": "x"}
        encoded = BodyTemplate(source, MARK, key, quote=str).render(values)
        assert decoded(encoded) == source.replace("{v}", values["v"]).replace("{w}", "x")
        assert_wire_rules(encoded)


def test_the_quote_function_escapes_values_only():
    from html import escape

    template = BodyTemplate("<p>{name}</p>\n", MARK, key, quote=lambda v: escape(v, quote=True))
    assert decoded(template.render({"name": '<script>"x"</script>'})) == "<p>&lt;script&gt;&quot;x&quot;&lt;/script&gt;</p>\n"


@pytest.mark.parametrize(
    "name",
    ["Erika Beispiel", 'Meier, "Hans" \\ Sohn', "Jürgen Groß-Müller", "Prof. Dr. Maximiliane Schwarzwald-Baar-Hohenzollern-Sigmaringen von und zu Überlingen", None],
)
def test_the_to_header_reads_back_as_the_name_and_address(name):
    raw = address_header("To", name, "person@example.org")
    assert_wire_rules(raw, qp_body=False)
    assert all(len(line) <= 78 for line in raw.split(b"\r\n")) or name.isascii()
    assert read_address(raw) == (name or "", "person@example.org")


def read_address(raw: bytes) -> tuple[str, str]:
    """(name, address) of an address header the way RFC 2047 reads it: the white space between two
    encoded words is dropped (the email package's new parser keeps it, its legacy one does not)."""
    from email.header import decode_header, make_header
    from email.utils import parseaddr

    value = email.message_from_bytes(raw + b"\r\n", policy=email.policy.compat32).get(raw.split(b":")[0].decode())
    name, address = parseaddr(str(make_header(decode_header(value))))
    return name, address


def test_list_unsubscribe_keeps_long_links_readable():
    url = "https://crm.test/abmelden/" + "x" * 120
    raw = list_header("List-Unsubscribe", [url, "mailto:abmelden@example.org?subject=Abmelden%20x"])
    assert raw.startswith(b"List-Unsubscribe: <https://")  # no RFC 2047 encoded word a client would not decode
    parsed = email.message_from_bytes(raw + b"\r\n", policy=email.policy.default)
    assert str(parsed["List-Unsubscribe"]) == f"<{url}>, <mailto:abmelden@example.org?subject=Abmelden%20x>"


def test_a_whole_message_parses_with_both_parts():
    template = MessageTemplate(
        fixed=[("Subject", "Rückblick auf die Mitgliederversammlung"), ("From", "Verein <verein@example.org>")],
        text=BodyTemplate("Hallo {name}\n", MARK, key), html=BodyTemplate("<p>Hallo {name}</p>", MARK, key), domain="example.org",
    )  # fmt: skip
    data = template.render(Personal("Jürgen Groß", "j@example.org", {"name": "Jürgen"}, ["https://crm.test/a"]), "<1@example.org>")
    assert_wire_rules(data, qp_body=False)
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["Subject"] == "Rückblick auf die Mitgliederversammlung"
    assert message["Message-ID"] == "<1@example.org>"
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Hallo Jürgen\n"
    assert message.get_body(("html",)).get_content().replace("\r\n", "\n") == "<p>Hallo Jürgen</p>\n"
    assert not message.defects and all(not part.defects for part in message.walk())


def test_message_ids_are_unique_unguessable_and_in_the_order_they_were_made():
    template = MessageTemplate(fixed=[], text=BodyTemplate("", MARK, key), html=BodyTemplate("", MARK, key), domain="example.org")

    ids = [template.message_id() for _ in range(2000)]

    times = [i[1:14] for i in ids]
    assert len(set(ids)) == len(ids) and times == sorted(times)  # a batch's ids land next to each other in the index
    assert all(re.fullmatch(r"<[0-9a-f]{13}\.[0-9a-f]{16}@example\.org>", i) for i in ids)  # 64 random bits each


def test_dot_stuffing_is_what_smtplib_does():
    """The transport doubles leading dots itself (it sends the terminator on its own, crm.mail.journal)."""
    from smtplib import _quote_periods

    from crm.mail.dialogue import dot_stuffed

    rng = random.Random(3)
    for _ in range(300):
        data = b"".join(rng.choice([b".", b"..", b"a", b"\r\n", b" .", b"\r\n."]) for _ in range(rng.randint(0, 40)))
        assert dot_stuffed(data) == _quote_periods(data), data
