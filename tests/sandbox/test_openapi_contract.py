"""Every sandbox API response is checked against Codat's OpenAPI document.

The `api` and `sandbox_http` fixtures run that check on each response they see, so every test in
this package is also a contract test. This module walks every operation the sandbox serves, happy
paths and errors, and proves the check is not vacuous.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine

from codat_sandbox import timeline

from . import openapi
from .steps import basic_auth, connect, link_path

OPERATIONS = {
    ("POST", "/companies"),
    ("GET", "/companies"),
    ("GET", "/companies/{companyId}"),
    ("PUT", "/companies/{companyId}"),
    ("PATCH", "/companies/{companyId}"),
    ("DELETE", "/companies/{companyId}"),
    ("POST", "/companies/{companyId}/connections"),
    ("GET", "/companies/{companyId}/connections"),
    ("GET", "/companies/{companyId}/connections/{connectionId}"),
    ("PATCH", "/companies/{companyId}/connections/{connectionId}"),
    ("DELETE", "/companies/{companyId}/connections/{connectionId}"),
    ("GET", "/integrations"),
    ("GET", "/integrations/{platformKey}"),
    ("GET", "/integrations/{platformKey}/branding"),
    ("GET", "/companies/{companyId}/syncSettings"),
    ("POST", "/companies/{companyId}/syncSettings"),
    ("POST", "/companies/{companyId}/data/queue/{dataType}"),
    ("POST", "/companies/{companyId}/data/all"),
    ("GET", "/companies/{companyId}/dataStatus"),
    ("GET", "/companies/{companyId}/data/history"),
    ("GET", "/companies/{companyId}/data/history/{datasetId}"),
    ("GET", "/profile"),
    ("PUT", "/profile"),
    ("GET", "/profile/syncSettings"),
    ("POST", "/profile/syncSettings"),
    ("GET", "/webhooks"),
    ("POST", "/webhooks"),
    ("DELETE", "/webhooks/{webhookId}"),
}


def test_every_operation_and_its_errors_match_codats_spec(sandbox_http, contract, client):
    start = len(contract.exercised)
    http = sandbox_http

    company = http.post(
        "/companies", json={"name": "Contract (Test)", "tags": {"uid": "c-1"}}
    ).json()
    cid = company["id"]
    http.post("/companies", json={"tags": {"k" * 28: "v"}})  # 400
    http.get("/companies", params={"tags": "uid=c-1", "page": 1, "pageSize": 1})
    http.get("/companies", params={"tags": "uid"})  # 400
    http.get("/companies", headers={"Authorization": basic_auth("nope")})  # 401
    http.get(f"/companies/{cid}")
    http.get("/companies/00000000-0000-0000-0000-000000000000")  # 404
    http.put(f"/companies/{cid}", json={"name": "Contract Two"})
    http.patch(f"/companies/{cid}", json={"description": "patched"})

    pending = http.post(f"/companies/{cid}/connections", json={"platformKey": "mqjo"}).json()
    http.post(f"/companies/{cid}/connections", json={"platformKey": "nope"})  # 400
    client.post(link_path_from(pending), {"outcome": "cancel"})
    errored = http.get(f"/companies/{cid}/connections/{pending['id']}").json()
    assert errored["dataConnectionErrors"][0]["status"] == "Active"
    client.post(link_path_from(pending), {"outcome": "authorize"})
    linked = http.get(f"/companies/{cid}/connections/{pending['id']}").json()
    assert linked["dataConnectionErrors"][0]["status"] == "Resolved"
    exercise_data_operations(http, cid)
    http.post(f"/companies/{cid}/connections", json={"platformKey": "gbol"})  # 400: rule
    http.get(f"/companies/{cid}/connections", params={"query": "status=Linked"})
    http.get(f"/companies/{cid}/connections", params={"query": "colour=red"})  # 400
    http.patch(f"/companies/{cid}/connections/{pending['id']}", json={"status": "Unlinked"})
    http.patch(f"/companies/{cid}/connections/{pending['id']}", json={"status": "Unlinked"})  # 400
    http.get(f"/companies/{cid}/connections/{pending['id']}")
    http.get(f"/companies/{cid}/connections/nope")  # 404
    http.get(f"/companies/{cid}")  # with a connection carrying errors
    http.delete(f"/companies/{cid}/connections/{pending['id']}")
    http.delete(f"/companies/{cid}/connections/{pending['id']}")  # 404

    http.get("/integrations", params={"query": "sourceType=Banking&&enabled=true"})
    http.get("/integrations", params={"query": "sourceType"})  # 400
    http.get("/integrations/gbol")
    http.get("/integrations/zzzz")  # 404
    http.get("/integrations/gbol/branding")
    http.get("/integrations/zzzz/branding")  # 404

    http.delete(f"/companies/{cid}")
    http.delete(f"/companies/{cid}")  # 404
    exercise_account_operations(http)

    seen = contract.exercised[start:]
    assert {(call.method, call.template) for call in seen} >= OPERATIONS
    statuses = {call.status for call in seen}
    assert {200, 204, 400, 401, 404} <= statuses


def exercise_data_operations(http, cid: str) -> None:
    """Sync settings, refreshes, status and history over a full simulated timeline."""
    http.get(f"/companies/{cid}/syncSettings")  # the defaults
    settings = [
        {"dataType": "invoices", "fetchOnFirstLink": True, "syncSchedule": 24, "syncOrder": 0},
        {"dataType": "itemReceipts", "fetchOnFirstLink": False, "syncSchedule": 0, "syncOrder": 1},
    ]
    body = {"companyId": cid, "settings": settings, "overridesDefaults": True}
    http.post(f"/companies/{cid}/syncSettings", json=body)
    http.post(f"/companies/{cid}/syncSettings", json=body | {"settings": [{"dataType": "x"}]})
    http.get(f"/companies/{cid}/syncSettings")
    http.get(f"/companies/{cid}/dataStatus")  # nothing yet
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        http.post(f"/companies/{cid}/data/all")
        queued = http.get(f"/companies/{cid}/data/history").json()["results"][0]
        http.post(f"/companies/{cid}/data/queue/invoices")  # 400: in progress
        http.post(f"/companies/{cid}/data/queue/nonsense")  # 400
        http.post(f"/companies/{cid}/data/queue/banking-transactions")  # 400: no bank
        http.post(f"/companies/{cid}/data/queue/itemReceipts")  # 200 Queued
        http.get(f"/companies/{cid}/dataStatus")  # Queued
        clock.shift(timeline.QUEUED_SECONDS + 0.5)
        http.get(f"/companies/{cid}/data/history/{queued['id']}")  # Fetching
        clock.shift(timeline.SYNC_SECONDS_MAX)
        http.get(f"/companies/{cid}/data/history/{queued['id']}")  # Complete
        http.get(f"/companies/{cid}/data/history/00000000-0000-0000-0000-000000000000")  # 404
        http.get(f"/companies/{cid}/data/history", params={"query": "status=Complete"})
        http.get(f"/companies/{cid}/data/history", params={"query": "isCompleted=true"})  # 400
        http.get(f"/companies/{cid}/dataStatus")  # Complete, with lastSuccessfulSync
        http.get(f"/companies/{cid}/connections")  # connections with lastSync
        http.get(f"/companies/{cid}")


def exercise_account_operations(http) -> None:
    """The profile, client-wide sync settings and webhook consumers."""
    http.get("/profile")  # a fresh account's
    http.put("/profile", json={"name": "Contract", "redirectUrl": "https://a.example/{companyId}"})
    http.put("/profile", json={"name": "Contract"})  # 400
    http.get("/profile")
    client = http.get("/profile/syncSettings").json()
    off = {"dataType": "invoices", "fetchOnFirstLink": False, "syncSchedule": 0, "syncOrder": 0}
    http.post(
        "/profile/syncSettings",
        json={"clientId": client["clientId"], "settings": [off], "overridesDefaults": True},
    )
    http.post("/profile/syncSettings", json={"settings": [off]})  # 400
    http.get("/profile/syncSettings")
    http.get("/webhooks")  # none
    consumer = http.post(
        "/webhooks", json={"url": "https://a.example/hooks", "eventTypes": ["read.completed"]}
    ).json()
    http.post("/webhooks", json={"url": "nope"})  # 400
    http.get("/webhooks")
    http.delete(f"/webhooks/{consumer['id']}")
    http.delete(f"/webhooks/{consumer['id']}")  # 404


def link_path_from(connection_json: dict) -> str:
    return "/sandbox/link/" + connection_json["linkUrl"].split("/sandbox/link/", 1)[1]


def test_the_check_rejects_an_extra_property_on_a_connection(api, contract, bakery):
    body = api.get(f"/companies/{bakery.id}/connections/{connect(bakery, 'mqjo').id}").json()
    body["integrationName"] = "extra"

    with pytest.raises(pytest.fail.Exception, match="Additional properties"):
        contract.check(
            "GET",
            f"/sandbox/codat/companies/{bakery.id}/connections/{body['id']}",
            200,
            json.dumps(body).encode(),
            "application/json",
        )


def test_the_check_rejects_a_null_last_sync(api, contract, bakery):
    body = api.get(f"/companies/{bakery.id}").json()
    body["lastSync"] = None

    with pytest.raises(pytest.fail.Exception, match="lastSync"):
        contract.check(
            "GET",
            f"/sandbox/codat/companies/{bakery.id}",
            200,
            json.dumps(body).encode(),
            "application/json",
        )


def test_the_check_insists_on_codats_error_keys(contract):
    with pytest.raises(AssertionError, match="correlationId"):
        contract.check(
            "GET",
            "/sandbox/codat/companies/x",
            404,
            json.dumps(
                {
                    "statusCode": 404,
                    "service": "PublicApi",
                    "error": "gone",
                    "canBeRetried": "Unknown",
                    "detailedErrorCode": 0,
                }
            ).encode(),
            "application/json",
        )


def test_a_missing_spec_fails_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setattr(openapi, "spec_path", lambda: tmp_path / "Codat-Platform.json")

    with pytest.raises(pytest.fail.Exception, match="Codat's OpenAPI document is missing"):
        openapi.load_spec.__wrapped__()


def test_link_pages_are_not_part_of_the_api(client, bakery):
    # The Link page is HTML for a browser; only /sandbox/codat/ speaks Codat's JSON.
    response = client.get(link_path(connect(bakery, "mqjo")))

    assert response["Content-Type"].startswith("text/html")
