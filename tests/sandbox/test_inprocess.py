"""The in-process WSGI app: the app's httpx client reaches the sandbox without a socket, inside
the caller's database transaction."""

from __future__ import annotations

import io

import httpx
import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.http import HttpResponse

from codat_sandbox.inprocess import _headers, wsgi_app
from codat_sandbox.models import SandboxCompany

from .steps import AUTH


@pytest.mark.django_db
def test_the_sandbox_sees_rows_created_in_the_same_test_transaction():
    company = SandboxCompany.objects.create(name="Uncommitted Ltd")

    with httpx.Client(
        transport=httpx.WSGITransport(app=wsgi_app),
        base_url="http://testserver/sandbox/codat",
    ) as http:
        response = http.get(f"/companies/{company.id}", headers={"Authorization": AUTH})

    assert response.status_code == 200
    assert response.json()["name"] == "Uncommitted Ltd"


@pytest.mark.django_db
def test_the_test_sees_what_the_sandbox_wrote_and_its_transaction_survives(sandbox_http):
    assert connection.in_atomic_block

    created = sandbox_http.post("/companies", json={"name": "Made Over WSGI"}).json()
    listed = sandbox_http.get("/companies").json()

    assert SandboxCompany.objects.get(pk=created["id"]).name == "Made Over WSGI"
    assert listed["totalResults"] == 1
    # The connection was neither closed nor recycled by the nested request.
    assert connection.connection is not None
    assert connection.in_atomic_block


@pytest.mark.django_db
def test_the_connection_closing_receivers_are_restored_afterwards(sandbox_http):
    sandbox_http.get("/integrations")

    # `disconnect` reports whether the receiver was connected; put it straight back.
    for signal in (request_started, request_finished):
        assert signal.disconnect(close_old_connections)
        signal.connect(close_old_connections)


@pytest.mark.django_db
def test_a_full_journey_through_the_transport(sandbox_http):
    company = sandbox_http.post("/companies", json={"name": "Journey Co"}).json()
    connection = sandbox_http.post(
        f"/companies/{company['id']}/connections", json={"platformKey": "mqjo"}
    ).json()
    deleted = sandbox_http.delete(f"/companies/{company['id']}/connections/{connection['id']}")
    gone = sandbox_http.get(f"/companies/{company['id']}/connections/{connection['id']}")

    assert connection["status"] == "PendingAuth"
    assert deleted.status_code == 200 and deleted.content == b""
    assert gone.status_code == 404
    assert gone.json()["error"] == f"Data connection {connection['id']} not found"


def _environ(path: str, **extra: str) -> dict:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        **extra,
    }


class StartResponse:
    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info=None):
        self.status = status
        self.headers = headers
        return lambda data: None


@pytest.mark.django_db
def test_the_status_line_carries_the_reason_phrase():
    start_response = StartResponse()

    body = b"".join(wsgi_app(_environ("/sandbox/codat/companies"), start_response))

    assert start_response.status == "401 Unauthorized"
    assert ("Content-Type", "application/json") in start_response.headers
    assert b'"error": "Unauthorized"' in body


@pytest.mark.django_db
@pytest.mark.urls("tests.sandbox.streaming_urls")
def test_streaming_responses_and_several_cookies_are_passed_through():
    start_response = StartResponse()

    body = b"".join(wsgi_app(_environ("/stream"), start_response))

    assert start_response.status == "200 OK"
    assert body == b"first,second"
    cookies = [value for name, value in start_response.headers if name == "Set-Cookie"]
    assert len(cookies) == 2
    assert cookies[0].startswith("one=1")
    assert "HttpOnly" in cookies[1]
    assert connection.in_atomic_block


@pytest.mark.django_db
@pytest.mark.urls("tests.sandbox.streaming_urls")
def test_httpx_sees_both_cookies():
    with httpx.Client(
        transport=httpx.WSGITransport(app=wsgi_app), base_url="http://testserver"
    ) as http:
        response = http.get("/stream")

    assert response.text == "first,second"
    assert len(response.headers.get_list("set-cookie")) == 2
    assert dict(response.cookies) == {"one": "1", "two": "2"}


def test_headers_keep_each_cookie_separate():
    response = HttpResponse()
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")

    headers = _headers(response)

    assert [value.split(";")[0] for name, value in headers if name == "Set-Cookie"] == [
        "a=1",
        "b=2",
    ]


@pytest.mark.django_db
def test_settings_changed_by_a_test_reach_the_middleware(settings):
    with httpx.Client(
        transport=httpx.WSGITransport(app=wsgi_app), base_url="http://testserver"
    ) as http:
        assert http.get("/privacy/").status_code == 200
        settings.SECURE_SSL_REDIRECT = True  # read once, when SecurityMiddleware is built
        assert http.get("/privacy/").status_code == 301
