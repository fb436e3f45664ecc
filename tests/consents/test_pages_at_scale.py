"""Pages that show a history cost the same however long it grows: My consents, a consent's
page, the printable receipt and the connections page run the same queries and send about the
same bytes at 1 and at 1,000 rows of history; the JSON receipt streams every row."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from companies.scoping import scope
from consents.selectors import HISTORY_PAGE_SIZE
from tests.consents.steps import grant, history_add
from tests.fakes import link_bank, link_xero

pytestmark = pytest.mark.django_db

PAGES = ("/consents/", "/consents/lending/", "/consents/receipt/", "/connections/")


def add_history(company, rows: int) -> None:
    """`rows` more consent decisions, access changes and disconnected connections, in bulk,
    spread over the past."""
    history_add(
        company,
        decisions=rows,
        disconnected=rows,
        start=timezone.now() - timedelta(days=400),
    )


def measure(client) -> dict[str, tuple[int, int]]:
    """Each page's (queries, bytes)."""
    measured = {}
    for path in PAGES:
        with CaptureQueriesContext(db) as queries:
            response = client.get(path)
        assert response.status_code == 200, path
        measured[path] = (len(queries), len(response.content))
    return measured


@pytest.fixture
def story(owner_client, acme, lending):
    link_xero(acme)
    link_bank(acme)
    grant(owner_client, "lending")
    return acme


def test_history_pages_cost_the_same_at_1_and_at_1000_rows(owner_client, story):
    add_history(story, 1)
    small = measure(owner_client)

    add_history(story, 999)
    large = measure(owner_client)

    for path in PAGES:
        (queries_small, bytes_small), (queries_large, bytes_large) = small[path], large[path]
        assert queries_large == queries_small, path
        # A page's worth of entries more, not a thousand rows' worth.
        assert bytes_large < bytes_small + 60 * 1024, (path, bytes_small, bytes_large)


def test_the_latest_history_comes_first_and_earlier_pages_follow(owner_client, story):
    add_history(story, HISTORY_PAGE_SIZE)
    latest = owner_client.get("/consents/").content.decode()
    earlier = owner_client.get("/consents/?page=2").content.decode()

    # The grant, just now, is on the first page; the oldest copied rows are not.
    assert "<strong>Granted</strong>" in latest
    assert "<strong>Granted</strong>" not in earlier
    assert 'href="?page=2#history" rel="next">Earlier events</a>' in latest
    assert 'rel="prev">Later events</a>' in earlier
    assert "<strong>Reconfirmed</strong>" in earlier


def test_the_connections_page_lists_the_latest_disconnections_only(owner_client, story):
    add_history(story, 30)

    page = owner_client.get("/connections/").content.decode()

    assert "Old Xero 29" in page and "Old Xero 0<" not in page
    assert "Only the latest 20 are listed" in page


def test_the_json_receipt_streams_every_row_in_the_same_queries(owner_client, story):
    add_history(story, 1)
    with CaptureQueriesContext(db) as small_queries:
        small = json.loads(owner_client.get("/consents/receipt.json").getvalue())
    add_history(story, 999)
    with CaptureQueriesContext(db) as large_queries:
        response = owner_client.get("/consents/receipt.json")
        # The body is written after the view returned, outside the customer's tenant scope
        # (as under gunicorn): it must not need one.
        with scope():
            large = json.loads(response.getvalue())

    assert response.streaming
    assert len(large["history"]) == 1 + 1000 and len(large["connection_history"]) >= 1000
    assert [t["version"] for t in large["texts"]] == [t["version"] for t in small["texts"]]
    assert len(large_queries) == len(small_queries)


@pytest.mark.parametrize("page", ["0", "-3", "abc", "9" * 40, "99999999999"])
def test_any_page_number_is_a_page(owner_client, story, page):
    response = owner_client.get(f"/consents/?page={page}")

    assert response.status_code == 200
