"""Fixtures for consent tests: the shipped products, a faked Codat, helpers to decide."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from connections.models import Connection
from consents.models import Product


@pytest.fixture
def insights(db) -> Product:
    return Product.objects.get(slug="business-insights")


@pytest.fixture
def lending(db) -> Product:
    return Product.objects.get(slug="lending")


def link(company, *, source_type: str, key: str, name: str, status: str = "Linked"):
    """A connection as if the customer had linked it through Codat."""
    if not company.codat_company_id:
        company.codat_company_id = uuid.uuid4()
        company.save()
    return Connection.objects.create(
        company=company,
        codat_connection_id=uuid.uuid4(),
        platform_key=key,
        platform_name=name,
        source_type=source_type,
        status=status,
    )


def link_xero(company, **kwargs):
    return link(company, source_type="Accounting", key="gbol", name="Xero", **kwargs)


def link_bank(company, **kwargs):
    return link(company, source_type="Banking", key="suuo", name="Plaid", **kwargs)


def grant(client: Client, slug: str, data: dict | None = None, **headers):
    """Open the review page (which remembers the wording shown), then agree."""
    review = client.get(f"/products/{slug}/consent/")
    assert review.status_code == 200, review.content.decode()[:500]
    return client.post(f"/products/{slug}/consent/", {"agree": "on", **(data or {})}, **headers)


def withdraw(client: Client, slug: str, choice: str = "withdraw"):
    return client.post(f"/products/{slug}/withdraw/", {"choice": choice})
