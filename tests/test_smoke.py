def test_login_page_is_german(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert "Anmelden" in response.get_data(as_text=True)


def test_office_login_reaches_start_page(client, login):
    login("office")
    response = client.get("/start")
    assert response.status_code == 200
    assert "Letzte Änderungen" in response.get_data(as_text=True)
