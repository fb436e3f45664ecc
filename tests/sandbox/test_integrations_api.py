"""Integrations: the catalogue, its `query` filter, one integration and its branding."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings

from codat_sandbox.integrations import all_integrations

from .steps import connect

ALL_KEYS = ["mqjo", "qhnd", "aiwb", "gbol", "qhyg", "tgff", "suuo", "upvr", "fztf", "exgd", "zsth"]


def keys(body) -> list[str]:
    return [integration["key"] for integration in body["results"]]


def test_the_catalogue_lists_every_integration_on_one_default_page(api):
    body = api.get("/integrations").json()

    assert keys(body) == ALL_KEYS
    assert body["totalResults"] == 11
    assert body["_links"] == {
        "self": {"href": "/integrations"},
        "current": {"href": "/integrations?page=1&pageSize=100"},
    }


def test_xero_carries_codats_real_ids_and_our_own_logo(api, settings):
    body = api.get("/integrations/gbol").json()

    assert body["name"] == "Xero"
    assert body["sourceType"] == "Accounting"
    assert body["integrationId"] == "0f20c943-12d0-4800-9f6c-d218f62d494c"
    assert body["sourceId"] == "8a156a5a-39cb-4f9d-856e-76ef9b9a9607"
    assert body["enabled"] is True
    assert body["logoUrl"] == f"{settings.SITE_URL}/static/img/platforms/gbol.svg"
    assert {
        "datatype": "profitAndLoss",
        "supportedFeatures": [{"featureType": "Get", "featureState": "Release"}],
    } in body["datatypeFeatures"]


def test_every_logo_is_one_of_our_static_files(api, settings):
    static_dir = Path(django_settings.BASE_DIR) / "static"
    for integration in api.get("/integrations").json()["results"]:
        assert integration["logoUrl"].startswith(f"{settings.SITE_URL}/static/")
        relative = integration["logoUrl"].removeprefix(f"{settings.SITE_URL}/static/")
        svg = (static_dir / relative).read_text()
        assert svg.startswith("<svg") and "http" not in svg.replace(
            "http://www.w3.org/2000/svg", ""
        )


def test_integration_and_source_ids_are_unique_and_stable():
    integrations = all_integrations()
    assert len({i.integration_id for i in integrations}) == len(integrations)
    assert len({i.source_id for i in integrations}) == len(integrations)
    sandbox = next(i for i in integrations if i.key == "mqjo")
    assert sandbox.integration_id == "9e0cc03b-3868-4543-98c0-568f0f1b12a3"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sourceType=Accounting", ["mqjo", "gbol", "qhyg", "tgff"]),
        ("sourceType=accounting&&enabled=true", ["mqjo", "gbol", "qhyg", "tgff"]),
        ("enabled=true&&sourceType=banking", ["qhnd", "suuo", "upvr"]),
        ("SOURCETYPE = Commerce && Enabled = TRUE", ["aiwb", "fztf", "exgd", "zsth"]),
        ("enabled=false", []),
        ("name~sandbox", ["mqjo", "qhnd", "aiwb"]),
        ("sourceType!=Accounting&&sourceType!=Commerce", ["qhnd", "suuo", "upvr"]),
        ("key=gbol||key=suuo", ["gbol", "suuo"]),
    ],
)
def test_the_query_filters_case_insensitively(api, query, expected):
    assert keys(api.get(f"/integrations?query={quote(query)}").json()) == expected


def test_a_switched_off_integration_is_listed_as_disabled(api, settings):
    settings.CODAT_SANDBOX_DISABLED_INTEGRATIONS = ["upvr"]

    enabled_banking = api.get("/integrations?query=sourceType%3DBanking%26%26enabled%3Dtrue")
    disabled = api.get("/integrations?query=enabled%3Dfalse")

    assert keys(enabled_banking.json()) == ["qhnd", "suuo"]
    assert keys(disabled.json()) == ["upvr"]
    assert disabled.json()["results"][0]["enabled"] is False


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("sourceType", "Error parsing query - Malformed query."),
        ("sourceType>Accounting", "Error parsing query - Malformed query."),
        ("{enabled=true}", "Error parsing query - Malformed query."),
        ("enabled=true&&", "Error parsing query - Malformed query."),
        ("colour=red", "Error parsing query - Could not resolve property colour on Integration"),
    ],
)
def test_a_bad_query_is_a_400_in_codats_words(api, query, error):
    response = api.get(f"/integrations?query={quote(query)}")

    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["service"] == "ClientsApi"


def test_paging_the_catalogue(api):
    body = api.get("/integrations?page=2&pageSize=5").json()

    assert keys(body) == ALL_KEYS[5:10]
    assert body["_links"]["next"] == {"href": "/integrations?page=3&pageSize=5"}
    assert body["_links"]["previous"] == {"href": "/integrations?page=1&pageSize=5"}


def test_connection_counts_follow_the_sandbox_connections(api, bakery):
    connect(bakery, "qhnd", linked=True)
    connect(bakery, "qhnd")

    body = api.get("/integrations/qhnd").json()

    assert body["linkedConnectionsCount"] == 1
    assert body["totalConnectionsCount"] == 2


@pytest.mark.parametrize("key", ["zzzz", "GBOL", "gbol1"])
def test_an_unknown_integration_is_a_404(api, key):
    assert api.get(f"/integrations/{key}").status_code == 404
    assert api.get(f"/integrations/{key}/branding").status_code == 404


def test_branding_points_at_artwork_the_sandbox_serves_itself(api, settings):
    body = api.get("/integrations/suuo/branding").json()

    base = f"{settings.SITE_URL}/sandbox/assets/logos/suuo"
    assert body["sourceId"] == "d5fcb646-a54e-49dc-8ad5-5a3a11b99944"
    assert body["logo"]["square"]["image"] == {"src": f"{base}/square.svg", "alt": "Plaid icon"}
    assert body["logo"]["full"]["image"] == {"src": f"{base}/full.png", "alt": "Plaid logo"}
    assert body["button"] == {}


def test_the_branding_images_are_served_without_a_key_and_never_change(client):
    square = client.get("/sandbox/assets/logos/suuo/square.svg")
    full = client.get("/sandbox/assets/logos/suuo/full.png")

    assert square.status_code == 200
    assert square["Content-Type"] == "image/svg+xml"
    assert square.content.startswith(b"<svg ") and b"<title>Plaid</title>" in square.content
    assert b"<script" not in square.content
    assert full.status_code == 200
    assert full["Content-Type"] == "image/png"
    assert full.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert client.get("/sandbox/assets/logos/suuo/square.svg").content == square.content
    assert client.get("/sandbox/assets/logos/gbol/square.svg").content != square.content


@pytest.mark.parametrize(
    "path", ["/sandbox/assets/logos/zzzz/square.svg", "/sandbox/assets/logos/suuo/other.gif"]
)
def test_an_unknown_branding_image_is_a_404(client, path):
    assert client.get(path).status_code == 404


def test_integrations_are_read_only(api):
    assert api.post("/integrations", {}).status_code == 405


def test_a_crash_answers_with_codats_json_500_not_an_html_page(api, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("codat_sandbox.api.integration_json", explode)

    response = api.get("/integrations/gbol")

    assert response.status_code == 500
    assert response.json()["error"] == (
        "There is a problem with our server. Please try again later."
    )


def test_a_data_type_a_platform_lacks_is_shown_as_not_supported(api):
    features = {
        item["datatype"]: item["supportedFeatures"]
        for item in api.get("/integrations/gbol").json()["datatypeFeatures"]
    }

    assert features["itemReceipts"] == [{"featureType": "Get", "featureState": "NotSupported"}]
    assert features["invoices"] == [{"featureType": "Get", "featureState": "Release"}]
