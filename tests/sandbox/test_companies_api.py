"""Companies: create, list (paging, tags filter), get, change, delete — as Codat does them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from codat_sandbox.models import SandboxCompany, SandboxConnection

from .steps import connect

FROZEN = datetime(2026, 3, 4, 10, 45, 18, 195052, tzinfo=UTC)


@time_machine.travel(FROZEN, tick=False)
def test_creating_a_company_answers_200_with_codats_company(api, settings):
    response = api.post(
        "/companies",
        {"name": "Technicalium", "description": "Technology services", "tags": {"uid": "c1"}},
    )

    assert response.status_code == 200
    body = response.json()
    company = SandboxCompany.objects.get()
    assert body == {
        "id": str(company.id),
        "name": "Technicalium",
        "description": "Technology services",
        "redirect": f"{settings.SITE_URL}/sandbox/link/company/{company.id}",
        "created": "2026-03-04T10:45:18.195052Z",
        "products": [],
        "tags": {"uid": "c1"},
        "ownerUserIds": [],
        "referenceSubsidiaryCompanies": [],
        "dataConnections": [],
    }
    # Never synced: Codat leaves `lastSync` out rather than sending null.
    assert "lastSync" not in body


def test_a_name_alone_is_enough(api):
    body = api.post("/companies", {"name": "Bare"}).json()

    assert body["description"] == ""
    assert body["tags"] == {}


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Company (Codat[1])", "Company Codat1"),
        ("Bob's Bikes & Co, Ltd. @home?!", "Bob's Bikes & Co, Ltd. @home?!"),
        ("Ærø Café™ #1", "r Caf 1"),
        ("  Padded  ", "Padded"),
    ],
)
def test_forbidden_characters_in_the_name_are_stripped_not_refused(api, sent, stored):
    response = api.post("/companies", {"name": sent})

    assert response.status_code == 200
    assert response.json()["name"] == stored
    assert SandboxCompany.objects.get().name == stored


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": None},
        {"name": ""},
        {"name": "()[]{}"},
        {"name": 42},
        {"name": "x" * 256},
        {"name": "Ok", "description": 7},
    ],
)
def test_an_unusable_name_or_description_is_a_400(api, body):
    response = api.post("/companies", body)

    assert response.status_code == 400
    error = response.json()
    assert error["validation"]["errors"][0]["validatorName"] == "CreateCompany"
    assert not SandboxCompany.objects.exists()


def test_tags_at_the_limits_are_accepted(api):
    tags = {f"{i:02d}" + "k" * 25: "v" * 100 for i in range(10)}

    response = api.post("/companies", {"name": "Tagged", "tags": tags})

    assert response.status_code == 200
    assert response.json()["tags"] == tags


@pytest.mark.parametrize(
    ("tags", "complaint"),
    [
        ({str(i): "v" for i in range(11)}, "at most 10 tags"),
        ({"k" * 28: "v"}, "1 to 27 characters"),
        ({"": "v"}, "1 to 27 characters"),
        ({"uid": "v" * 101}, "100 characters or fewer"),
        ({"uid": 123}, "must be a string"),
        (["uid"], "must be an object"),
    ],
)
def test_tags_beyond_codats_limits_are_a_400(api, tags, complaint):
    response = api.post("/companies", {"name": "Tagged", "tags": tags})

    assert response.status_code == 400
    assert complaint in response.json()["error"]
    assert response.json()["validation"]["errors"][0]["itemId"] == "tags"


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '"a string"', ""])
def test_a_body_that_is_not_a_json_object_is_a_400(api, raw):
    response = api.post("/companies", raw=raw)

    assert response.status_code == 400
    assert response.json()["error"].startswith("Error processing request")


def test_getting_a_company_includes_its_connections(api, bakery):
    connection = connect(bakery, "mqjo")

    body = api.get(f"/companies/{bakery.id}").json()

    assert body["id"] == str(bakery.id)
    assert [c["id"] for c in body["dataConnections"]] == [str(connection.id)]
    assert body["dataConnections"][0]["status"] == "PendingAuth"


@pytest.mark.parametrize(
    "company_id", ["5b1bdc47-8f4f-4b37-a0b4-3e6c1d0f6a11", "not-a-uuid", "12345"]
)
def test_an_unknown_or_malformed_company_id_is_codats_404(api, company_id):
    response = api.get(f"/companies/{company_id}")

    assert response.status_code == 404
    body = response.json()
    assert body["error"] == f"No company was found with ID {company_id}"
    assert body["service"] == "ClientsApi"


def test_a_trailing_slash_is_tolerated(api, bakery):
    assert api.get(f"/companies/{bakery.id}/").status_code == 200


def test_deleting_a_company_answers_204_and_takes_its_connections(api, bakery):
    connect(bakery, "mqjo", linked=True)
    connect(bakery, "qhnd")

    response = api.delete(f"/companies/{bakery.id}")

    assert response.status_code == 204
    assert response.content == b""
    assert not SandboxCompany.objects.exists()
    assert not SandboxConnection.objects.exists()
    assert api.get(f"/companies/{bakery.id}").status_code == 404
    assert api.delete(f"/companies/{bakery.id}").status_code == 404


def test_put_replaces_name_description_and_tags(api, bakery):
    response = api.put(f"/companies/{bakery.id}", {"name": "Bramble (New) Bakery"})

    assert response.status_code == 200
    assert response.json()["name"] == "Bramble New Bakery"
    assert response.json()["description"] == ""
    assert response.json()["tags"] == {}


def test_patch_changes_only_what_is_sent(api, bakery):
    response = api.patch(f"/companies/{bakery.id}", {"description": "Wholesale"})

    assert response.status_code == 200
    assert response.json()["name"] == "Bramble Bakery"
    assert response.json()["description"] == "Wholesale"
    assert response.json()["tags"] == {"uid": "cust_123", "region": "uk"}


def test_patch_with_empty_tags_removes_them_as_codat_warns(api, bakery):
    assert api.patch(f"/companies/{bakery.id}", {"tags": {}}).json()["tags"] == {}


def test_an_unsupported_method_is_a_405_with_codats_body(api, bakery):
    response = api.post(f"/companies/{bakery.id}", {"name": "x"})

    assert response.status_code == 405
    assert response["Allow"] == "GET, PUT, PATCH, DELETE"


def test_an_unknown_api_path_is_a_json_404(api):
    response = api.get("/companies/x/y/z/unknown")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
