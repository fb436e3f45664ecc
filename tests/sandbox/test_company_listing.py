"""Listing companies: Codat's paged envelope, `_links`, and the `tags` filter."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from codat_sandbox import services


@pytest.fixture
def five_companies(db):
    tagged = [
        {"uid": "cust_1", "region": "uk", "team": "invoice-finance"},
        {"uid": "cust_2", "region": "uk", "team": "lending"},
        {"uid": "cust_3", "region": "us", "team": "invoice-finance"},
        {"uid": "cust_4"},
        {},
    ]
    return [
        services.company_create(name=f"Company {i}", tags=tags) for i, tags in enumerate(tagged)
    ]


def test_the_default_page_is_1_of_100_with_self_and_current_links(api, five_companies):
    body = api.get("/companies").json()

    assert [c["name"] for c in body["results"]] == [f"Company {i}" for i in range(5)]
    assert body["pageNumber"] == 1
    assert body["pageSize"] == 100
    assert body["totalResults"] == 5
    assert body["_links"] == {
        "self": {"href": "/companies"},
        "current": {"href": "/companies?page=1&pageSize=100"},
    }


def test_middle_pages_link_to_next_and_previous_keeping_other_parameters(api, five_companies):
    body = api.get("/companies?pageSize=2&page=2&orderBy=name").json()

    assert [c["name"] for c in body["results"]] == ["Company 2", "Company 3"]
    assert body["totalResults"] == 5
    assert body["_links"] == {
        "self": {"href": "/companies"},
        "current": {"href": "/companies?page=2&pageSize=2&orderBy=name"},
        "next": {"href": "/companies?page=3&pageSize=2&orderBy=name"},
        "previous": {"href": "/companies?page=1&pageSize=2&orderBy=name"},
    }


def test_the_last_page_has_no_next_link(api, five_companies):
    body = api.get("/companies?page=3&pageSize=2").json()

    assert [c["name"] for c in body["results"]] == ["Company 4"]
    assert set(body["_links"]) == {"self", "current", "previous"}


def test_a_page_past_the_end_is_empty_not_an_error(api, five_companies):
    body = api.get("/companies?page=9&pageSize=2").json()

    assert body["results"] == []
    assert body["totalResults"] == 5


@pytest.mark.parametrize(
    "query", ["page=0", "page=-1", "page=one", "pageSize=0", "pageSize=5001", "pageSize=1.5"]
)
def test_bad_paging_is_a_400(api, query):
    assert api.get(f"/companies?{query}").status_code == 400


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ("uid=cust_1", ["Company 0"]),
        ("region=uk", ["Company 0", "Company 1"]),
        # A company without the key is "not equal" to the value.
        ("region!=uk", ["Company 2", "Company 3", "Company 4"]),
        ("team~finance", ["Company 0", "Company 2"]),
        ("region=uk && team=invoice-finance", ["Company 0"]),
        ("region=uk&&team!=invoice-finance", ["Company 1"]),
        ("uid~cust && region!=us && team~i", ["Company 0", "Company 1"]),
        # Tags are identifiers: values compare exactly.
        ("region=UK", []),
        ("uid=", []),
    ],
)
def test_the_tags_filter_supports_equals_not_equals_and_contains(
    api, five_companies, tags, expected
):
    body = api.get(f"/companies?tags={quote(tags)}").json()

    assert [c["name"] for c in body["results"]] == expected
    assert body["totalResults"] == len(expected)
    assert (
        body["_links"]["current"]["href"]
        == f"/companies?page=1&pageSize=100&tags={quote(tags, safe='')}"
    )


@pytest.mark.parametrize("tags", ["region", "region uk", "=uk", "region=uk && "])
def test_a_malformed_tags_filter_is_a_400(api, five_companies, tags):
    response = api.get(f"/companies?tags={quote(tags)}")

    assert response.status_code == 400
    assert response.json()["error"] == "Error parsing query - Malformed query."


def test_the_query_parameter_filters_on_company_properties(api, five_companies):
    body = api.get("/companies?query=name%3Dcompany%203").json()

    assert [c["name"] for c in body["results"]] == ["Company 3"]


def test_a_query_on_an_unknown_property_is_a_400(api, five_companies):
    response = api.get("/companies?query=colour%3Dred")

    assert response.status_code == 400
    assert response.json()["error"] == (
        "Error parsing query - Could not resolve property colour on Company"
    )
