"""Starting a connection while Codat misbehaves: a clear page, nothing half-made, no duplicates."""

from __future__ import annotations

import uuid

import httpx
import pytest
from django.test import Client

from companies.models import Company
from connections.models import Connection, LinkAttempt
from tests.fakes import (
    codat_company,
    codat_connection,
    error_body,
    page,
)

pytestmark = pytest.mark.django_db


def _connect(client: Client, key: str = "gbol"):
    return client.post(f"/connect/{key}/")


def assert_codat_down_page(response) -> None:
    assert response.status_code == 503
    assert "Codat isn't answering, try again" in response.content.decode()


def test_unreachable_codat_gives_a_try_again_page_and_no_rows(
    owner_client, acme, catalogue, fake_codat
):
    fake_codat.get("/companies").mock(side_effect=httpx.ConnectError("refused"))

    response = _connect(owner_client)

    assert_codat_down_page(response)
    acme.refresh_from_db()
    assert acme.codat_company_id is None
    assert not Connection.objects.exists()
    assert not LinkAttempt.objects.exists()


def test_timeout_creating_the_company_is_reconciled_by_tag_on_the_next_click(
    owner_client, acme, catalogue, fake_codat, sleeps
):
    # Codat created the company but the answer never arrived (X4: uncertain failure).
    codat_id = str(uuid.uuid4())
    lookups = fake_codat.get("/companies").mock(
        side_effect=[
            httpx.Response(200, json=page([])),
            httpx.Response(200, json=page([codat_company(codat_id, uid=str(acme.id))])),
        ]
    )
    create = fake_codat.post("/companies").mock(side_effect=httpx.ReadTimeout("slow"))
    fake_codat.get(f"/companies/{codat_id}/connections").mock(
        return_value=httpx.Response(200, json=page([]))
    )
    created = codat_connection(codat_id)
    fake_codat.post(f"/companies/{codat_id}/connections").mock(
        return_value=httpx.Response(200, json=created)
    )

    first = _connect(owner_client)
    assert_codat_down_page(first)
    assert create.call_count == 1  # a POST that may have landed is never blindly re-sent

    second = _connect(owner_client)

    assert second.status_code == 302
    assert second["Location"].startswith(created["linkUrl"] + "?state=")
    assert create.call_count == 1  # adopted, not created again
    assert lookups.call_count == 2
    assert lookups.calls.last.request.url.params["tags"] == f"uid={acme.id}"
    acme.refresh_from_db()
    assert str(acme.codat_company_id) == codat_id
    assert Connection.objects.count() == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503, json=error_body(503, "Service unavailable")),
        httpx.Response(500, json=error_body(500, "Internal error")),
        httpx.Response(429, json=error_body(429, "Rate limit"), headers={"Retry-After": "3600"}),
        httpx.ReadTimeout("slow"),
    ],
    ids=["503", "500", "429-long-wait", "read-timeout"],
)
def test_a_failing_connection_create_leaves_no_connection_and_retry_makes_one(
    owner_client, acme, catalogue, fake_codat, sleeps, failure
):
    codat_id = str(uuid.uuid4())
    acme.codat_company_id = codat_id
    acme.save()
    fake_codat.get(f"/companies/{codat_id}/connections").mock(
        return_value=httpx.Response(200, json=page([]))
    )
    created = codat_connection(codat_id)
    create = fake_codat.post(f"/companies/{codat_id}/connections").mock(
        side_effect=[failure, httpx.Response(200, json=created)]
    )

    response = _connect(owner_client)

    assert_codat_down_page(response)
    assert not Connection.objects.exists()
    assert not LinkAttempt.objects.exists()
    assert 3600 not in sleeps  # a long Retry-After is never slept through

    again = _connect(owner_client)
    assert again.status_code == 302
    assert create.call_count == 2
    assert Connection.objects.count() == 1


def test_a_connection_created_at_codat_but_lost_to_us_is_adopted_not_duplicated(
    owner_client, acme, catalogue, fake_codat
):
    codat_id = str(uuid.uuid4())
    acme.codat_company_id = codat_id
    acme.save()
    orphan = codat_connection(codat_id)  # our first POST reached Codat; its answer didn't reach us
    fake_codat.get(f"/companies/{codat_id}/connections").mock(
        return_value=httpx.Response(200, json=page([orphan]))
    )
    create = fake_codat.post(f"/companies/{codat_id}/connections")

    response = _connect(owner_client)

    assert response.status_code == 302
    assert response["Location"].startswith(orphan["linkUrl"])
    assert create.call_count == 0
    assert str(Connection.objects.get().codat_connection_id) == orphan["id"]


def test_codat_rejecting_the_request_gives_a_clear_page(owner_client, acme, catalogue, fake_codat):
    fake_codat.get("/companies").mock(return_value=httpx.Response(200, json=page([])))
    fake_codat.post("/companies").mock(
        return_value=httpx.Response(402, json=error_body(402, "Company limit exceeded"))
    )

    response = _connect(owner_client)

    assert response.status_code == 502
    assert "Codat couldn't do that" in response.content.decode()
    assert Company.objects.get(pk=acme.pk).codat_company_id is None


def test_retries_of_transient_failures_stay_within_the_request(
    owner_client, acme, catalogue, fake_codat, sleeps
):
    codat_id = str(uuid.uuid4())
    fake_codat.get("/companies").mock(
        side_effect=[
            httpx.Response(500, json=error_body(500)),
            httpx.Response(200, json=page([codat_company(codat_id, uid=str(acme.id))])),
        ]
    )
    fake_codat.get(f"/companies/{codat_id}/connections").mock(
        return_value=httpx.Response(200, json=page([]))
    )
    fake_codat.post(f"/companies/{codat_id}/connections").mock(
        return_value=httpx.Response(200, json=codat_connection(codat_id))
    )

    response = _connect(owner_client)

    assert response.status_code == 302
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 4
