"""Contact persons, their dated roles in organizations, and their topics."""
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.contacts import salutation as salutation_rules
from crm.contacts import search_index
from crm.contacts.search import cologne_phonetic, name_key, search_key
from crm.extensions import db, str_enum, utcnow

if TYPE_CHECKING:
    from crm.contacts.models.organizations import Organization


class Salutation(StrEnum):
    frau = "frau"
    herr = "herr"
    divers = "divers"

    @property
    def label(self) -> str:
        return {"frau": "Frau", "herr": "Herr", "divers": "divers / keine Anrede"}[self.value]


person_tags = sa.Table(
    "person_tags",
    db.metadata,
    sa.Column("person_id", sa.ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag_id", sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    # The people of a topic, read from the index alone (the people list's topic filter).
    sa.Index("ix_person_tags_tag_person", "tag_id", "person_id"),
)


class Tag(db.Model):
    """A topic of interest such as Bildung, Mobilität or E-Government."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)

    def __repr__(self) -> str:
        return f"<Tag {self.name!r}>"


class Person(db.Model):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Null when unknown; then letters begin "Guten Tag".
    salutation: Mapped[Salutation | None] = mapped_column(str_enum(Salutation, "salutation"))
    #: Academic title as written in the address ("Dr.", "Prof. Dr.", "Dr.-Ing.").
    title: Mapped[str | None] = mapped_column(sa.String(50))
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str] = mapped_column(sa.String(100))  # indexed by ix_people_name, which starts with it
    #: Normalized (trimmed, lower case); unique when present.
    email: Mapped[str | None] = mapped_column(sa.String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(sa.String(50))
    mobile: Mapped[str | None] = mapped_column(sa.String(50))
    fax: Mapped[str | None] = mapped_column(sa.String(50))
    language: Mapped[str] = mapped_column(sa.String(5), default="de")
    notes: Mapped[str | None] = mapped_column(sa.Text)
    #: Folded name and email for umlaut-tolerant search (see crm.contacts.search); kept current on save.
    search_key: Mapped[str] = mapped_column(sa.String(500), default="")
    #: Folded names, places and functions of the person's current organizations, so that one scan
    #: of this table answers a search; kept current by crm.contacts.services.people.refresh_context_keys.
    context_key: Mapped[str] = mapped_column(sa.String(1000), default="")
    #: Folded "first last", for exact name matches (import: same name in the same organization).
    name_key: Mapped[str] = mapped_column(sa.String(200), default="", index=True)
    #: Kölner Phonetik of the last name: candidates for duplicates ("Meier"/"Meyer").
    name_phonetic: Mapped[str] = mapped_column(sa.String(40), default="", index=True)
    #: Latest state per channel in the consent ledger (None: never asked). A cache for fast filters;
    #: the ledger is the proof. Written only by crm.contacts.services.record_consent.
    newsletter_consent: Mapped[bool | None] = mapped_column(index=True)
    invitation_consent: Mapped[bool | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: Set when the person's data was erased (Art. 17 DSGVO); the row stays for aggregate figures.
    erased_at: Mapped[datetime | None] = mapped_column()

    affiliations: Mapped[list["Affiliation"]] = relationship(
        back_populates="person",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="(Affiliation.is_primary.desc(), Affiliation.start_date.desc())",
    )
    tags: Mapped[list[Tag]] = relationship(secondary=person_tags, order_by=Tag.name)

    __table_args__ = (
        sa.CheckConstraint("email IS NULL OR (email = lower(email) AND email LIKE '%_@_%')", "email_normalized"),
        sa.Index("ix_people_name", "last_name", "first_name"),
        # SQLite would give the id of the newest person, once deleted, to the next one, and the deleted
        # person's signed links (which name the id) would open the new person's data.
        {"sqlite_autoincrement": True},
    )

    AUDITED_FIELDS = (
        "salutation", "title", "first_name", "last_name", "email", "phone", "mobile", "fax", "language", "notes",
    )  # fmt: skip

    @property
    def audit_subjects(self) -> tuple[int | None, int | None]:
        return self.id, None

    def refresh_search_key(self) -> None:
        self.search_key = search_key(self.first_name, self.last_name, self.email)
        self.name_phonetic = cologne_phonetic(self.last_name)
        self.name_key = name_key(self.first_name, self.last_name)

    @property
    def full_name(self) -> str:
        return salutation_rules.full_name(self.title, self.first_name, self.last_name)

    @property
    def audit_label(self) -> str:
        return self.full_name

    @property
    def primary_affiliation(self) -> "Affiliation | None":
        current = [a for a in self.affiliations if a.is_current]
        return next((a for a in current if a.is_primary), current[0] if current else None)

    @property
    def letter_salutation(self) -> str:
        """ "Sehr geehrte Frau Dr. Mohrbacher", "Guten Tag Kim Beispiel" (German correspondence rules)."""
        affiliation = self.primary_affiliation
        return salutation_rules.letter_salutation(
            self.salutation, self.title, self.first_name, self.last_name,
            affiliation.position if affiliation else None,
        )  # fmt: skip

    @property
    def address_lines(self) -> list[str]:
        """The person's part of a postal address block ("Herrn Bürgermeister", "Michael Dreier")."""
        affiliation = self.primary_affiliation
        return salutation_rules.address_lines(
            self.salutation, self.title, self.first_name, self.last_name,
            affiliation.position if affiliation else None,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"<Person {self.id} {self.full_name!r}>"


class Affiliation(db.Model):
    """A person's dated role in an organization; a person may have several, one of them primary."""

    __tablename__ = "affiliations"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    #: The function as the person uses it ("Bürgermeister", "Leiterin des OB-Büros").
    position: Mapped[str | None] = mapped_column(sa.String(200))
    department: Mapped[str | None] = mapped_column(sa.String(200))
    #: Folded position and department, for search by function.
    search_key: Mapped[str] = mapped_column(sa.String(420), default="")
    is_primary: Mapped[bool] = mapped_column(default=False)
    start_date: Mapped[date | None] = mapped_column()
    end_date: Mapped[date | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="affiliations")
    organization: Mapped["Organization"] = relationship(back_populates="affiliations")

    __table_args__ = (
        sa.CheckConstraint("end_date IS NULL OR start_date IS NULL OR end_date >= start_date", "dates_ordered"),
        # The current people of organizations, read from the index alone (the people list's
        # Bundesland and kind filters); it also serves every lookup by organization.
        sa.Index("ix_affiliations_organization_current", "organization_id", "end_date", "person_id"),
        # At most one primary affiliation per person.
        sa.Index(
            "uq_affiliations_primary_per_person",
            "person_id",
            unique=True,
            sqlite_where=sa.text("is_primary"),
            postgresql_where=sa.text("is_primary"),
        ),
    )

    AUDITED_FIELDS = ("person_id", "organization_id", "position", "department", "is_primary", "start_date", "end_date")

    @property
    def audit_subjects(self) -> tuple[int | None, int | None]:
        return self.person_id, self.organization_id

    def refresh_search_key(self) -> None:
        self.search_key = search_key(self.position, self.department)

    @hybrid_property
    def is_current(self) -> bool:
        """Not ended: no end date, or one in the future ("beenden" sets today, so it ends today)."""
        return self.end_date is None or self.end_date > date.today()

    @is_current.inplace.expression
    @classmethod
    def _is_current_expression(cls):
        return sa.or_(cls.end_date.is_(None), cls.end_date > date.today())

    @property
    def audit_label(self) -> str:
        return f"{self.person.full_name} – {self.position or 'ohne Funktion'} ({self.organization.name})"


@sa.event.listens_for(Person, "before_insert")
@sa.event.listens_for(Person, "before_update")
@sa.event.listens_for(Affiliation, "before_insert")
@sa.event.listens_for(Affiliation, "before_update")
def _refresh_search_key(mapper, connection, target) -> None:
    target.refresh_search_key()


# The text-search index is DDL the model cannot declare; db.create_all() builds it with the table.
sa.event.listen(Person.__table__, "after_create", lambda table, connection, **kw: search_index.create(connection))
sa.event.listen(Person.__table__, "before_drop", lambda table, connection, **kw: search_index.drop(connection))
