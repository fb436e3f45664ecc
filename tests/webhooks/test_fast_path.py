"""W5: Codat's deliveries skip the page machinery (WebhookFastPathMiddleware) and lose nothing
by it: the same refusals, the same security headers, no tenant scope, no redirect to HTTPS.

Every other test in this folder posts through the test client, which runs the middleware, so
they all exercise the fast path too; these pin down what it keeps from the whole stack.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.test import Client
from django_scopes import get_scope

from companies.scoping import scopes_disabled
from connections import webhooks
from connections.models import WebhookEvent
from tests.webhooks.steps import URL, encode, post, signed_headers

pytestmark = pytest.mark.django_db

BODY = encode({"eventType": "connection.created"})
OTHER_SECRET = "whsec_c29tZW9uZS1lbHNlcy1zZWNyZXQtbm90LW91cnMtMDAwMA=="
# What an answer carries because of what it holds and how it may be cached (a page's
# never_cache, the session's Vary: Cookie), not to protect whoever reads it.
CONTENT_HEADERS = {"Content-Type", "Content-Length", "Allow", "Cache-Control", "Expires", "Vary"}


def security_headers(response: HttpResponse) -> dict[str, str]:
    return {name: value for name, value in response.items() if name not in CONTENT_HEADERS}


def post_over_https(
    client: Client, body: bytes, headers: dict[str, str], content_type: str = "application/json"
) -> HttpResponse:
    return client.generic(
        "POST", URL, body, content_type=content_type, headers=headers, secure=True
    )


@pytest.fixture
def page_machinery_calls(monkeypatch) -> list[str]:
    """The paths of the requests that reached the session middleware, as every page does."""
    calls: list[str] = []
    original = SessionMiddleware.process_request

    def spy(self, request):
        calls.append(request.path)
        return original(self, request)

    monkeypatch.setattr(SessionMiddleware, "process_request", spy)
    return calls


def test_a_delivery_is_stored_without_the_page_machinery(client, page_machinery_calls):
    response = post(client, BODY, signed_headers(BODY))

    assert response.status_code == 202
    assert WebhookEvent.objects.count() == 1
    assert page_machinery_calls == []
    client.get("/healthz")
    assert page_machinery_calls == ["/healthz"]  # the rest of the site still goes through it


@pytest.mark.parametrize("secure", [True, False], ids=["https", "http"])
def test_a_stored_delivery_carries_the_security_headers_of_any_page(client, secure):
    page = client.get("/healthz", secure=secure)

    response = client.generic(
        "POST",
        URL,
        BODY,
        content_type="application/json",
        headers=signed_headers(BODY),
        secure=secure,
    )

    assert response.status_code == 202
    assert security_headers(response) == security_headers(page)
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert ("Strict-Transport-Security" in response) is secure


OVERSIZED = b"x" * (257 * 1024)
REFUSALS: dict[str, tuple[Callable[[Client], HttpResponse], int]] = {
    "unsigned": (lambda client: post_over_https(client, BODY, {}), 400),
    "signed with another secret": (
        lambda client: post_over_https(client, BODY, signed_headers(BODY, secret=OTHER_SECRET)),
        401,
    ),
    "GET": (lambda client: client.get(URL, headers=signed_headers(BODY), secure=True), 405),
    "not JSON": (
        lambda client: post_over_https(client, BODY, signed_headers(BODY), "text/plain"),
        415,
    ),
    "over the size limit": (
        lambda client: post_over_https(client, OVERSIZED, signed_headers(OVERSIZED)),
        413,
    ),
}


@pytest.mark.parametrize("refusal", REFUSALS)
def test_refusals_on_the_fast_path_are_the_same_and_dressed_the_same(
    client, page_machinery_calls, refusal
):
    send, expected = REFUSALS[refusal]
    page = client.get("/healthz", secure=True)
    page_machinery_calls.clear()

    response = send(client)

    assert response.status_code == expected
    assert security_headers(response) == security_headers(page)
    assert page_machinery_calls == []
    assert not WebhookEvent.objects.exists()


def test_unusable_input_takes_the_whole_stack_and_gets_our_400_page(client):
    headers = {**signed_headers(BODY), "x-note": "a\x00b"}

    response = post_over_https(client, BODY, headers)

    assert response.status_code == 400
    assert "We could not understand that request" in response.content.decode()
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert not WebhookEvent.objects.exists()


def test_a_host_that_is_not_allowed_is_refused_as_on_every_page(client):
    response = client.generic(
        "POST",
        URL,
        BODY,
        content_type="application/json",
        headers={**signed_headers(BODY), "host": "evil.example"},
    )

    assert response.status_code == 400
    assert response["X-Frame-Options"] == "DENY"
    assert not WebhookEvent.objects.exists()


def test_the_intake_runs_with_no_tenant_scope_whatever_the_caller_had(client, monkeypatch):
    # The sandbox delivers in-process from a context with scopes disabled; a tenant query
    # made by the intake must still fail closed, as for any anonymous request (T3).
    seen: list[dict] = []

    def receive(*, webhook_id: str, body: bytes) -> bool:
        seen.append(dict(get_scope()))
        return True

    monkeypatch.setattr(webhooks, "webhook_event_receive", receive)

    with scopes_disabled():
        response = post(client, BODY, signed_headers(BODY))

    assert response.status_code == 202
    assert seen == [{"_enabled": True}]


def test_the_webhook_is_not_redirected_to_https_while_pages_are(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert post(client, BODY, signed_headers(BODY)).status_code == 202
    assert client.get("/healthz").status_code == 200  # exempt, for the load balancer
    assert client.get("/privacy/").status_code == 301


def test_were_the_webhook_not_exempt_it_would_be_redirected_like_a_page(client, settings):
    # The exemption is a setting the fast path honours, not one it bypasses.
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = []

    response = post(client, BODY, signed_headers(BODY))

    assert response.status_code == 301
    assert not WebhookEvent.objects.exists()
