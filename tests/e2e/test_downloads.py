"""Streamed downloads through a real server: the database session closes after the first chunk there
(unlike in the test client), so a download that keeps a result open across chunks breaks only here."""
import csv
import http.cookiejar
import io
import re
import urllib.parse
import urllib.request

import pytest

from crm.auth.services import create_user
from crm.contacts.models import ImportRowResult, Organization, OrganizationKind, Person
from crm.extensions import db
from crm.members.services import create_membership
from tests.factories import Factories

pytestmark = pytest.mark.e2e

PASSWORD = "download-test-passwort"
ROWS = 1_200  # more than one batch of 500 (and of 1,000 for the import report)


@pytest.fixture(scope="module")
def office_session(live_server):
    app, base_url = live_server
    with app.app_context():
        create_user(email="download@example.org", role="office", last_name="Laden", password=PASSWORD, actor=None)
        organizations = [Organization(name=f"Verband {i:04d}", kind=OrganizationKind.association) for i in range(ROWS)]
        people = [Person(first_name="Lea", last_name=f"Lader{i:04d}", email=f"lea{i}@example.org") for i in range(ROWS)]
        db.session.add_all(organizations + people)
        db.session.flush()
        for person in people[:3]:
            create_membership(actor=None, type="regular", status="active", person=person)
        job = Factories(db).import_job()
        db.session.add_all([ImportRowResult(job_id=job.id, row=i + 2, action="error", message="Fehler", label=f"Zeile {i}")
                            for i in range(ROWS)])  # fmt: skip
        db.session.commit()
        job_id = job.id
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(f"{base_url}/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "email": "download@example.org", "password": PASSWORD}).encode()
    opener.open(f"{base_url}/login", data)
    return opener, base_url, job_id


def download_rows(opener, url: str) -> list[list[str]]:
    body = opener.open(url).read().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body), delimiter=";"))


@pytest.mark.parametrize(("path", "expected"), [
    ("/organisationen/export.csv", ROWS), ("/personen/export.csv", ROWS + 1), ("/mitglieder/export.csv", 3),
    ("/import/{job}/bericht.csv", ROWS),
])  # fmt: skip
def test_every_csv_download_is_complete_through_a_real_server(office_session, path, expected):
    opener, base_url, job_id = office_session
    rows = download_rows(opener, base_url + path.format(job=job_id))
    assert len(rows) - 1 == expected  # the header, then every row
