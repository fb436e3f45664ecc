"""D3: pages carry the security headers; plain HTTP goes to HTTPS, except for webhooks."""

from __future__ import annotations

import re

import pytest
from django.test import Client

KEY_PAGES = ["/", "/accounts/login/", "/accounts/signup/", "/privacy/", "/help/"]


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for directive in header.split(";"):
        if not directive.strip():
            continue
        name, *values = directive.split()
        directives[name] = values
    return directives


def header_problems(response) -> list[str]:
    """What is wrong with one page's security headers (nothing, for a good page)."""
    problems = []

    def expect(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    expect(response.status_code in (200, 302), f"status {response.status_code}")

    # HSTS for a year, including subdomains.
    hsts = response.get("Strict-Transport-Security", "")
    max_age = re.search(r"max-age=(\d+)", hsts)
    expect(bool(max_age) and int(max_age.group(1)) >= 31536000, f"HSTS max-age: {hsts!r}")
    expect("includeSubDomains" in hsts, f"HSTS without includeSubDomains: {hsts!r}")

    # A strict Content-Security-Policy.
    csp = csp_directives(response.get("Content-Security-Policy", ""))
    expect(csp.get("default-src") == ["'self'"], f"CSP default-src {csp.get('default-src')}")
    expect(csp.get("object-src") == ["'none'"], f"CSP object-src {csp.get('object-src')}")
    expect(csp.get("base-uri") == ["'none'"], f"CSP base-uri {csp.get('base-uri')}")
    expect(
        csp.get("frame-ancestors") == ["'none'"],
        f"CSP frame-ancestors {csp.get('frame-ancestors')}",
    )
    for name, values in csp.items():
        expect("'unsafe-inline'" not in values, f"CSP {name} allows 'unsafe-inline'")
        expect("'unsafe-eval'" not in values, f"CSP {name} allows 'unsafe-eval'")

    # No sniffing, limited referrers, an isolated window, no framing.
    expect(
        response.get("X-Content-Type-Options") == "nosniff",
        f"X-Content-Type-Options {response.get('X-Content-Type-Options')!r}",
    )
    expect(
        response.get("Referrer-Policy")
        in ("same-origin", "strict-origin-when-cross-origin", "no-referrer"),
        f"Referrer-Policy {response.get('Referrer-Policy')!r}",
    )
    expect(
        response.get("Cross-Origin-Opener-Policy") == "same-origin",
        f"Cross-Origin-Opener-Policy {response.get('Cross-Origin-Opener-Policy')!r}",
    )
    expect(
        response.get("X-Frame-Options") == "DENY",
        f"X-Frame-Options {response.get('X-Frame-Options')!r}",
    )
    return problems


@pytest.mark.django_db
def test_key_pages_send_every_security_header_to_visitors_and_customers(client, owner):
    """Every key page, as a visitor and signed in, checked for every header in one go: HSTS for a
    year including subdomains, a strict CSP, nosniff, a limited referrer, an isolated window and
    no framing. A failure lists every page and header that is wrong."""
    customer = Client()
    customer.force_login(owner)

    problems = [
        f"{persona} {url}: {problem}"
        for persona, browser in (("visitor", client), ("owner", customer))
        for url in KEY_PAGES
        for problem in header_problems(browser.get(url, secure=True))
    ]

    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_a_plain_http_page_request_is_redirected_permanently_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    answers = {url: client.get(url, secure=False) for url in KEY_PAGES}

    assert {url: response.status_code for url, response in answers.items()} == dict.fromkeys(
        KEY_PAGES, 301
    )
    assert {url: response["Location"] for url, response in answers.items()} == {
        url: f"https://testserver{url}" for url in KEY_PAGES
    }


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
