"""GET /health: database and broker, without login; 503 when a configured part does not answer."""
import pytest

from config import TestConfig
from crm import create_app
from crm.extensions import db
from tests.conftest import free_port


@pytest.fixture()
def make_app():
    """create_app() with settings; the apps' database connections are closed afterwards."""
    apps = []

    def _make(**settings):
        apps.append(create_app(type("Config", (TestConfig,), settings)))
        return apps[-1]

    yield _make
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def test_healthy_with_database_and_broker(make_app, redis_url):
    response = make_app(CELERY_BROKER_URL=redis_url).test_client().get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"database": "ok", "broker": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_unhealthy_when_the_broker_does_not_answer(make_app):
    response = make_app(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0").test_client().get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"] == "ok"
    assert body["broker"].startswith("Fehler")


def test_unhealthy_when_the_database_does_not_answer(make_app):
    closed = f"postgresql+psycopg://crm:crm@127.0.0.1:{free_port()}/crm"
    response = make_app(SQLALCHEMY_DATABASE_URI=closed).test_client().get("/health")
    assert response.status_code == 503
    assert response.get_json() == {"database": "Fehler: OperationalError", "broker": "nicht konfiguriert"}


def test_the_embedded_default_has_no_broker_to_check(client):
    response = client.get("/health")  # anonymous: no login needed
    assert response.status_code == 200
    assert response.get_json() == {"database": "ok", "broker": "nicht konfiguriert"}


def test_work_for_a_broker_that_is_down_is_logged_not_a_500(make_app, caplog):
    """The view has committed the work (queued deliveries, an import job): the scheduler's next round
    resumes mailings once the broker is back, so the request must not fail."""
    from crm.mail.pipeline import dispatch
    from crm.tasks import run_in_background

    app = make_app(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0", TASKS_INLINE=False)
    with app.app_context():
        run_in_background(dispatch, "newsletter", 1)
    assert "could not be sent to the broker" in caplog.text
