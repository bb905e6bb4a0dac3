"""Organizations: municipalities, counties, regions, associations, companies, institutes."""
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.contacts.municipal import BUNDESLAENDER, digits_only_sql
from crm.contacts.search import search_key
from crm.extensions import db, str_enum, utcnow

if TYPE_CHECKING:
    from crm.contacts.models.people import Affiliation


class OrganizationKind(StrEnum):
    municipality = "municipality"
    county = "county"
    region = "region"
    association = "association"
    company = "company"
    research = "research"
    public_agency = "public_agency"
    other = "other"

    @property
    def label(self) -> str:
        return ORGANIZATION_KIND_LABELS[self]


ORGANIZATION_KIND_LABELS = {
    OrganizationKind.municipality: "Stadt / Gemeinde",
    OrganizationKind.county: "Kreis",
    OrganizationKind.region: "Region",
    OrganizationKind.association: "Verband / Verein",
    OrganizationKind.company: "Unternehmen",
    OrganizationKind.research: "Forschung / Hochschule",
    OrganizationKind.public_agency: "Behörde",
    OrganizationKind.other: "Sonstige",
}

_STATE_CODES = ", ".join(f"'{code}'" for code in BUNDESLAENDER)


class Organization(db.Model):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(300), index=True)
    short_name: Mapped[str | None] = mapped_column(sa.String(100))
    kind: Mapped[OrganizationKind] = mapped_column(str_enum(OrganizationKind, "kind"), index=True)
    #: The larger unit this one belongs to: a Gemeinde's Kreis, a city's Metropolregion.
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organizations.id", ondelete="SET NULL"), index=True)
    #: Amtlicher Gemeindeschlüssel (8 digits) of a Gemeinde or kreisfreie Stadt. Data, not identity:
    #: territorial reforms change it.
    ags: Mapped[str | None] = mapped_column(sa.String(8), unique=True)
    #: Kreisschlüssel (5 digits) of a Kreis.
    kreisschluessel: Mapped[str | None] = mapped_column(sa.String(5), unique=True)
    #: Bundesland code 01–16.
    state: Mapped[str | None] = mapped_column(sa.String(2), index=True)
    population: Mapped[int | None] = mapped_column()
    street: Mapped[str | None] = mapped_column(sa.String(200))
    postal_code: Mapped[str | None] = mapped_column(sa.String(5))
    city: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    website: Mapped[str | None] = mapped_column(sa.String(300))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    phone: Mapped[str | None] = mapped_column(sa.String(50))
    notes: Mapped[str | None] = mapped_column(sa.Text)
    #: Folded name, short name, city and keys for umlaut-tolerant search.
    search_key: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    parent: Mapped["Organization | None"] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list["Organization"]] = relationship(back_populates="parent", order_by="Organization.name")
    affiliations: Mapped[list["Affiliation"]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        sa.CheckConstraint(f"state IS NULL OR state IN ({_STATE_CODES})", "state_code"),
        sa.CheckConstraint(f"ags IS NULL OR (length(ags) = 8 AND {digits_only_sql('ags')})", "ags_format"),
        sa.CheckConstraint("ags IS NULL OR (state IS NOT NULL AND substr(ags, 1, 2) = state)", "ags_state"),
        sa.CheckConstraint("ags IS NULL OR kind = 'municipality'", "ags_kind"),
        sa.CheckConstraint(
            f"kreisschluessel IS NULL OR (length(kreisschluessel) = 5 AND {digits_only_sql('kreisschluessel')})",
            "kreisschluessel_format",
        ),
        sa.CheckConstraint(
            "kreisschluessel IS NULL OR (state IS NOT NULL AND substr(kreisschluessel, 1, 2) = state)",
            "kreisschluessel_state",
        ),
        sa.CheckConstraint("kreisschluessel IS NULL OR kind = 'county'", "kreisschluessel_kind"),
        sa.CheckConstraint("population IS NULL OR population >= 0", "population_positive"),
        sa.CheckConstraint("parent_id IS NULL OR parent_id <> id", "not_own_parent"),
    )

    AUDITED_FIELDS = (
        "name", "short_name", "kind", "parent_id", "ags", "kreisschluessel", "state", "population",
        "street", "postal_code", "city", "website", "email", "phone", "notes",
    )  # fmt: skip

    @property
    def audit_label(self) -> str:
        return self.name

    @property
    def audit_subjects(self) -> tuple[int | None, int | None]:
        return None, self.id

    def refresh_search_key(self) -> None:
        self.search_key = search_key(self.name, self.short_name, self.city, self.ags, self.kreisschluessel)

    @property
    def state_name(self) -> str | None:
        return BUNDESLAENDER.get(self.state) if self.state else None

    @property
    def municipal_key(self) -> str | None:
        return self.ags or self.kreisschluessel

    def __repr__(self) -> str:
        return f"<Organization {self.id} {self.name!r}>"


@sa.event.listens_for(Organization, "before_insert")
@sa.event.listens_for(Organization, "before_update")
def _refresh_search_key(mapper, connection, target) -> None:
    target.refresh_search_key()
