"""Behind nginx (CRM_PROXIES=1) the client's address and scheme come from the proxy's headers; without
it they are ignored, so nobody can pass for another address by sending them."""
import pytest
from flask import request

from config import TestConfig
from crm import create_app
from crm.security import public

HEADERS = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "crm.example.org"}


def _client(proxies: int):
    class Config(TestConfig):
        PROXIES = proxies

    app = create_app(Config)
    app.add_url_rule("/wer", "who", public(lambda: f"{request.remote_addr} {request.scheme} {request.host}"))
    return app.test_client()


@pytest.mark.parametrize(("proxies", "seen"), [(1, "198.51.100.7 https crm.example.org"), (0, "127.0.0.1 http localhost")])
def test_forwarded_headers_count_only_behind_a_proxy(proxies, seen):
    response = _client(proxies).get("/wer", headers=HEADERS, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.get_data(as_text=True) == seen
