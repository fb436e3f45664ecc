"""Logging in by email, logging out by POST, and `next=` never leaving the site (R4)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.personas import PASSWORD

# Each of these must be treated as "no next given": off-site, scheme-relative, a backslash
# that browsers read as a slash, a scheme with no slashes, and a script URL.
UNSAFE_NEXT = [
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "https:evil.example",
    "javascript:alert(1)",
]


def is_signed_in(client) -> bool:
    return client.get("/").context["user"].is_authenticated


@pytest.mark.django_db
def test_the_login_form_asks_for_an_email(client):
    response = client.get("/accounts/login/")

    assert '<label for="id_username">Email</label>' in response.text
    assert 'type="email"' in response.text
    assert 'autocomplete="current-password"' in response.text


def test_owner_logs_in_with_email_and_password_and_lands_on_home(client, owner):
    response = client.post(
        "/accounts/login/", {"username": "owner@acme.example", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert is_signed_in(client)


def test_the_email_at_login_is_not_case_sensitive(client, owner):
    response = client.post(
        "/accounts/login/", {"username": "  Owner@ACME.example ", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert is_signed_in(client)


def test_a_wrong_password_is_refused_with_a_message_and_no_session(client, owner):
    response = client.post(
        "/accounts/login/", {"username": "owner@acme.example", "password": "not it at all"}
    )

    assert response.status_code == 200
    assert "do not match an account" in response.text
    assert 'class="error-summary"' in response.text
    assert not is_signed_in(client)


def test_a_safe_next_is_kept_after_login(client, owner):
    response = client.post(
        "/accounts/login/?next=/connections/",
        {"username": "owner@acme.example", "password": PASSWORD},
    )

    assert response["Location"] == "/connections/"


@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_an_off_site_next_after_login_lands_on_home(client, owner, target):
    response = client.post(
        f"/accounts/login/?next={quote(target, safe='')}",
        {"username": "owner@acme.example", "password": PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_an_off_site_next_in_the_form_body_lands_on_home(client, owner, target):
    response = client.post(
        "/accounts/login/",
        {"username": "owner@acme.example", "password": PASSWORD, "next": target},
    )

    assert response["Location"] == "/"


@pytest.mark.django_db
@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_the_login_page_does_not_carry_an_off_site_next_into_its_form(client, target):
    response = client.get(f"/accounts/login/?next={quote(target, safe='')}")

    assert "evil.example" not in response.text
    assert "javascript:" not in response.text


def test_logging_out_by_post_ends_the_session_and_lands_on_home(owner_client):
    response = owner_client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert not is_signed_in(owner_client)


def test_logging_out_by_get_is_refused_so_a_link_cannot_sign_anyone_out(owner_client):
    response = owner_client.get("/accounts/logout/")

    assert response.status_code == 405
    assert is_signed_in(owner_client)


def test_a_safe_next_is_kept_after_logout(owner_client):
    response = owner_client.post("/accounts/logout/", {"next": "/help/"})

    assert response["Location"] == "/help/"


@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_an_off_site_next_after_logout_lands_on_home(owner_client, target):
    response = owner_client.post("/accounts/logout/", {"next": target})

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_every_signed_in_page_offers_logout_as_a_form_not_a_link(owner_client):
    response = owner_client.get("/")

    assert '<form method="post" action="/accounts/logout/"' in response.text
    assert 'href="/accounts/logout/"' not in response.text
