"""Live sync progress on a connection's page: from webhooks, or from Codat when they are late."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from connections.models import DataSync
from tests.consents.conftest import grant
from tests.fakes import link_xero

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


@pytest.fixture
def xero(owner_client, acme, insights):
    connection = link_xero(acme)
    connection.linked_at = timezone.now()
    connection.save()
    grant(owner_client, "business-insights")
    return connection


def synced(connection, data_type: str, status: str) -> None:
    DataSync.objects.update_or_create(
        connection=connection,
        data_type=data_type,
        defaults={"status": status, "last_event_at": timezone.now()},
    )


def test_the_page_shows_each_consented_type_in_words_and_polls_while_running(owner_client, xero):
    synced(xero, "profitAndLoss", "Complete")

    page = owner_client.get(f"/connections/{xero.id}/").content.decode()

    assert "Fetching your data" in page
    assert '<progress class="progress" max="4" value="1"' in page
    assert "1 of 4 kinds of data done" in page
    assert "Profit and loss</strong> — Ready" in page
    assert "Balance sheet</strong> — Waiting to start" in page
    assert f'hx-get="/connections/{xero.id}/progress/"' in page and 'hx-trigger="every 2s"' in page
    assert "htmx.min.js" in page
    assert f'href="/connections/{xero.id}/">Refresh</a>' in page  # the no-JavaScript way


def test_the_htmx_partial_stops_polling_once_everything_is_done(owner_client, xero):
    for data_type in ("company", "profitAndLoss", "balanceSheet"):
        synced(xero, data_type, "Complete")
    synced(xero, "cashFlowStatement", "NotSupported")

    partial = owner_client.get(f"/connections/{xero.id}/progress/", **HTMX).content.decode()

    assert "<html" not in partial  # just the fragment htmx swaps in
    assert "Your data is in" in partial
    assert "hx-trigger" not in partial
    assert "Not available from this platform" in partial
    assert "Ready to use: balance sheet, company details, profit and loss." in partial


def test_without_htmx_the_progress_url_goes_to_the_page(owner_client, xero):
    response = owner_client.get(f"/connections/{xero.id}/progress/")

    assert response.status_code == 302 and response["Location"] == f"/connections/{xero.id}/"


def test_bank_data_not_shown_for_an_accounting_connection(owner_client, xero):
    page = owner_client.get(f"/connections/{xero.id}/").content.decode()

    assert "Bank transactions" not in page.split("sync-progress")[1]


def test_when_webhooks_are_late_the_page_asks_codat(owner_client, acme, xero, fake_codat):
    route = fake_codat.get(f"/companies/{acme.codat_company_id}/dataStatus").respond(
        200,
        json={
            "profitAndLoss": {"dataType": "profitAndLoss", "currentStatus": "Complete"},
            "balanceSheet": {"dataType": "balanceSheet", "currentStatus": "Fetching"},
            "banking-accounts": {"dataType": "banking-accounts", "currentStatus": "Complete"},
        },
    )

    early = owner_client.get(f"/connections/{xero.id}/progress/", **HTMX)
    assert route.call_count == 0  # webhooks get their chance first
    assert "Waiting to start" in early.content.decode()

    with time_machine.travel(timezone.now() + timedelta(seconds=20)):
        late = owner_client.get(f"/connections/{xero.id}/progress/", **HTMX).content.decode()
        again = owner_client.get(f"/connections/{xero.id}/progress/", **HTMX)

    assert route.call_count == 1  # and not on every poll
    assert "Profit and loss</strong> — Ready" in late
    assert "Balance sheet</strong> — Fetching" in late
    assert not DataSync.objects.filter(data_type="banking-accounts").exists()
    assert again.status_code == 200


def test_a_newer_webhook_is_not_overwritten_by_an_older_poll(acme, xero, fake_codat):
    from connections.services import data_status_refresh

    future = timezone.now() + timedelta(minutes=5)
    DataSync.objects.create(
        connection=xero, data_type="profitAndLoss", status="Complete", last_event_at=future
    )
    fake_codat.get(f"/companies/{acme.codat_company_id}/dataStatus").respond(
        200, json={"profitAndLoss": {"dataType": "profitAndLoss", "currentStatus": "Fetching"}}
    )

    data_status_refresh(connection=xero)

    assert DataSync.objects.get(data_type="profitAndLoss").status == "Complete"


def test_another_companys_progress_is_404(outsider_client, xero):
    assert outsider_client.get(f"/connections/{xero.id}/progress/", **HTMX).status_code == 404
