"""Hostile JSON and query strings get Codat's 400 error body from the sandbox API, never its 500.

Each case used to end in the API's "There is a problem with our server" 500: the parser's
RecursionError, its ValueError for integers over 4,300 digits, PostgreSQL refusing a NUL in
text and jsonb, a lone surrogate that cannot be encoded as UTF-8, a sync setting too big for
its integer column, Django refusing more than 1,000 query parameters.
"""

from __future__ import annotations

import json

import pytest

from codat_sandbox.models import SandboxCompany, SandboxSyncSetting

from .steps import connect

HOSTILE_BODIES = {
    "nested 100,000 deep": "[" * 100_000 + "]" * 100_000,
    "objects nested 50,000 deep": '{"name": ' * 50_000 + "1" + "}" * 50_000,
    "an integer of 5,000 digits": '{"name": 1' + "0" * 5000 + "}",
    "NaN": '{"name": NaN}',
    "Infinity": '{"name": "Acme", "description": Infinity}',
    "a NUL in the name": json.dumps({"name": "Acme\u0000"}),
    "a NUL in the description": json.dumps({"name": "Acme", "description": "a\u0000b"}),
    "a NUL in a tag value": json.dumps({"name": "Acme", "tags": {"uid": "c\u00001"}}),
    "a NUL in a tag key": json.dumps({"name": "Acme", "tags": {"u\u0000id": "c1"}}),
    "a lone surrogate": '{"name": "Acme", "description": "\\ud800"}',
    "bytes that are not UTF-8": b'{"name": "Acme \xff\xfe"}',
}


def assert_codats_400(response) -> dict:
    assert response.status_code == 400
    body = response.json()
    assert body["statusCode"] == 400
    assert body["error"].startswith("Error processing request")
    return body


@pytest.mark.parametrize("raw", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_hostile_body_creates_no_company_and_gets_a_400(api, raw):
    assert_codats_400(api.post("/companies", raw=raw))
    assert not SandboxCompany.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("raw", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_hostile_body_changes_no_company_and_gets_a_400(api, bakery, method, raw):
    before = SandboxCompany.objects.values().get()

    assert_codats_400(getattr(api, method)(f"/companies/{bakery.id}", raw=raw))
    assert SandboxCompany.objects.values().get() == before


@pytest.mark.parametrize("raw", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_hostile_bodies_are_refused_by_every_endpoint_that_reads_one(api, bakery, raw):
    connection = connect(bakery, "mqjo", linked=True)

    for method, path in [
        ("post", f"/companies/{bakery.id}/connections"),
        ("patch", f"/companies/{bakery.id}/connections/{connection.id}"),
        ("post", f"/companies/{bakery.id}/syncSettings"),
    ]:
        assert_codats_400(getattr(api, method)(path, raw=raw))
    connection.refresh_from_db()
    assert connection.status == "Linked"
    assert bakery.connections.count() == 1


@pytest.mark.parametrize(
    "numbers",
    [{"syncSchedule": 2**31}, {"syncOrder": 10**40}, {"monthsToSync": 10**300}],
    ids=["syncSchedule", "syncOrder", "monthsToSync"],
)
def test_sync_settings_beyond_an_integer_column_are_a_400(api, bakery, numbers):
    setting = {"dataType": "invoices", "fetchOnFirstLink": True, "syncSchedule": 24}
    body = {
        "companyId": str(bakery.id),
        "overridesDefaults": True,
        "settings": [{**setting, "syncOrder": 0, **numbers}],
    }

    response = api.post(f"/companies/{bakery.id}/syncSettings", body)

    assert response.status_code == 400
    assert "2147483647" in response.json()["error"]
    assert not SandboxSyncSetting.objects.filter(company=bakery).exists()


def test_the_largest_integer_a_sync_setting_holds_is_accepted(api, bakery):
    setting = {"dataType": "invoices", "fetchOnFirstLink": True, "syncSchedule": 2**31 - 1}
    body = {
        "companyId": str(bakery.id),
        "overridesDefaults": True,
        "settings": [{**setting, "syncOrder": 0}],
    }

    assert api.post(f"/companies/{bakery.id}/syncSettings", body).status_code == 204


@pytest.mark.parametrize(
    "query",
    ["query=name%3DAcme%00", "tags=uid%3D%00", "%00=1", "query=name%3D%ff%fe"],
    ids=["NUL in query", "NUL in tags", "NUL in a name", "not UTF-8"],
)
def test_unusable_query_strings_get_codats_400(api, bakery, query):
    body = assert_codats_400(api.get(f"/companies?{query}"))

    assert "the request contains" in body["error"]


def test_more_query_parameters_than_django_parses_get_codats_400(api, db):
    assert_codats_400(api.get("/companies?" + "&".join(["tags=uid%3Dx"] * 1100)))


def test_ordinary_text_with_accents_and_emoji_is_still_accepted(api):
    response = api.post("/companies", {"name": "Café Zoë", "description": "Ünïcode ☕ 🥐"})

    assert response.status_code == 200
    assert SandboxCompany.objects.get().description == "Ünïcode ☕ 🥐"
