"""The sandbox API accepts exactly Codat's header: `Basic ` + base64 of the API key alone."""

from __future__ import annotations

import base64

import pytest
from django.conf import settings

from .steps import basic_auth

KEY = settings.CODAT_SANDBOX_KEY
ENCODED_KEY = base64.b64encode(KEY.encode()).decode()


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        basic_auth("wrong-key"),
        # The development key is public: a demo deployment never accepts it (L2).
        basic_auth("sandbox"),
        # A username:password pair is not Codat's scheme, even with the right key in it.
        "Basic " + base64.b64encode(f"{KEY}:".encode()).decode(),
        "basic " + ENCODED_KEY,
        "Bearer " + ENCODED_KEY,
        f"Basic {KEY}",
        basic_auth(KEY) + " ",
    ],
)
def test_anything_but_the_exact_header_gets_codats_401(api, header):
    response = api.get("/companies", auth=header)

    assert response.status_code == 401
    body = response.json()
    assert body["statusCode"] == 401
    assert body["error"] == "Unauthorized"
    assert body["service"] == "PublicApi"
    assert body["canBeRetried"] == "Unknown"


def test_the_right_key_is_let_in(api):
    assert api.get("/companies").status_code == 200


def test_the_key_comes_from_settings(api, settings):
    settings.CODAT_SANDBOX_KEY = "another-key"

    assert api.get("/companies").status_code == 401
    assert api.get("/companies", auth=basic_auth("another-key")).status_code == 200


def test_authentication_is_checked_before_anything_else(api):
    unknown = "/companies/00000000-0000-0000-0000-000000000000"

    assert api.get(unknown, auth=None).status_code == 401
    assert api.post(unknown, {}, auth=None).status_code == 401
    assert api.get("/no-such-thing", auth=None).status_code == 401


def test_each_error_has_a_fresh_correlation_id(api):
    first = api.get("/companies", auth=None).json()["correlationId"]
    second = api.get("/companies", auth=None).json()["correlationId"]

    assert len(first) == 32 and first != second
