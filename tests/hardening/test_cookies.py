"""D2: the session and CSRF cookies only travel over HTTPS, out of reach of page scripts."""

from __future__ import annotations

from http.cookies import Morsel

from django.conf import settings

from tests.personas import PASSWORD


def set_cookie_attributes(morsel: Morsel) -> dict[str, str]:
    """The attributes of one Set-Cookie header as the browser receives them, names lower-cased."""
    _, *attributes = morsel.OutputString().split(";")
    parsed = {}
    for attribute in attributes:
        name, _, value = attribute.strip().partition("=")
        parsed[name.lower()] = value
    return parsed


def log_in_over_https(client, user):
    response = client.post(
        "/accounts/login/", {"username": user.email, "password": PASSWORD}, secure=True
    )
    assert response.status_code == 302
    return response


def test_the_session_cookie_is_secure_httponly_and_samesite_lax(client, owner):
    response = log_in_over_https(client, owner)

    attributes = set_cookie_attributes(response.cookies[settings.SESSION_COOKIE_NAME])

    assert "secure" in attributes
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"


def test_the_csrf_cookie_is_secure(client, owner):
    response = log_in_over_https(client, owner)

    attributes = set_cookie_attributes(response.cookies[settings.CSRF_COOKIE_NAME])

    assert "secure" in attributes
    assert attributes["samesite"] == "Lax"


def test_sessions_use_samesite_lax_so_the_return_from_codat_keeps_the_user_signed_in():
    # Strict would drop the session on the top-level redirect back from Codat's Link page.
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"
