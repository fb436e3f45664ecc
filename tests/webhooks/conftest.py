"""Fixtures for Codat webhooks: a signing secret, a mapped company, and signed deliveries.

`acme` has a Codat company and one pending Xero connection; `other_co` (another tenant) has
its own. Every delivery here goes through the real view at /webhooks/codat/.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpResponse

from companies.models import Company
from connections.models import Connection
from tests.webhooks.steps import (
    ACME_CODAT_ID,
    OTHER_CODAT_ID,
    OTHER_XERO_CODAT_ID,
    SECRET,
    XERO_CODAT_ID,
    encode,
    make_connection,
    post,
    signed_headers,
)


@pytest.fixture(autouse=True)
def webhook_secret(settings) -> str:
    settings.CODAT_WEBHOOK_SECRETS = [SECRET]
    return SECRET


@pytest.fixture
def acme_codat(acme) -> Company:
    Company.objects.filter(pk=acme.pk).update(codat_company_id=ACME_CODAT_ID)
    acme.refresh_from_db()
    return acme


@pytest.fixture
def other_codat(other_co) -> Company:
    Company.objects.filter(pk=other_co.pk).update(codat_company_id=OTHER_CODAT_ID)
    other_co.refresh_from_db()
    return other_co


@pytest.fixture
def xero(acme_codat) -> Connection:
    return make_connection(acme_codat, XERO_CODAT_ID)


@pytest.fixture
def other_xero(other_codat) -> Connection:
    return make_connection(other_codat, OTHER_XERO_CODAT_ID, status=Connection.Status.LINKED)


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks) -> Callable[..., HttpResponse]:
    """Sign and post a document, then let the on-commit processing run (as after a commit)."""

    def deliver(document: Any, **sign_options: Any) -> HttpResponse:
        body = document if isinstance(document, bytes) else encode(document)
        with django_capture_on_commit_callbacks(execute=True):
            return post(client, body, signed_headers(body, **sign_options))

    return deliver
