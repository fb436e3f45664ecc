"""L5: input no view can use is refused with our 400 page, on any route, before it reaches a query.

The security review's finding: `GET /admin/connections/webhookevent/?status__exact=%00` was a
500 on PostgreSQL, which refuses a NUL in any text. A quoted session cookie (`"…\\000"`) did the
same on every page. The fuzz matrix (test_fuzz_routes) sends everything everywhere; these pin
down what a client sees.
"""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT

from connections.models import WebhookEvent
from consents.models import ConsentEvent
from tests.webhooks.steps import SECRET, encode, signed_headers

pytestmark = pytest.mark.django_db

OUR_400_PAGE = "We could not understand that request"


@pytest.fixture
def staff_browser(staff) -> Client:
    # Server errors come back as responses, as a browser would see them.
    client = Client(raise_request_exception=False)
    client.force_login(staff)
    return client


@pytest.fixture
def browser() -> Client:
    return Client(raise_request_exception=False)


def assert_our_400(response) -> None:
    assert response.status_code == 400
    assert OUR_400_PAGE in response.content.decode()
    # Refused before the views, yet dressed like every other page (D3).
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    "query",
    [
        "status__exact=%00",
        "status__exact=%00processed",
        "event_type=a%00",
        "q=%00",
        "%00=1",
        "status__exact=a\x00",
    ],
)
def test_a_nul_in_an_admin_filter_is_our_400_not_a_500(staff_browser, query):
    WebhookEvent.objects.store_received(webhook_id="msg_1", body=b"{}")

    assert_our_400(staff_browser.get(f"/admin/connections/webhookevent/?{query}"))


@pytest.mark.parametrize(
    "url",
    [
        "/?next=%00",
        "/connections/return/?state=%00&companyId=x",
        "/accounts/login/?next=%2F%00",
        "/help/?q=%ff%fe",
        "/help/?%c0%af=1",
        "/help/?q=" + "a" * 9000,
        "/connections/%00/",
        "/products/lending%00/",
    ],
)
def test_unusable_query_strings_and_paths_are_our_400(browser, url):
    assert_our_400(browser.get(url))


def test_a_nul_in_a_quoted_session_cookie_is_our_400(browser):
    assert_our_400(browser.get("/", HTTP_COOKIE='sessionid="abcdefghij\\000"'))


def test_a_nul_in_a_header_is_our_400(browser):
    assert_our_400(browser.get("/", HTTP_USER_AGENT="Mozilla\x00"))


def test_a_nul_in_a_form_body_is_our_400_and_records_nothing(owner_client, lending):
    owner_client.raise_request_exception = False
    owner_client.get("/products/lending/consent/")
    before = ConsentEvent.objects.count()

    urlencoded = owner_client.post(
        "/products/lending/consent/",
        "agree=on&note=%00",
        content_type="application/x-www-form-urlencoded",
    )
    multipart = owner_client.post("/products/lending/consent/", {"agree": "on\x00"})
    not_utf8 = owner_client.post(
        "/products/lending/consent/",
        "agree=%ff",
        content_type="application/x-www-form-urlencoded",
    )

    for response in (urlencoded, multipart, not_utf8):
        assert_our_400(response)
    assert ConsentEvent.objects.count() == before


def test_a_multipart_field_that_is_not_utf8_is_our_400(browser):
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="username"\r\n\r\n'.encode()
        + b"\xff\xfe"
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )

    response = browser.generic("POST", "/accounts/login/", body, content_type=MULTIPART_CONTENT)

    assert_our_400(response)


def test_a_refusal_is_logged_as_a_security_warning(browser, caplog):
    with caplog.at_level(logging.WARNING, logger="consent_portal.security"):
        browser.get("/admin/connections/webhookevent/?status__exact=%00")

    [record] = [r for r in caplog.records if r.name == "consent_portal.security"]
    assert record.levelno == logging.WARNING
    assert "NUL" in record.getMessage()
    assert "\x00" not in record.getMessage()


@pytest.mark.parametrize(
    "url",
    [
        "/help/?q=caf%C3%A9+%F0%9F%A5%90",
        "/help/?q=" + "a" * 4000,
        "/connections/return/?state=abc&errorMessage=User+cancelled+%E2%80%94+try+again",
    ],
)
def test_ordinary_non_ascii_and_longish_query_strings_still_work(browser, url):
    assert browser.get(url).status_code != 400


def test_ordinary_forms_still_work(client):
    # The test client sends a dict as multipart, UTF-8 encoded.
    response = client.post(
        "/accounts/login/", {"username": "zoë@example.com", "password": "wrong ☕"}
    )

    assert response.status_code == 200  # the form again, with its error


def test_the_webhook_keeps_its_own_answers_for_its_body(browser):
    # The middleware does not read the webhook's body: a form body there still gets the
    # webhook's own 415, not the middleware's 400, and nothing is stored.
    response = browser.post(
        "/webhooks/codat/", "a=%00", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 415
    assert not WebhookEvent.objects.exists()


def test_a_nul_in_the_webhooks_query_string_is_refused_even_when_signed(browser, settings):
    settings.CODAT_WEBHOOK_SECRETS = [SECRET]
    body = encode({"eventType": "connection.created"})
    headers = {
        f"HTTP_{name.upper().replace('-', '_')}": value
        for name, value in signed_headers(body).items()
    }

    response = browser.generic(
        "POST", "/webhooks/codat/?x=%00", body, content_type="application/json", **headers
    )

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "/connections/not-a-uuid/",
        "/connections/not-a-uuid/disconnect/",
        "/connections/attempts/1234/",
        "/connections/00000000-0000-0000-0000-00000000000g/check/",
    ],
)
def test_a_malformed_uuid_in_the_path_is_a_404(owner_client, url):
    owner_client.raise_request_exception = False

    assert owner_client.get(url).status_code == 404
    assert owner_client.post(url).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "created_at__year=9999",
        "created_at__year=9999&created_at__month=12",
        "created_at__year=9999&created_at__month=12&created_at__day=31",
        "created_at__year=99999999999999999999",
        "created_at__year=2024&created_at__month=2&created_at__day=30",
    ],
)
def test_an_impossible_date_drill_down_in_the_admin_is_its_invalid_filter_redirect(
    staff_browser, acme, query
):
    response = staff_browser.get(f"/admin/companies/company/?{query}")

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_the_last_day_a_date_drill_down_can_show_still_works(staff_browser, acme):
    query = "created_at__year=9999&created_at__month=12&created_at__day=30"

    assert staff_browser.get(f"/admin/companies/company/?{query}").status_code == 200
