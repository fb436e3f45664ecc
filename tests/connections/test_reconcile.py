"""`manage.py codat_reconcile` repairs what missed webhooks left stale, and says what it did."""

from __future__ import annotations

from io import StringIO

import httpx
import pytest
from django.core.management import call_command

from connections.models import Connection, DataSync
from tests.consents.steps import grant
from tests.fakes import codat_connection, link_bank, link_xero, page

pytestmark = pytest.mark.django_db


def reconcile() -> str:
    out = StringIO()
    call_command("codat_reconcile", stdout=out, stderr=out)
    return out.getvalue()


def test_reconcile_applies_codat_status_deletions_and_data_status(
    owner_client, acme, other_co, insights, fake_codat
):
    xero, bank = link_xero(acme), link_bank(acme, status="Linked")
    grant(owner_client, "business-insights")
    codat_id = str(acme.codat_company_id)
    fake_codat.get(f"/companies/{codat_id}/connections").respond(
        200,
        json=page(
            [codat_connection(codat_id, str(xero.codat_connection_id), status="Linked")],
            path=f"/companies/{codat_id}/connections",
        ),
    )
    history = fake_codat.get(f"/companies/{codat_id}/data/history").respond(
        200,
        json=page(
            [
                {
                    "id": "97d60846-f07a-4d42-b5a0-0bdcc6ebf56b",
                    "companyId": codat_id,
                    "connectionId": str(xero.codat_connection_id),
                    "dataType": "profitAndLoss",
                    "status": "Complete",
                    "requested": "2026-11-28T10:51:00Z",
                    "completed": "2026-11-28T10:52:00Z",
                    "progress": 100,
                    "isCompleted": True,
                    "isErrored": False,
                }
            ],
            path=f"/companies/{codat_id}/data/history",
        ),
    )

    out = reconcile()

    bank.refresh_from_db()
    assert bank.status == Connection.Status.DELETED  # Codat no longer has it
    synced = DataSync.objects.get(connection=xero, data_type="profitAndLoss")
    assert synced.status == "Complete"
    assert synced.last_success_at.isoformat() == "2026-11-28T10:52:00+00:00"
    # Each connection's own pull operations, not the company-wide dataStatus.
    assert history.calls.last.request.url.params["query"] == (
        f"connectionId={xero.codat_connection_id}"
    )
    assert "Plaid gone at Codat -> Deleted" in out
    assert "Xero profitAndLoss unknown -> Complete" in out
    assert "Reconciled 1 companies: 2 changes, 0 failed." in out  # Other Co has no Codat id

    assert "0 changes" in reconcile()  # nothing left to repair


def test_reconcile_reports_codat_failures_and_carries_on(acme, fake_codat):
    link_xero(acme)
    fake_codat.get(f"/companies/{acme.codat_company_id}/connections").mock(
        side_effect=httpx.ConnectError("down")
    )

    out = reconcile()

    assert "Acme Ltd: Codat failed" in out and "1 failed" in out
    assert Connection.objects.get().status == Connection.Status.LINKED
