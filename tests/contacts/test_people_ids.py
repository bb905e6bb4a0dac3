"""A deleted person's id is never given to another person: their signed links (unsubscribe, preference
centre) name the id. PostgreSQL's sequences never hand out an id twice; SQLite gave the newest
person's id, once deleted, to the next person (people is an AUTOINCREMENT table now)."""
from crm.contacts.imports.sql import allocate_ids
from crm.contacts.models import Person
from crm.contacts.services import delete_person
from crm.newsletters.links import preferences_token
from tests.html import page_text, text


def _delete_the_newest(db, make) -> tuple[int, str]:
    make.person(first_name="Ältere", last_name="Person")
    newest = make.person(first_name="Gelöschte", last_name="Person", email="geloescht@example.org", newsletter_consent=True)
    token = preferences_token(newest)
    gone = newest.id
    delete_person(newest, actor=None)
    db.session.commit()
    return gone, token


def test_the_next_person_gets_a_new_id_and_the_old_link_opens_nobody(client, db, make):
    gone, token = _delete_the_newest(db, make)

    after = make.person(first_name="Neue", last_name="Person", email="neu@example.org", newsletter_consent=True)
    db.session.commit()

    assert after.id > gone
    response = client.get(f"/einstellungen/{token}")
    assert response.status_code != 200
    assert "neu@example.org" not in page_text(text(response)) and "n***@example.org" not in page_text(text(response))


def test_an_import_does_not_give_out_a_deleted_persons_id_either(db, make):
    gone, _ = _delete_the_newest(db, make)

    assert allocate_ids(Person.__table__, 3)[0] > gone
