"""The contact core: organizations, people, affiliations, topics and the consent ledger."""
from crm.contacts.models.consents import Consent, ConsentChannel, ConsentMethod
from crm.contacts.models.duplicates import DuplicateDismissal, PersonMerge
from crm.contacts.models.imports import ImportHeaderMemory, ImportJob, ImportRowResult, ImportStatus
from crm.contacts.models.organizations import ORGANIZATION_KIND_LABELS, Organization, OrganizationKind
from crm.contacts.models.people import Affiliation, Person, Salutation, Tag, person_tags
from crm.contacts.models.segments import Segment

__all__ = [
    "Affiliation", "Consent", "ConsentChannel", "ConsentMethod", "DuplicateDismissal", "PersonMerge", "ImportHeaderMemory", "ImportJob", "ImportRowResult", "ImportStatus", "ORGANIZATION_KIND_LABELS", "Organization",
    "OrganizationKind", "Person", "Salutation", "Segment", "Tag", "person_tags",
]  # fmt: skip
