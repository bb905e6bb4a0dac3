"""Imports every model so that metadata, migrations and relationships see all tables."""
from crm.audit.models import AuditLog  # noqa: F401
from crm.auth.models import AccessToken, LoginAttempt, User  # noqa: F401
from crm.contacts.models import Affiliation, Consent, Organization, Person, Segment, Tag  # noqa: F401
from crm.members.models import Counter, Membership  # noqa: F401
from crm.portal.models import ChangeRequest  # noqa: F401
from crm.events.models import Event, EventSession, Invitation, SessionSpeaker, Statement  # noqa: F401
from crm.mail.models import Delivery, Suppression  # noqa: F401
from crm.newsletters.models import Newsletter, NewsletterBlock, Signup  # noqa: F401
