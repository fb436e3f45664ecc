"""The consent lifecycle end to end against the built-in sandbox, webhooks included.

Everything a customer does goes through Django's test client; Codat is the sandbox, reached
in-process, and its webhooks reach our endpoint the same way when the outbox is pumped.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db.models import Q
from django.utils import timezone

from codat.types import DATA_TYPES
from codat_sandbox.models import SandboxDataset, SandboxSyncSetting
from codat_sandbox.webhooks import deliver_due
from connections.models import Connection, DataSync
from consents.models import Consent, Product
from tests.connections.test_journey import finish_at_codat, local, sign_up, start_link

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("codat_account_set_up")]


def sandbox_settings(company) -> set[str]:
    """The data types the company's own settings at the sandbox switch on. The app names every
    type, so the rest are there too, switched off."""
    rows = SandboxSyncSetting.objects.filter(company_id=company.codat_company_id)
    assert rows.count() == len(DATA_TYPES)
    return set(
        rows.filter(Q(fetch_on_first_link=True) | Q(sync_schedule__gt=0)).values_list(
            "data_type", flat=True
        )
    )


def pump_webhooks(seconds: float = 30) -> int:
    """Let the sandbox's simulated syncs finish and deliver everything it has to say."""
    with time_machine.travel(timezone.now() + timedelta(seconds=seconds)):
        return deliver_due()


def connect(client, key: str) -> Connection:
    back = finish_at_codat(client, start_link(client, key))
    response = client.get(local(back))
    assert response.status_code == 303
    return Connection.objects.get(platform_key=key)


def test_first_use_second_product_and_withdrawal(client, django_capture_on_commit_callbacks):
    company = sign_up(client)
    lending = Product.objects.get(slug="lending")
    insights = Product.objects.get(slug="business-insights")

    # First use: review, agree, then connect what Lending needs.
    with django_capture_on_commit_callbacks(execute=True):
        client.get("/products/lending/consent/")
        agreed = client.post("/products/lending/consent/", {"agree": "on"})
    assert agreed["Location"] == "/connections/new/?product=lending"
    picker = client.get(agreed["Location"]).content.decode()
    assert "Xero" in picker and "Plaid" in picker

    with django_capture_on_commit_callbacks(execute=True):
        xero = connect(client, "gbol")
    company.refresh_from_db()
    # Codat was told exactly what is consented before anything was authorised.
    assert sandbox_settings(company) == set(lending.all_data_types)
    assert "Waiting for a connection" in client.get("/products/lending/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        bank = connect(client, "qhnd")
    page = client.get(f"/connections/{bank.id}/").content.decode()
    assert "Lending" in page and "Live" in page

    # The sandbox syncs only consented types; its webhooks fill in the progress.
    with django_capture_on_commit_callbacks(execute=True):
        delivered = pump_webhooks()
    assert delivered > 0
    synced_types = set(SandboxDataset.objects.values_list("data_type", flat=True))
    assert synced_types and synced_types <= set(lending.all_data_types)
    assert DataSync.objects.filter(connection=xero, status="Complete").exists()
    progress = client.get(f"/connections/{xero.id}/").content.decode()
    assert "Your data is in" in progress

    # A second product: only the additional data, no new authorisation.
    connections_before = Connection.objects.count()
    review = client.get("/products/business-insights/consent/").content.decode()
    assert "Confirm I'm happy to share additional data" in review
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post("/products/business-insights/consent/", {"agree": "on"})
    assert confirmed["Location"] == "/products/business-insights/"
    assert Connection.objects.count() == connections_before
    assert sandbox_settings(company) == set(lending.all_data_types) | set(insights.all_data_types)
    newly_queued = set(
        SandboxDataset.objects.filter(data_type__in=["company", "cashFlowStatement"]).values_list(
            "data_type", flat=True
        )
    )
    assert newly_queued == {"company", "cashFlowStatement"}

    # Withdraw Lending: Codat is told to drop what only Lending used.
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/products/lending/withdraw/", {"choice": "withdraw"})
    assert Consent.objects.get(product=lending).state == "withdrawn"
    assert sandbox_settings(company) == set(insights.all_data_types)
    assert "invoices" not in sandbox_settings(company)
