"""The client's account: its profile (the redirect URL), client-wide sync settings and webhook
consumers, as a fresh Codat account has them and as `PUT`/`POST` change them (docs/codat.md §4,
§6.2, §8.1). Every response is checked against Codat's spec by the `api` fixture."""

from __future__ import annotations

import pytest

from codat_sandbox.integrations import ALL_DATA_TYPES, SANDBOX_CLIENT_ID
from codat_sandbox.models import SandboxClientSyncSetting, SandboxWebhookConsumer

from .steps import connect

PROFILE = {
    "name": "Bramble Bank",
    "redirectUrl": "https://bank.example/connections/return/?companyId={companyId}",
    "logoUrl": "https://bank.example/logo.png",
    "whiteListUrls": ["https://bank.example"],
}


# --- the profile ------------------------------------------------------------------------------


def test_a_fresh_account_has_no_redirect_url(api, db):
    response = api.get("/profile")

    assert response.status_code == 200
    assert response.json()["redirectUrl"] == ""
    assert response.json()["name"]


def test_put_replaces_the_profile_and_get_shows_it(api, db):
    response = api.put("/profile", PROFILE)

    assert response.status_code == 200
    assert response.json() == PROFILE
    assert api.get("/profile").json() == PROFILE


def test_fields_left_out_of_a_put_are_cleared(api, db):
    api.put("/profile", PROFILE)

    api.put("/profile", {"name": "Bramble Bank", "redirectUrl": PROFILE["redirectUrl"]})

    assert api.get("/profile").json() == {
        "name": "Bramble Bank",
        "redirectUrl": PROFILE["redirectUrl"],
        "whiteListUrls": [],
    }


def test_the_api_key_is_neither_taken_nor_shown(api, db):
    api.put("/profile", PROFILE | {"apiKey": "sartANTjHAkLdbyDfaynoTQb7pkmj6hXHmnQKMrB"})

    assert "apiKey" not in api.get("/profile").json()


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        (lambda b: b.pop("name"), "name"),
        (lambda b: b.update(name=""), "name"),
        (lambda b: b.pop("redirectUrl"), "redirectUrl"),
        (lambda b: b.update(redirectUrl="/relative/{companyId}"), "redirectUrl"),
        (lambda b: b.update(redirectUrl=["https://bank.example"]), "redirectUrl"),
        (lambda b: b.update(whiteListUrls="https://bank.example"), "whiteListUrls"),
        (lambda b: b.update(whiteListUrls=["bank.example"]), "whiteListUrls"),
        (lambda b: b.update(confirmCompanyName="yes"), "confirmCompanyName"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_profile_breaking_codats_schema_is_refused(api, db, change, mentions):
    sent = dict(PROFILE)
    change(sent)

    response = api.put("/profile", sent)

    assert response.status_code == 400
    assert mentions in response.json()["error"]
    assert api.get("/profile").json()["redirectUrl"] == ""


def test_other_methods_on_the_profile_are_405(api, db):
    assert api.post("/profile", PROFILE).status_code == 405


# --- client-wide sync settings ----------------------------------------------------------------


def client_body(*settings: dict, overrides_defaults: bool = True) -> dict:
    return {
        "clientId": SANDBOX_CLIENT_ID,
        "settings": list(settings),
        "overridesDefaults": overrides_defaults,
    }


def off(data_type: str) -> dict:
    return {"dataType": data_type, "fetchOnFirstLink": False, "syncSchedule": 0, "syncOrder": 0}


def test_a_fresh_account_fetches_every_type_on_first_link_and_daily(api, db):
    data = api.get("/profile/syncSettings").json()

    assert data["clientId"] == SANDBOX_CLIENT_ID
    assert data["overridesDefaults"] is False
    assert [item["dataType"] for item in data["settings"]] == list(ALL_DATA_TYPES)
    assert all(item["fetchOnFirstLink"] for item in data["settings"])
    assert {item["syncSchedule"] for item in data["settings"]} == {24}


def test_posting_client_settings_answers_204_and_changes_what_get_shows(api, db):
    sent = client_body(*(off(data_type) for data_type in ALL_DATA_TYPES))

    response = api.post("/profile/syncSettings", sent)

    assert response.status_code == 204
    assert response.content == b""
    assert api.get("/profile/syncSettings").json() == sent


def test_a_type_left_out_of_the_client_settings_keeps_codats_default(api, db):
    api.post("/profile/syncSettings", client_body(off("invoices")))

    settings = {
        item["dataType"]: item for item in api.get("/profile/syncSettings").json()["settings"]
    }

    assert settings["invoices"]["fetchOnFirstLink"] is False
    assert settings["bills"]["fetchOnFirstLink"] is True
    assert settings["bills"]["syncSchedule"] == 24


def test_client_settings_decide_what_a_company_without_its_own_fetches(api, bakery):
    api.post(
        "/profile/syncSettings", client_body(*(off(t) for t in ALL_DATA_TYPES if t != "bills"))
    )

    connection = connect(bakery, "gbol", linked=True)

    assert list(connection.datasets.values_list("data_type", flat=True)) == ["bills"]


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        (lambda b: b.pop("clientId"), "clientId"),
        (lambda b: b.update(clientId="0498e921-9b53-4396-a412-4f2f5983b0a2"), "clientId"),
        (lambda b: b.pop("settings"), "settings"),
        (lambda b: b.pop("overridesDefaults"), "overridesDefaults"),
        (lambda b: b["settings"][0].update(dataType="spreadsheets"), "spreadsheets"),
        (lambda b: b["settings"][0].pop("syncSchedule"), "syncSchedule"),
        (lambda b: b["settings"].append(off("invoices")), "more than once"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_client_settings_breaking_codats_schema_are_refused(api, db, change, mentions):
    sent = client_body(off("invoices"))
    change(sent)

    response = api.post("/profile/syncSettings", sent)

    assert response.status_code == 400
    assert mentions in response.json()["error"]
    assert not SandboxClientSyncSetting.objects.exists()


# --- webhook consumers ------------------------------------------------------------------------

CONSUMER = {
    "url": "https://bank.example/webhooks/codat/",
    "eventTypes": ["connection.connected", "read.completed"],
}


def test_a_fresh_account_has_no_webhook_consumer(api, db):
    response = api.get("/webhooks")

    assert response.status_code == 200
    assert response.json() == {"results": []}


def test_creating_a_consumer_answers_201_and_lists_it(api, db):
    response = api.post("/webhooks", CONSUMER)

    assert response.status_code == 201
    created = response.json()
    assert created == CONSUMER | {"id": created["id"], "disabled": False, "companyTags": []}
    assert "secret" not in str(created).lower()
    assert api.get("/webhooks").json() == {"results": [created]}


def test_two_consumers_for_one_url_are_two_consumers(api, db):
    api.post("/webhooks", CONSUMER)
    api.post("/webhooks", CONSUMER | {"disabled": True, "companyTags": ["region:uk"]})

    listed = api.get("/webhooks").json()["results"]

    assert [(item["disabled"], item["companyTags"]) for item in listed] == [
        (False, []),
        (True, ["region:uk"]),
    ]


def test_deleting_a_consumer_answers_204_then_404(api, db):
    consumer_id = api.post("/webhooks", CONSUMER).json()["id"]

    first = api.delete(f"/webhooks/{consumer_id}")
    second = api.delete(f"/webhooks/{consumer_id}")

    assert first.status_code == 204
    assert first.content == b""
    assert second.status_code == 404
    assert api.delete("/webhooks/not-a-uuid").status_code == 404
    assert api.get("/webhooks").json() == {"results": []}


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        (lambda b: b.pop("url"), "url"),
        (lambda b: b.update(url="webhooks/codat"), "url"),
        (lambda b: b.update(eventTypes="read.completed"), "eventTypes"),
        (lambda b: b.update(eventTypes=[""]), "eventTypes"),
        (lambda b: b.update(disabled="no"), "disabled"),
        (lambda b: b.update(companyTags=["region"]), "companyTags"),
        (lambda b: b.update(companyTags=[f"k:{n}" for n in range(11)]), "companyTags"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_consumer_breaking_codats_schema_is_refused(api, db, change, mentions):
    sent = dict(CONSUMER)
    change(sent)

    response = api.post("/webhooks", sent)

    assert response.status_code == 400
    assert mentions in response.json()["error"]
    assert not SandboxWebhookConsumer.objects.exists()


def test_an_account_holds_at_most_fifty_consumers(api, db):
    for number in range(50):
        assert api.post("/webhooks", {"url": f"https://bank.example/{number}"}).status_code == 201

    response = api.post("/webhooks", CONSUMER)

    assert response.status_code == 400
    assert "limited to 50" in response.json()["error"]


def test_other_methods_on_consumers_are_405(api, db):
    consumer_id = api.post("/webhooks", CONSUMER).json()["id"]

    assert api.put(f"/webhooks/{consumer_id}", CONSUMER).status_code == 405
    assert api.delete("/webhooks").status_code == 405
