"""D3: pages carry the security headers; plain HTTP goes to HTTPS, except for webhooks."""

from __future__ import annotations

import re

import pytest

KEY_PAGES = ["/", "/accounts/login/", "/accounts/signup/", "/privacy/", "/help/"]


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for directive in header.split(";"):
        name, *values = directive.split()
        directives[name] = values
    return directives


@pytest.fixture(params=["visitor", "owner"])
def browser(request, client):
    if request.param == "owner":
        client.force_login(request.getfixturevalue("owner"))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("url", KEY_PAGES)
def test_key_pages_send_hsts_for_a_year_including_subdomains(browser, url):
    response = browser.get(url, secure=True)

    hsts = response["Strict-Transport-Security"]
    max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
    assert max_age >= 31536000
    assert "includeSubDomains" in hsts


@pytest.mark.django_db
@pytest.mark.parametrize("url", KEY_PAGES)
def test_key_pages_send_a_strict_content_security_policy(browser, url):
    response = browser.get(url, secure=True)

    csp = csp_directives(response["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    for directive in csp.values():
        assert "'unsafe-inline'" not in directive
        assert "'unsafe-eval'" not in directive


@pytest.mark.django_db
@pytest.mark.parametrize("url", KEY_PAGES)
def test_key_pages_forbid_sniffing_limit_referrers_and_isolate_the_window(browser, url):
    response = browser.get(url, secure=True)

    assert response.status_code in (200, 302)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] in (
        "same-origin",
        "strict-origin-when-cross-origin",
        "no-referrer",
    )
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
@pytest.mark.parametrize("url", KEY_PAGES)
def test_a_plain_http_page_request_is_redirected_permanently_to_https(client, settings, url):
    settings.SECURE_SSL_REDIRECT = True

    response = client.get(url, secure=False)

    assert response.status_code == 301
    assert response["Location"] == f"https://testserver{url}"


@pytest.mark.django_db
def test_a_plain_http_webhook_post_is_not_redirected(client, settings):
    # Standard Webhooks counts a 3xx as a failed delivery, and a redirected POST loses its body.
    settings.SECURE_SSL_REDIRECT = True

    response = client.post("/webhooks/codat/", b"{}", content_type="application/json", secure=False)

    assert not 300 <= response.status_code < 400


def test_the_health_check_answers_plain_http_from_the_load_balancer(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = client.get("/healthz", secure=False)

    assert response.status_code == 200
