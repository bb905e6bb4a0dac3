"""Writing contacts: every change goes through here, is validated and lands in the audit log."""
from crm.contacts.services.organizations import (
    create_organization,
    delete_organization,
    organization_labels,
    resolve_organization,
    update_organization,
)
from crm.contacts.services.people import (
    CONSENT_CACHE,
    add_affiliation,
    bulk_tag,
    create_person,
    delete_affiliation,
    delete_person,
    end_affiliation,
    find_person_by_email,
    get_or_create_tag,
    record_consent,
    set_tags,
    update_affiliation,
    update_person,
)
from crm.contacts.validation import email_error, normalize_email

__all__ = [
    "CONSENT_CACHE", "add_affiliation", "bulk_tag", "create_organization", "create_person", "delete_affiliation",
    "delete_organization", "delete_person", "organization_labels", "email_error", "end_affiliation", "find_person_by_email",
    "get_or_create_tag", "normalize_email", "record_consent", "resolve_organization", "set_tags",
    "update_affiliation", "update_organization", "update_person",
]  # fmt: skip
