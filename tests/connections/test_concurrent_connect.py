"""Two "Connect" clicks at the same moment, on PostgreSQL: one Codat company, one connection
(X4 b). SQLite serialises writers anyway, so this needs a real database server."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from django.db import connection as db_connection

from companies.models import Company
from connections import services
from connections.models import Connection, Integration
from tests.concurrency import race
from tests.fakes import codat_company, codat_connection, page

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        db_connection.vendor != "postgresql", reason="real concurrency needs PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]


def test_two_simultaneous_connects_create_one_codat_company_and_one_connection(
    owner, acme, fake_codat
):
    xero = Integration.objects.create(key="gbol", name="Xero", source_type="Accounting")
    codat_id = str(uuid.uuid4())

    def create_company(request: httpx.Request) -> httpx.Response:
        time.sleep(0.3)  # a slow Codat widens the window two unguarded clicks would share
        return httpx.Response(200, json=codat_company(codat_id, uid=str(acme.id)))

    fake_codat.get("/companies").respond(200, json=page([]))
    company_posts = fake_codat.post("/companies").mock(side_effect=create_company)
    fake_codat.get(f"/companies/{codat_id}/connections").respond(200, json=page([]))
    new_connection = codat_connection(codat_id)
    connection_posts = fake_codat.post(f"/companies/{codat_id}/connections").respond(
        200, json=new_connection
    )
    fake_codat.get(f"/companies/{codat_id}/connections/{new_connection['id']}").respond(
        200, json=new_connection
    )

    def click() -> None:
        services.connection_start(
            company=Company.objects.get(pk=acme.pk), user=owner, integration=xero
        )

    errors = race(click)

    assert errors == []
    assert company_posts.call_count == 1
    assert connection_posts.call_count == 1
    assert Connection.objects.count() == 1
    assert str(Company.objects.get(pk=acme.pk).codat_company_id) == codat_id
