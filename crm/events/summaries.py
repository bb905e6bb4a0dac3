"""Reading an event's review: statements by session, by speaker and by guiding question, and the
whole review as Markdown for a newsletter's "event review" block (review_markdown).

Speakers are named as the programme printed them (SessionSpeaker.role_text/affiliation_text: the
entry in the same session first, then one in another session of the event); only a person who is
not on the programme gets the current primary role from the CRM.
"""
import re
from dataclasses import dataclass

import sqlalchemy as sa
from markdown_it import MarkdownIt
from sqlalchemy.orm import selectinload

from crm.contacts.models import Affiliation, Person
from crm.events.agenda import printed_role
from crm.events.display import speaker_line
from crm.events.models import Event, EventSession, SessionKind, SessionSpeaker, Statement

#: How a statement reads when its speaker's record was deleted.
NAMELESS = "Name nicht mehr vorhanden"
NO_QUESTION = "Ohne Leitfrage"


def with_review(stmt: sa.Select) -> sa.Select:
    """An event query that loads sessions, speakers and statements with their people at once."""
    sessions = selectinload(Event.sessions)
    return stmt.options(
        sessions.selectinload(EventSession.speakers).joinedload(SessionSpeaker.person),
        sessions.selectinload(EventSession.statements)
        .joinedload(Statement.person)
        .selectinload(Person.affiliations)
        .joinedload(Affiliation.organization),
    )


@dataclass(frozen=True)
class Voice:
    """Who made a statement, as the review prints them."""

    person_id: int | None
    name: str
    line: str  # "Bürgermeister, Stadt Paderborn" or ""


@dataclass
class Group:
    """Statements under one heading: a speaker's, or the answers to one guiding question."""

    title: str
    statements: list[Statement]
    question: int | None = None
    voice: Voice | None = None


class Review:
    """One event's sessions (breaks left out) with their statements, and the ways to group them."""

    def __init__(self, event: Event):
        self.event = event
        self.questions = list(event.guiding_questions or [])
        self.sessions = [s for s in event.sessions if s.kind != SessionKind.break_]
        self._printed: dict[tuple[int, int], SessionSpeaker] = {}
        for session in self.sessions:
            for speaker in session.speakers:
                if speaker_line(speaker):
                    self._printed.setdefault((session.id, speaker.person_id), speaker)
                    self._printed.setdefault((0, speaker.person_id), speaker)

    @property
    def statements(self) -> list[Statement]:
        return [statement for session in self.sessions for statement in session.statements]

    @property
    def is_empty(self) -> bool:
        return not any(s.summary or s.statements for s in self.sessions)

    def voice(self, statement: Statement) -> Voice:
        person = statement.person
        if person is None:
            return Voice(None, NAMELESS, "")
        printed = self._printed.get((statement.session_id, person.id)) or self._printed.get((0, person.id))
        line = speaker_line(printed) if printed else ", ".join(p for p in printed_role(person) if p)
        return Voice(person.id, person.full_name, line)

    def question_label(self, index: int | None) -> str:
        if index is None:
            return NO_QUESTION
        if index < len(self.questions):
            return self.questions[index]
        return f"Leitfrage {index + 1} (nicht mehr in der Liste der Veranstaltung)"

    def by_speaker(self, statements: list[Statement] | None = None) -> list[Group]:
        """Per person in order of their first statement; each group in programme order."""
        groups: dict[int | None, Group] = {}
        for statement in self.statements if statements is None else statements:
            voice = self.voice(statement)
            group = groups.setdefault(voice.person_id, Group(voice.name, [], voice=voice))
            group.statements.append(statement)
        return list(groups.values())

    def by_question(self, statements: list[Statement] | None = None, *, every_question: bool = True) -> list[Group]:
        """Each guiding question with the answers to it (also unanswered ones, with `every_question`),
        then statements tied to no question."""
        statements = self.statements if statements is None else statements
        indexes = set(range(len(self.questions))) if every_question else set()
        indexes |= {s.question for s in statements if s.question is not None}
        groups = [
            Group(self.question_label(i), [s for s in statements if s.question == i], question=i) for i in sorted(indexes)
        ]
        free = [s for s in statements if s.question is None]
        return groups + ([Group(NO_QUESTION, free)] if free else [])


# --- Markdown for the newsletter -----------------------------------------------------------------

_md = MarkdownIt("commonmark")
_INLINE_SPECIAL = re.compile(r"([\\`*\[\]]|(?<![0-9A-Za-zÀ-ÿ])_|_(?![0-9A-Za-zÀ-ÿ]))")
_BLOCK_START = re.compile(r"^\s*([-*+]\s|\d+[.)]\s|#|>|```|~~~)")


def plain(text: str | None) -> str:
    """Plain text (a name, a title, a lead) made safe to put inside Markdown: *, _, `, [ ] and \\
    are escaped (a word-inner _ as in "#freiburg_gestalten" stays readable)."""
    return _INLINE_SPECIAL.sub(r"\\\1", " ".join((text or "").split()))


def _bold_lead(statement: Statement) -> str:
    """ "**Lead.**" – a lead without a closing mark is set off from the body with a dash (in plain
    text, where bold is lost, it would otherwise run into the body)."""
    if not statement.lead:
        return ""
    closed = statement.lead.rstrip().rstrip("\"'“”»«)]")[-1:] in ".!?:;…"
    return f"**{plain(statement.lead)}**" + (" –" if statement.body and not closed else "")


def _with_body(opening: str, body: str | None) -> list[str]:
    """`opening` and the body's first paragraph in one paragraph; a body that starts with a list,
    heading or quote gets its own blocks."""
    body = (body or "").strip()
    if not body:
        return [opening]
    if _BLOCK_START.match(body):
        return [opening, body] if opening else [body]
    return [f"{opening} {body}".strip()]


def _answers(review: Review, statements: list[Statement]) -> list[str]:
    """Per guiding question: "#### Leitfrage: …", then "**Name** (role): **lead** body" per speaker."""
    blocks: list[str] = []
    for group in review.by_question(statements, every_question=False):
        heading = "Weitere Aussagen" if group.question is None else f"Leitfrage: {plain(group.title)}"
        blocks.append(f"#### {heading}")
        for statement in group.statements:
            voice = review.voice(statement)
            who = f"**{plain(voice.name)}**" + (f" ({plain(voice.line)})" if voice.line else "") + ":"
            blocks += _with_body(" ".join(p for p in (who, _bold_lead(statement)) if p), statement.body)
    return blocks


def _theses(review: Review, statements: list[Statement]) -> list[str]:
    """Per speaker: "**Name** (role)", then the theses as a numbered list, each lead in bold."""
    blocks: list[str] = []
    for group in review.by_speaker(statements):
        voice = group.voice
        blocks.append(f"**{plain(voice.name)}**" + (f" ({plain(voice.line)})" if voice.line else ""))
        items = []
        for number, statement in enumerate(group.statements, start=1):
            marker = f"{number}. "
            text = "\n\n".join(_with_body(_bold_lead(statement), statement.body))
            # Continuation lines are indented to the item's text, so paragraphs stay in the item.
            indented = "\n".join((" " * len(marker) + line) if line else "" for line in text.split("\n"))
            items.append(marker + indented[len(marker):])
        blocks.append("\n".join(items))
    return blocks


def _nested_headings(summary: str) -> str:
    """The summary's own headings one level below the session's "###" ("# Ergebnisse" becomes
    "#### Ergebnisse"), so a summary never outranks its session in the newsletter."""
    lines = summary.strip().split("\n")
    for token in _md.parse(summary.strip()):
        if token.type != "heading_open" or not token.map:
            continue
        first, end = token.map
        level = min(int(token.tag[1]) + 3, 6)
        if token.markup.startswith("#"):
            lines[first] = "#" * level + " " + lines[first].lstrip().lstrip("#").lstrip()
        else:  # setext: the text lines, then the ===/--- line
            lines[first:end] = ["#" * level + " " + " ".join(line.strip() for line in lines[first : end - 1])] + [""] * (end - first - 1)
    return "\n".join(lines)


def review_markdown(event: Event) -> str:
    """The event's review as Markdown: per session with a summary or statements "### title", the
    summary, then the statements – grouped by guiding question where they answer one, otherwise
    per speaker as theses. "" when nothing has been written yet."""
    review = Review(event)
    blocks: list[str] = []
    for session in review.sessions:
        if not session.summary and not session.statements:
            continue
        blocks.append(f"### {plain(session.title)}")
        if session.summary:
            blocks.append(_nested_headings(session.summary))
        if any(s.question is not None for s in session.statements):
            blocks += _answers(review, session.statements)
        elif session.statements:
            blocks += _theses(review, session.statements)
    return "\n\n".join(blocks) + "\n" if blocks else ""
