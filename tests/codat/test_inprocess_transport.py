"""`InProcessTransport`: a WSGI app in this process, answered within the request's read timeout."""

from __future__ import annotations

import time

import httpx
import pytest

from codat.transport import READ_DEADLINE_ENVIRON_KEY, InProcessTransport


def answering_app(seen: list[dict], *, delay: float = 0.0):
    def app(environ, start_response):
        seen.append(dict(environ))
        if delay:
            time.sleep(delay)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    return app


def test_the_app_is_told_when_the_client_stops_waiting():
    seen: list[dict] = []
    http = httpx.Client(
        transport=InProcessTransport(answering_app(seen)), timeout=httpx.Timeout(5.0, read=2.0)
    )

    before = time.monotonic()
    response = http.get("http://testserver/ping")
    after = time.monotonic()

    assert response.text == "hello"
    deadline = seen[0][READ_DEADLINE_ENVIRON_KEY]
    assert before + 2.0 <= deadline <= after + 2.0


def test_an_answer_later_than_the_read_timeout_is_a_read_timeout():
    # An app that ignores the deadline cannot be interrupted, but its late answer is not used.
    http = httpx.Client(
        transport=InProcessTransport(answering_app([], delay=0.15)),
        timeout=httpx.Timeout(5.0, read=0.05),
    )

    with pytest.raises(httpx.ReadTimeout):
        http.get("http://testserver/ping")


def test_without_a_read_timeout_the_app_is_waited_for():
    seen: list[dict] = []
    http = httpx.Client(transport=InProcessTransport(answering_app(seen, delay=0.05)), timeout=None)

    assert http.get("http://testserver/ping").text == "hello"
    assert READ_DEADLINE_ENVIRON_KEY not in seen[0]
