"""Login accounts and the record of login attempts used for throttling."""
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from crm.extensions import db, str_enum, utcnow


class Role(StrEnum):
    admin = "admin"
    office = "office"
    member = "member"

    @property
    def label(self) -> str:
        return {"admin": "Administration", "office": "Geschäftsstelle", "member": "Mitglied"}[self.value]


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Login name; normalized like Person.email.
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    #: Null until the user sets a password from the mailed link.
    password_hash: Mapped[str | None] = mapped_column(sa.String(300))
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    active: Mapped[bool] = mapped_column(default=True)
    #: Part of the login session id; raising it ends every session of this user (deactivation,
    #: new password).
    session_version: Mapped[int] = mapped_column(default=1)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()
    #: When the last invitation to set a first password was mailed (None: created with a password).
    invited_at: Mapped[datetime | None] = mapped_column()
    password_changed_at: Mapped[datetime | None] = mapped_column()

    person = relationship("Person", lazy="joined")

    __table_args__ = (sa.CheckConstraint("email = lower(email) AND email LIKE '%_@_%'", "email_normalized"),)

    AUDITED_FIELDS = ("email", "role", "active", "person_id")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def end_sessions(self) -> None:
        """Log this user out everywhere."""
        self.session_version = (self.session_version or 1) + 1

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.admin, Role.office)

    @property
    def audit_label(self) -> str:
        return self.email

    @property
    def audit_subjects(self) -> tuple[int | None, int | None]:
        return self.person_id, None

    def has_role(self, *roles: str) -> bool:
        """True if the user has one of `roles`; admins may do everything office staff may."""
        return self.role in roles or (self.role == Role.admin and Role.office in roles)

    def set_password(self, password: str, method: str) -> None:
        self.password_hash = generate_password_hash(password, method=method)
        self.password_changed_at = utcnow()

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


#: Sort users by importance of their role, not alphabetically by the stored value.
ROLE_ORDER = sa.case({Role.admin.value: 0, Role.office.value: 1, Role.member.value: 2}, value=User.role)


class LoginAttempt(db.Model):
    """One login try, kept for a while to throttle password guessing per address and per IP."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
    ip: Mapped[str | None] = mapped_column(sa.String(45), index=True)
    succeeded: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AccessToken(db.Model):
    """One personal link (password, login, email confirmation): single use, revocable.

    The link carries a signed random secret that reveals nothing; only its SHA-256 digest is
    stored, so a copy of the database cannot be turned into working links.
    """

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(sa.String(20))
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), index=True)
    #: What the link confirms, e.g. {"email": "new@example.org"}.
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column()

    user = relationship("User")
    person = relationship("Person")

    __table_args__ = (sa.Index("ix_access_tokens_user_purpose", "user_id", "purpose"),)
