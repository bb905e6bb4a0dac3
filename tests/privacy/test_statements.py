"""A speaker's statements in event reviews: part of their data export (Art. 15), gone after erasure (Art. 17)."""
import json

import sqlalchemy as sa

from crm.events import agenda
from crm.events.models import Statement
from crm.events.statements import add_statement
from tests.events.office import assembly
from tests.privacy.conftest import dump_all

LEAD = "Wir brauchen eine mitreißende Vision."
BODY = "Der Nutzen für die Daseinsvorsorge im Quellental muss sichtbar werden."


def test_a_speakers_statements_are_exported_and_erased(client, login, make, db):
    office = login("office")
    event = assembly(make, db)
    session = event.sessions[0]
    speaker = make.person(first_name="Quirin", last_name="Quastenberg", email="quirin.quastenberg@example.org")
    agenda.add_speaker(session, speaker, actor=office, role_text="Bürgermeister")
    add_statement(session, speaker, {"question": "0", "lead": LEAD, "body": BODY}, actor=office)
    other = add_statement(session, session.speakers[0].person, {"body": "Eine Antwort von jemand anderem."}, actor=office)
    db.session.commit()

    exported = json.loads(client.get(f"/personen/{speaker.id}/auskunft.json").get_data(as_text=True))
    assert exported["statements"] == [{"event": "6. Mitgliederversammlung", "session": "Metropolregion Rhein Neckar",
                                       "lead": LEAD, "body": BODY}]  # fmt: skip

    response = client.post(f"/personen/{speaker.id}/daten-loeschen", data={"confirm_name": "Quastenberg"})
    assert response.status_code == 302
    db.session.expire_all()
    remaining = db.session.scalars(sa.select(Statement)).all()
    assert [s.id for s in remaining] == [other.id]  # the other speaker's statement stays
    everything = dump_all(db)
    for trace in (LEAD, BODY, "Quastenberg"):  # neither the rows nor their audit entries keep the text
        assert trace not in everything, trace
    assert "Quastenberg" not in client.get(f"/veranstaltungen/{event.id}/rueckblick").get_data(as_text=True)
