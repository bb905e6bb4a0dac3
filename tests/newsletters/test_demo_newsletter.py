"""The demo's drafted newsletter: a review of the Freiburg assembly and an upcoming webinar, ready to
send to its segment; its rendering is compared with stored snapshots (HTML and text).

After an intended change of the layout or the demo texts, write the snapshots anew with
UPDATE_SNAPSHOTS=1 python -m pytest tests/newsletters/test_demo_newsletter.py and review the diff.
"""
import os
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.demo.loader import load_demo
from crm.newsletters.models import BlockKind, Newsletter
from crm.newsletters.render import personalize
from crm.newsletters.sending import audience, frozen, problems, values_for

SNAPSHOTS = Path(__file__).parent / "snapshots"
#: What differs between runs: the web version's random key and the webinar's date (demo load day + 42).
VOLATILE = [
    (re.compile(r"/archiv/[A-Za-z0-9_-]+"), "/archiv/KEY"),
    (re.compile(r"(Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag), \d+\. \w+ \d{4}, 10:00 Uhr"), "DATUM, 10:00 Uhr"),
    (re.compile(r"/termine/\d+"), "/termine/ID"),
]


@pytest.fixture()
def demo_newsletter(db):
    load_demo()
    db.session.commit()
    return db.session.scalar(sa.select(Newsletter))


def normalized(text: str) -> str:
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def check_snapshot(name: str, content: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(content, encoding="utf-8")
    assert content == path.read_text(encoding="utf-8"), f"{name} changed; see the module docstring"


def test_the_demo_has_a_drafted_review_of_freiburg_ready_to_send(demo_newsletter):
    assert demo_newsletter.subject == "Rückblick: 6. Mitgliederversammlung in Freiburg"
    kinds = [block.kind for block in demo_newsletter.blocks]
    assert kinds == [BlockKind.text, BlockKind.event_review, BlockKind.upcoming_events, BlockKind.call_to_action]
    review = demo_newsletter.blocks[1]
    assert review.event.title == "6. Mitgliederversammlung des Kommune 2.0 e. V." and "Leitfrage" in review.body
    assert demo_newsletter.segment.name == "Newsletter-Empfänger"
    assert problems(demo_newsletter) == []
    assert audience(demo_newsletter).total > 0


def test_demo_newsletter_rendering_matches_the_snapshots(demo_newsletter):
    web = personalize(frozen(demo_newsletter), values_for(demo_newsletter, None), personal=False)
    check_snapshot("demo_newsletter.txt", normalized(web.text))
    check_snapshot("demo_newsletter.html", normalized(web.html))
