"""Merging two records of the same person keeps everything, and undoing the merge gives everything back.

The office merges on /personen/duplikate/<a>/<b>/zusammenfuehren (which record stays, and per differing
field whose value) and undoes with the "rückgängig machen" button of the merge's audit entry. The tests
go through those pages and compare the database row by row before and after.
"""
import re
from datetime import date, datetime, timezone
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.auth.models import User
from crm.contacts.models import Affiliation, Consent, ConsentChannel, ConsentMethod, Person, PersonMerge, Salutation
from crm.contacts.models.people import person_tags
from crm.contacts.services import add_affiliation, create_person, record_consent, set_tags
from crm.extensions import db as _db
from crm.members.models import Membership
from crm.members.services import create_membership
from tests.conftest import PASSWORD, count
from tests.contacts.pages import flashes, form_by_action, main_form
from tests.html import page_text

JAN = datetime(2024, 1, 10, 9, 0, tzinfo=timezone.utc)
JUN = datetime(2024, 6, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture()
def office(login, make):
    return login("office", person=make.person(first_name="Olga", last_name="Office", email="olga@example.org"))


class Pair:
    """Hans Meier (to keep) and Dr. Hanns Meyer (to merge away), each with roles, a membership, a
    consent, topics, notes and a history; Hanns has a login of his own."""

    def __init__(self, make, office):
        self.rathaus = make.organization(name="Stadtverwaltung Musterstadt", city="Musterstadt")
        self.stadtwerke = make.organization(name="Energieversorgung Musterstadt GmbH", city="Musterstadt")
        self.verband = make.organization(name="Städtetag Nordland", city="Nordhausen")
        self.keep = create_person({
            "salutation": Salutation.herr, "first_name": "Hans", "last_name": "Meier", "email": "hans.meier@example.org",
            "phone": "030 7730 7253", "notes": "Kennt den Vorstand.",
        }, actor=office)  # fmt: skip
        self.remove = create_person({
            "salutation": Salutation.herr, "title": "Dr.", "first_name": "Hanns", "last_name": "Meyer",
            "email": "h.meyer@example.org", "mobile": "+49 171 1203537", "notes": "Spricht Französisch.",
        }, actor=office)  # fmt: skip
        add_affiliation(self.keep, self.rathaus, actor=office, position="Kämmerer")
        add_affiliation(self.remove, self.stadtwerke, actor=office, position="Geschäftsführer")
        add_affiliation(self.remove, self.verband, actor=office, position="Beirat")
        set_tags(self.keep, ["Bildung", "Mobilität"], actor=office)
        set_tags(self.remove, ["E-Government", "Mobilität"], actor=office)
        self.keep_membership = create_membership(actor=office, type="regular", status="active", person=self.keep, start_date=date(2020, 1, 1))
        self.remove_membership = create_membership(actor=office, type="honorary", status="active", person=self.remove, start_date=date(2021, 1, 1))
        self.keep_consent = record_consent(self.keep, actor=office, channel=ConsentChannel.newsletter, granted=False,
                                           method=ConsentMethod.office, source="Telefonat", effective_at=JAN)  # fmt: skip
        self.remove_consent = record_consent(self.remove, actor=office, channel=ConsentChannel.newsletter, granted=True,
                                             method=ConsentMethod.office, source="Visitenkarte", effective_at=JUN)  # fmt: skip
        self.user = make.user(role="member", person=self.remove, password=PASSWORD)  # commits
        self.remove_created_at = self.remove.created_at
        self.remove_audit = set(_db.session.scalars(sa.select(AuditLog.id).where(AuditLog.person_id == self.remove.id)))
        assert len(self.remove_audit) >= 5  # created, two roles, topics, membership, consent


@pytest.fixture()
def pair(db, make, office):
    return Pair(make, office)


def merge_url(a: Person, b: Person) -> str:
    return f"/personen/duplikate/{a.id}/{b.id}/zusammenfuehren"


def undo_url(merge_id: int) -> str:
    return f"/personen/duplikate/zusammenfuehrung/{merge_id}/rueckgaengig"


def merge(client, a: Person, b: Person, keep: Person, **chosen: Person):
    """Send the merge form as the office fills it in: the page's defaults, `keep`, and per field the
    person whose value wins."""
    page = client.get(merge_url(a, b))
    assert page.status_code == 200
    form = main_form(page.get_data(as_text=True))
    form.update(keep=str(keep.id), **{name: str(person.id) for name, person in chosen.items()})
    return client.post(merge_url(a, b), data=form)


def merged(client, a: Person, b: Person, keep: Person, **chosen: Person) -> int:
    """Merge successfully; the id of the merge (from the redirect to the kept person's entry)."""
    response = merge(client, a, b, keep, **chosen)
    assert response.status_code == 302, page_text(response.get_data(as_text=True))
    location = urlsplit(response.headers["Location"])
    assert location.path == f"/personen/{keep.id}"
    assert "zusammengeführt" in flashes(person_page(client, keep.id))[0]  # the browser follows (and shows the flash)
    return int(re.fullmatch(r"merge-(\d+)", location.fragment).group(1))


def person_page(client, person_id: int) -> str:
    response = client.get(f"/personen/{person_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def database_state() -> dict[str, list]:
    """Every row merge and undo touch, as tuples (the request session's objects are re-read).
    Left out: updated_at, and created_at, which test_undo_gives_back_the_same_record checks on its own."""
    _db.session.expire_all()
    columns = [c for c in Person.__table__.c if c.name not in ("updated_at", "created_at")]

    def rows(*cols):
        return sorted(tuple(r) for r in _db.session.execute(sa.select(*cols)).all())

    return {
        "people": rows(*columns),
        "affiliations": rows(Affiliation.id, Affiliation.person_id, Affiliation.organization_id, Affiliation.is_primary),
        "memberships": rows(Membership.id, Membership.person_id, Membership.number),
        "consents": rows(Consent.id, Consent.person_id, Consent.granted),
        "tags": rows(person_tags.c.person_id, person_tags.c.tag_id),
        "users": rows(User.id, User.person_id, User.email),
        "audit": rows(AuditLog.id, AuditLog.person_id, AuditLog.action),
    }


def fresh(person_id: int) -> Person | None:
    return _db.session.get(Person, person_id, populate_existing=True)


# --- merging ------------------------------------------------------------------------------------------------


def test_merge_page_offers_a_choice_for_each_differing_field(client, db, office, pair):
    markup = client.get(merge_url(pair.keep, pair.remove)).get_data(as_text=True)

    radios = set(re.findall(r'<input type="radio" name="(\w+)" value="\d+"', markup))
    assert radios == {"keep", "first_name", "last_name", "email"}  # notes are joined, empty fields filled
    assert "Hans Meier und Dr. Hanns Meyer zusammenführen" in page_text(markup)


def test_merge_keeps_both_peoples_roles_with_one_primary(client, db, office, pair):
    roles = {a.id: a.organization_id for a in [*pair.keep.affiliations, *pair.remove.affiliations]}

    merged(client, pair.keep, pair.remove, keep=pair.keep)

    kept = fresh(pair.keep.id)
    assert {a.id: a.organization_id for a in kept.affiliations} == roles
    assert [a.organization_id for a in kept.affiliations if a.is_primary] == [pair.rathaus.id]
    text = page_text(person_page(client, pair.keep.id))
    for name in ("Stadtverwaltung Musterstadt – Kämmerer", "Energieversorgung Musterstadt GmbH – Geschäftsführer", "Städtetag Nordland – Beirat"):
        assert name in text


def test_merge_keeps_memberships_consents_topics_and_notes(client, db, office, pair):
    merged(client, pair.keep, pair.remove, keep=pair.keep)

    kept = fresh(pair.keep.id)
    memberships = _db.session.scalars(sa.select(Membership.id).where(Membership.person_id == kept.id)).all()
    assert sorted(memberships) == sorted([pair.keep_membership.id, pair.remove_membership.id])
    consents = _db.session.scalars(sa.select(Consent.id).where(Consent.person_id == kept.id)).all()
    assert sorted(consents) == sorted([pair.keep_consent.id, pair.remove_consent.id])
    assert [t.name for t in kept.tags] == ["Bildung", "E-Government", "Mobilität"]
    assert "Kennt den Vorstand." in kept.notes and "Spricht Französisch." in kept.notes
    text = page_text(person_page(client, kept.id))
    assert f"Nr. {pair.keep_membership.number} · " in text and f"Nr. {pair.remove_membership.number} · " in text
    assert "Telefonat" in text and "Visitenkarte" in text  # both ledger entries
    assert "Themen Bildung, E-Government, Mobilität" in text


@pytest.mark.parametrize(
    ("kept_entry", "removed_entry", "expected"),
    [((False, JAN), (True, JUN), True), ((True, JUN), (False, JAN), True), ((True, JAN), (False, JUN), False)],
    ids=["removed-later-grant", "kept-later-grant", "removed-later-withdrawal"],
)
def test_kept_newsletter_consent_is_the_latest_entry_of_both(client, db, make, office, kept_entry, removed_entry, expected):
    keep, remove = make.person(first_name="Hans", last_name="Meier"), make.person(first_name="Hanns", last_name="Meyer")
    for person, (granted, when) in ((keep, kept_entry), (remove, removed_entry)):
        record_consent(person, actor=office, channel=ConsentChannel.newsletter, granted=granted, method=ConsentMethod.office, effective_at=when)
    _db.session.commit()

    merged(client, keep, remove, keep=keep)

    assert fresh(keep.id).newsletter_consent is expected
    assert fresh(keep.id).invitation_consent is None  # never asked on either record


def test_empty_fields_are_filled_and_chosen_values_win(client, db, office, pair):
    merged(client, pair.keep, pair.remove, keep=pair.keep, first_name=pair.keep, last_name=pair.remove, email=pair.remove)

    kept = fresh(pair.keep.id)
    assert (kept.first_name, kept.last_name, kept.email) == ("Hans", "Meyer", "h.meyer@example.org")  # chosen
    assert (kept.title, kept.mobile) == ("Dr.", "+49 171 1203537")  # empty on the kept record: filled
    assert kept.phone == "030 7730 7253"  # only the kept record had it
    assert kept.name_phonetic == "67" and "meyer" in kept.search_key


def test_the_second_record_can_be_the_one_kept(client, db, office, pair):
    merged(client, pair.keep, pair.remove, keep=pair.remove, first_name=pair.remove, last_name=pair.remove, email=pair.keep)

    assert client.get(f"/personen/{pair.keep.id}").status_code == 404
    kept = fresh(pair.remove.id)
    assert (kept.full_name, kept.email, kept.phone) == ("Dr. Hanns Meyer", "hans.meier@example.org", "030 7730 7253")
    assert [a.organization_id for a in kept.affiliations if a.is_primary] == [pair.stadtwerke.id]
    assert len(kept.affiliations) == 3


def test_history_and_login_move_to_the_kept_person(client, app, db, office, pair):
    merged(client, pair.keep, pair.remove, keep=pair.keep)

    moved = set(_db.session.scalars(sa.select(AuditLog.id).where(AuditLog.person_id == pair.keep.id)))
    assert pair.remove_audit <= moved
    assert "Person Dr. Hanns Meyer angelegt" in page_text(person_page(client, pair.keep.id))
    assert _db.session.get(User, pair.user.id, populate_existing=True).person_id == pair.keep.id
    member = app.test_client()  # Hanns still logs in with his own address and password
    assert member.post("/login", data={"email": "h.meyer@example.org", "password": PASSWORD}).status_code == 302


def test_removed_person_is_gone_and_the_merge_is_in_the_audit_log(client, db, office, pair):
    response = merge(client, pair.keep, pair.remove, keep=pair.keep)
    page = client.get(response.headers["Location"]).get_data(as_text=True)

    assert "Die Datensätze wurden zu Dr. Hans Meier zusammengeführt. Rückgängig machen können Sie das im Protokoll." in flashes(page)
    assert client.get(f"/personen/{pair.remove.id}").status_code == 404
    entry = f"Zusammenführung Dr. Hanns Meyer → Person {pair.keep.id} zusammengeführt"
    assert entry in page_text(page)
    assert entry in page_text(client.get("/protokoll/").get_data(as_text=True))
    [row] = _db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "merge")).all()
    assert (row.person_id, row.actor_id) == (pair.keep.id, office.id)


def test_merge_loses_no_rows(client, db, office, pair):
    before = {m: count(m) for m in (Affiliation, Membership, Consent, AuditLog)}

    merge_id = merged(client, pair.keep, pair.remove, keep=pair.keep)
    assert {m: count(m) for m in before} == {**before, AuditLog: before[AuditLog] + 1}

    client.post(undo_url(merge_id))
    assert {m: count(m) for m in before} == {**before, AuditLog: before[AuditLog] + 2}  # + "rückgängig gemacht"


def test_merge_is_refused_when_both_have_a_login(client, db, make, office, pair):
    make.user(role="member", person=pair.keep)
    before = database_state()

    response = merge(client, pair.keep, pair.remove, keep=pair.keep)

    assert response.status_code == 302 and response.headers["Location"] == merge_url(pair.keep, pair.remove)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Beide Personen haben einen Benutzerzugang. Bitte zuerst einen Zugang deaktivieren und der Geschäftsstelle melden." in flashes(page)
    assert database_state() == before
    assert count(PersonMerge) == 0


def test_a_person_cannot_be_merged_with_itself(client, db, office, pair):
    before = database_state()

    response = client.post(merge_url(pair.keep, pair.keep), data={"keep": pair.keep.id}, follow_redirects=True)

    assert "Eine Person kann nicht mit sich selbst zusammengeführt werden." in flashes(response.get_data(as_text=True))
    assert database_state() == before


# --- undoing ----------------------------------------------------------------------------------------------------


def test_undo_button_restores_everything(client, db, office, pair):
    before = database_state()
    merge_id = merged(client, pair.keep, pair.remove, keep=pair.keep, last_name=pair.remove, email=pair.remove)
    markup = person_page(client, pair.keep.id)

    response = client.post(undo_url(merge_id), data=form_by_action(markup, undo_url(merge_id)))

    assert response.status_code == 302 and response.headers["Location"] == f"/personen/{pair.remove.id}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Die Zusammenführung wurde rückgängig gemacht; Dr. Hanns Meyer ist wieder ein eigener Datensatz." in flashes(page)
    after = database_state()
    added = [row for row in after["audit"] if row not in before["audit"]]
    assert [action for _, _, action in added] == ["merge", "merge_undone"]
    assert {**after, "audit": [r for r in after["audit"] if r in before["audit"]]} == before


def test_undo_gives_back_the_same_record(client, db, office, pair):
    merge_id = merged(client, pair.keep, pair.remove, keep=pair.keep, last_name=pair.remove, email=pair.remove)

    client.post(undo_url(merge_id))

    restored, kept = fresh(pair.remove.id), fresh(pair.keep.id)
    assert (restored.full_name, restored.email, restored.mobile) == ("Dr. Hanns Meyer", "h.meyer@example.org", "+49 171 1203537")
    assert restored.created_at == pair.remove_created_at
    assert restored.newsletter_consent is True and kept.newsletter_consent is False
    assert (kept.last_name, kept.email, kept.title, kept.notes) == ("Meier", "hans.meier@example.org", None, "Kennt den Vorstand.")
    assert [a.organization_id for a in restored.affiliations if a.is_primary] == [pair.stadtwerke.id]
    assert [t.name for t in restored.tags] == ["E-Government", "Mobilität"]
    assert [t.name for t in kept.tags] == ["Bildung", "Mobilität"]
    assert _db.session.get(User, pair.user.id, populate_existing=True).person_id == restored.id
    assert pair.remove_audit <= set(_db.session.scalars(sa.select(AuditLog.id).where(AuditLog.person_id == restored.id)))
    text = page_text(person_page(client, restored.id))
    assert "Person Dr. Hanns Meyer angelegt" in text and "Städtetag Nordland – Beirat" in text


def test_undoing_twice_is_refused_and_changes_nothing(client, db, office, pair):
    merge_id = merged(client, pair.keep, pair.remove, keep=pair.keep)
    client.post(undo_url(merge_id))
    before = database_state()

    response = client.post(undo_url(merge_id), follow_redirects=True)

    assert response.request.path == "/protokoll/"
    assert "Diese Zusammenführung wurde bereits rückgängig gemacht." in flashes(response.get_data(as_text=True))
    assert database_state() == before


def test_three_records_merged_one_after_the_other_can_be_undone_in_reverse_order(client, db, make, office):
    """Meier ← Meyer, then Maier ← Meier: undoing the second merge brings Meier back, and then the
    first merge can be undone too (Meier is the kept person of the first merge again)."""
    meyer, meier, maier = (make.person(first_name="Hans", last_name=n) for n in ("Meyer", "Meier", "Maier"))
    _db.session.commit()
    before = database_state()
    first = merged(client, meier, meyer, keep=meier)
    second = merged(client, maier, meier, keep=maier)

    assert "Hans Meier ist wieder ein eigener Datensatz." in flashes(client.post(undo_url(second), follow_redirects=True).get_data(as_text=True))[0]
    _db.session.expire_all()  # in production every request has a fresh session
    response = client.post(undo_url(first), follow_redirects=True)

    assert "Die Zusammenführung wurde rückgängig gemacht; Hans Meyer ist wieder ein eigener Datensatz." in flashes(response.get_data(as_text=True))
    after = database_state()
    assert {**after, "audit": [r for r in after["audit"] if r in before["audit"]]} == before
