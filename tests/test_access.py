"""Every route, every role: who may open it, who is refused, who is sent to the login.

When you add a route, add it to ROUTES; test_every_route_is_in_the_matrix fails until you do.
"""
import pytest

ANON, MEMBER, OFFICE, ADMIN = "anonymous", "member", "office", "admin"
ALL = (ANON, MEMBER, OFFICE, ADMIN)
STAFF = (OFFICE, ADMIN)

# (endpoint, method, path, roles allowed). "{user}" is replaced by the id of a user that exists.
ROUTES = [
    ("auth.login", "GET", "/login", ALL),
    ("auth.logout", "POST", "/logout", ALL),
    ("auth.forgot_password", "GET", "/passwort-vergessen", ALL),
    ("auth.reset_password", "GET", "/passwort-setzen/invalid-token", ALL),
    ("dashboard.root", "GET", "/", ALL),
    ("dashboard.index", "GET", "/start", STAFF),
    ("portal.index", "GET", "/mein-bereich/", (MEMBER, OFFICE, ADMIN)),
    ("mail.index", "GET", "/outbox/", STAFF),
    ("mail.show", "GET", "/outbox/missing.eml", STAFF),
    ("users.index", "GET", "/admin/benutzer/", (ADMIN,)),
    ("users.new", "GET", "/admin/benutzer/neu", (ADMIN,)),
    ("users.show", "GET", "/admin/benutzer/{user}", (ADMIN,)),
    ("users.deactivate", "POST", "/admin/benutzer/{user}/deaktivieren", (ADMIN,)),
    ("users.activate", "POST", "/admin/benutzer/{user}/aktivieren", (ADMIN,)),
    ("users.send_reset", "POST", "/admin/benutzer/{user}/passwort-link", (ADMIN,)),
]


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert endpoints == {endpoint for endpoint, *_ in ROUTES}


@pytest.mark.parametrize("role", ALL)
@pytest.mark.parametrize(("endpoint", "method", "path", "allowed"), ROUTES, ids=[r[0] for r in ROUTES])
def test_route_access(client, login, make, role, endpoint, method, path, allowed):
    if role != ANON:
        login(role)
    other = make.user(role="member")
    response = client.open(path.format(user=other.id), method=method)
    body = response.get_data(as_text=True)
    if role in allowed:
        assert response.status_code not in (401, 403), body
        assert not response.headers.get("Location", "").startswith("/login?next"), "allowed role sent to login"
        assert response.status_code != 500
    elif role == ANON:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
    else:
        assert response.status_code == 403
        assert "Kein Zugriff" in body
