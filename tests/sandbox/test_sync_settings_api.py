"""Company sync settings: GET shows them, POST replaces them (docs/codat.md §6.2).

A company without settings of its own follows the client-wide ones, which on a fresh Codat
account are Codat's defaults: every type fetched on first link and refreshed daily.
"""

from __future__ import annotations

import pytest

from codat_sandbox.integrations import ALL_DATA_TYPES
from codat_sandbox.models import SandboxSyncSetting

from .openapi import load_spec
from .steps import client_fetches_nothing, sync_settings


def body(company, *settings: dict, overrides_defaults: bool = True) -> dict:
    return {
        "companyId": str(company.id),
        "settings": list(settings),
        "overridesDefaults": overrides_defaults,
    }


def setting(data_type: str = "invoices", **extra) -> dict:
    return {
        "dataType": data_type,
        "fetchOnFirstLink": True,
        "syncSchedule": 24,
        "syncOrder": 0,
    } | extra


def test_a_company_without_settings_shows_codats_defaults_which_fetch_everything(api, bakery):
    response = api.get(f"/companies/{bakery.id}/syncSettings")

    assert response.status_code == 200
    data = response.json()
    assert data["companyId"] == str(bakery.id)
    assert data["overridesDefaults"] is False
    assert [item["dataType"] for item in data["settings"]] == list(ALL_DATA_TYPES)
    assert all(item["fetchOnFirstLink"] for item in data["settings"])
    assert {item["syncSchedule"] for item in data["settings"]} == {24}


def test_a_company_without_settings_shows_the_client_wide_ones_once_changed(api, bakery):
    client_fetches_nothing()

    data = api.get(f"/companies/{bakery.id}/syncSettings").json()

    assert not any(item["fetchOnFirstLink"] for item in data["settings"])
    assert {item["syncSchedule"] for item in data["settings"]} == {0}


def test_posting_settings_answers_204_and_get_returns_exactly_them(api, bakery):
    sent = body(
        bakery,
        setting("invoices", syncFromWindow=12, isLocked=False),
        setting(
            "banking-transactions",
            fetchOnFirstLink=False,
            syncOrder=1,
            syncFromUtc="2024-01-01T00:00:00Z",
            monthsToSync=6,
        ),
    )

    response = api.post(f"/companies/{bakery.id}/syncSettings", sent)

    assert response.status_code == 204
    assert response.content == b""
    assert api.get(f"/companies/{bakery.id}/syncSettings").json() == sent


def test_posting_again_replaces_the_settings_so_types_left_out_are_gone(api, bakery):
    sync_settings(bakery, "invoices", "bills")

    api.post(f"/companies/{bakery.id}/syncSettings", body(bakery, setting("bills")))

    assert list(bakery.sync_settings.values_list("data_type", flat=True)) == ["bills"]


def test_posting_an_empty_list_leaves_nothing_to_sync(api, bakery):
    sync_settings(bakery, "invoices")

    api.post(f"/companies/{bakery.id}/syncSettings", body(bakery, overrides_defaults=False))

    data = api.get(f"/companies/{bakery.id}/syncSettings").json()
    assert data == {"companyId": str(bakery.id), "settings": [], "overridesDefaults": False}


def test_an_unknown_data_type_is_refused_with_a_validation_entry(api, bakery):
    response = api.post(
        f"/companies/{bakery.id}/syncSettings", body(bakery, setting("spreadsheets"))
    )

    assert response.status_code == 400
    error = response.json()
    assert error["error"].startswith("SyncSettingsValidationException:")
    assert "spreadsheets" in error["error"]
    assert error["validation"]["errors"][0]["itemId"] == "settings[0]"
    assert not SandboxSyncSetting.objects.exists()


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        (lambda b: b.pop("companyId"), "companyId"),
        (lambda b: b.pop("settings"), "settings"),
        (lambda b: b.pop("overridesDefaults"), "overridesDefaults"),
        (lambda b: b.update(companyId="0498e921-9b53-4396-a412-4f2f5983b0a2"), "companyId"),
        (lambda b: b.update(overridesDefaults="yes"), "overridesDefaults"),
        (lambda b: b.update(settings={"dataType": "invoices"}), "array"),
        (lambda b: b["settings"].append("invoices"), "object"),
        (lambda b: b["settings"][0].pop("dataType"), "dataType"),
        (lambda b: b["settings"][0].pop("fetchOnFirstLink"), "fetchOnFirstLink"),
        (lambda b: b["settings"][0].update(fetchOnFirstLink="true"), "fetchOnFirstLink"),
        (lambda b: b["settings"][0].pop("syncSchedule"), "syncSchedule"),
        (lambda b: b["settings"][0].pop("syncOrder"), "syncOrder"),
        (lambda b: b["settings"][0].update(syncSchedule=-1), "syncSchedule"),
        (lambda b: b["settings"][0].update(syncSchedule=True), "syncSchedule"),
        (lambda b: b["settings"][0].update(syncSchedule=1.5), "syncSchedule"),
        (lambda b: b["settings"][0].update(syncFromUtc="last year"), "syncFromUtc"),
        (lambda b: b["settings"][0].update(syncFromUtc="2024-13-01T00:00:00Z"), "syncFromUtc"),
        (lambda b: b["settings"][0].update(syncFromWindow="12"), "syncFromWindow"),
        (lambda b: b["settings"][0].update(isLocked=1), "isLocked"),
        (lambda b: b["settings"].append(setting("invoices")), "more than once"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_body_breaking_the_specs_request_schema_is_refused(api, bakery, change, mentions):
    sent = body(bakery, setting("invoices"))
    change(sent)

    response = api.post(f"/companies/{bakery.id}/syncSettings", sent)

    assert response.status_code == 400
    assert mentions in response.json()["error"]
    assert not bakery.sync_settings.exists()


def test_every_body_the_sandbox_accepts_matches_the_specs_request_schema(api, bakery, contract):
    # The request side of the contract: what the sandbox takes, Codat's schema takes too.
    from openapi_schema_validator import OAS31Validator

    from .openapi import SPEC_URI

    operation = load_spec()["paths"]["/companies/{companyId}/syncSettings"]["post"]
    assert "application/json" in operation["requestBody"]["content"]
    validator = OAS31Validator(
        {
            "$ref": f"{SPEC_URI}#/paths/~1companies~1{{companyId}}~1syncSettings/post"
            "/requestBody/content/application~1json/schema"
        },
        registry=contract.registry,
        format_checker=OAS31Validator.FORMAT_CHECKER,
    )
    sent = body(
        bakery,
        setting("invoices", syncFromWindow=12, isLocked=True),
        setting("profitAndLoss", monthsToSync=24, syncFromUtc="2024-01-01T00:00:00Z"),
    )

    assert api.post(f"/companies/{bakery.id}/syncSettings", sent).status_code == 204
    assert list(validator.iter_errors(sent)) == []


def test_a_body_that_is_not_json_is_refused(api, bakery):
    response = api.post(f"/companies/{bakery.id}/syncSettings", raw=b"{nope")

    assert response.status_code == 400


def test_settings_of_an_unknown_company_are_404(api, db):
    missing = "0498e921-9b53-4396-a412-4f2f5983b0a2"

    assert api.get(f"/companies/{missing}/syncSettings").status_code == 404
    response = api.post(
        f"/companies/{missing}/syncSettings",
        {"companyId": missing, "settings": [], "overridesDefaults": True},
    )
    assert response.status_code == 404


def test_other_methods_are_405(api, bakery):
    response = api.call("PUT", f"/companies/{bakery.id}/syncSettings", body(bakery))

    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"


def test_the_sandbox_knows_exactly_codats_data_type_keys():
    enum = load_spec()["components"]["schemas"]["DataStatus"]["properties"]["dataType"]["enum"]

    assert list(ALL_DATA_TYPES) == enum
