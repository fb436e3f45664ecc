"""Home, privacy, help, the health check and the error pages."""

from __future__ import annotations

import re

import pytest
from django.test import Client

ERROR_URLCONF = "tests.companies.error_urls"


@pytest.mark.django_db
def test_a_visitor_sees_what_the_portal_is_and_how_to_sign_up_or_log_in(client):
    response = client.get("/")

    assert response.status_code == 200
    assert "Share your business data on your terms" in response.text
    assert 'href="/accounts/signup/"' in response.text
    assert 'href="/accounts/login/"' in response.text
    assert "/connections/new/" not in response.text


def test_the_owner_is_greeted_with_their_business_and_asked_to_choose_a_product_first(
    owner_client,
):
    response = owner_client.get("/")

    assert "Hello, Olive Owner" in response.text
    assert "Acme Ltd" in response.text
    assert "Connect your software or bank" in response.text
    assert 'href="/connections/new/"' in response.text
    assert 'href="/connections/"' in response.text
    # Choosing a product comes first; connecting is offered after, and not as the main action.
    main = response.text.split('<main id="main"')[1]
    first_button = re.search(r'<a class="button[^"]*"[^>]*href="([^"]+)"', main)
    assert first_button.group(1) == "/products/business-insights/"
    assert main.index("Your products") < main.index("Connect your software or bank")
    assert "nothing is read until you agree" in main
    assert "Connect your data" not in main


def test_the_owner_sees_only_their_own_business_name(owner_client, outsider):
    response = owner_client.get("/")

    assert "Other Co" not in response.text


def test_a_signed_in_account_without_a_business_is_told_so_not_offered_to_connect(
    staff_client,
):
    response = staff_client.get("/")

    assert response.status_code == 200
    assert "not linked to a business" in response.text
    assert 'href="/connections/new/"' not in response.text


@pytest.mark.django_db
def test_the_privacy_page_explains_codat_withdrawal_retention_and_contacts(client):
    response = client.get("/privacy/")

    assert response.status_code == 200
    for topic in ["Codat", "processor", "Withdraw", "Disconnect", "keep", "mailto:"]:
        assert topic in response.text


@pytest.mark.django_db
def test_the_help_page_answers_the_common_questions(client):
    response = client.get("/help/")

    assert response.status_code == 200
    for question in [
        "What is Codat?",
        "Is it safe?",
        "What happens when I disconnect?",
        "every 90 days",
    ]:
        assert question in response.text


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/privacy/", "/help/", "/accounts/login/"])
def test_every_page_has_a_skip_link_to_main_and_a_labelled_nav(client, url):
    response = client.get(url)

    assert '<html lang="en-GB">' in response.text
    assert 'href="#main"' in response.text
    assert '<main id="main"' in response.text
    assert '<nav class="site-nav" aria-label="Main">' in response.text


def test_the_health_check_answers_ok_without_login_or_any_database_access():
    # No `db` fixture: pytest-django makes any database access in here an error.
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_an_unknown_address_shows_the_friendly_404_page_with_a_way_home(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert "404.html" in [template.name for template in response.templates]
    assert "Page not found" in response.text
    assert 'href="/"' in response.text


def test_a_crash_shows_the_500_page_without_touching_the_database(settings):
    # No `db` fixture here either: the 500 page must not need the database to render.
    settings.ROOT_URLCONF = ERROR_URLCONF
    client = Client(raise_request_exception=False)

    response = client.get("/test-errors/500/")

    assert response.status_code == 500
    assert "Sorry, something went wrong on our side" in response.text
    assert 'href="/"' in response.text
    assert "this view is broken on purpose" not in response.text


@pytest.mark.django_db
def test_a_forbidden_action_shows_the_403_page(client, settings):
    settings.ROOT_URLCONF = ERROR_URLCONF

    response = client.get("/test-errors/403/")

    assert response.status_code == 403
    assert "You do not have permission to do that" in response.text
    assert 'href="/"' in response.text


def test_a_malformed_request_shows_the_400_page_without_touching_the_database(settings):
    settings.ROOT_URLCONF = ERROR_URLCONF

    response = Client().get("/test-errors/400/")

    assert response.status_code == 400
    assert "We could not understand that request" in response.text
    assert "a malformed request" not in response.text


@pytest.mark.django_db
def test_a_stale_form_gets_a_page_that_says_to_reload_and_try_again(client, settings):
    settings.CSRF_FAILURE_VIEW = "companies.views.csrf_failure"
    strict = Client(enforce_csrf_checks=True)

    response = strict.post("/accounts/login/", {"username": "a@b.example", "password": "x"})

    assert response.status_code == 403
    assert "That form has expired" in response.text
