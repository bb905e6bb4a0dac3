"""Browser tests: the app served on 127.0.0.1 by a real WSGI server, driven in Debian's Chromium."""
import threading

import pytest
import sqlalchemy as sa
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from config import TestConfig
from crm import create_app
from crm.extensions import db
from tests.databases import empty_database

CHROMIUM = "/usr/bin/chromium"
# Chromium as root on a closed network: no sandbox, no background connections.
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh, temporary user-data-dir.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def live_server(smtp_server, tmp_path_factory):
    """(app, base_url) of the app on a real server, with its own empty database and real CSRF."""
    with empty_database(tmp_path_factory.mktemp("e2e")) as url:

        class Config(TestConfig):
            SQLALCHEMY_DATABASE_URI = url
            WTF_CSRF_ENABLED = True
            SMTP_PORT = smtp_server.port

        app = create_app(Config)
        with app.app_context():
            db.create_all()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        base_url = f"http://127.0.0.1:{server.server_port}"
        app.config["BASE_URL"] = base_url
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield app, base_url
        finally:
            server.shutdown()
            thread.join(timeout=5)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


@pytest.fixture()
def page(browser, live_server):
    context = browser.new_context(locale="de-DE")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))
