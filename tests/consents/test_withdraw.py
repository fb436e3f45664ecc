"""Withdrawing: the impact first, three opt-in choices, effective at once (C5)."""

from __future__ import annotations

import json

import pytest
from django.core import mail

from codat.errors import CodatRejected, DataTypeNotConsented
from connections.models import Connection
from consents.models import CodatSyncState, Consent, ConsentEvent
from consents.selectors import allowed_data_types_for_codat_company
from consents.services import codat_client
from tests.consents.steps import grant, withdraw
from tests.fakes import link_bank, link_xero

pytestmark = pytest.mark.django_db

QUEUE = r"^/companies/[^/]+/data/queue/[^/]+$"


@pytest.fixture
def codat(fake_codat):
    fake_codat.post(path__regex=QUEUE, name="queue").respond(
        400, json={"statusCode": 400, "error": "DatasetAlreadyInProgressException"}
    )
    return fake_codat


@pytest.fixture
def both_products(owner_client, acme, codat, django_capture_on_commit_callbacks):
    """Acme has Xero and a bank linked and shares with both products."""
    xero, bank = link_xero(acme), link_bank(acme)
    with django_capture_on_commit_callbacks(execute=True):
        grant(owner_client, "business-insights")
        grant(owner_client, "lending")
    return xero, bank


def test_the_impact_page_says_what_stops_what_continues_and_which_connections(
    owner_client, both_products
):
    page = owner_client.get("/products/lending/withdraw/").content.decode()

    stops = page.split("We stop reading")[1].split("</section>")[0]
    keeps = page.split("We keep reading, for your other products")[1].split("</section>")[0]
    assert "Invoices" in stops and "Customers" in stops
    assert "Profit and loss</strong> — used by Business insights dashboard" in keeps
    assert "Bank transactions</strong> — used by Business insights dashboard" in keeps
    assert "other products still use them" in page  # both connections still serve insights
    assert "Withdraw my consent only" in page
    assert "delete their data" not in page  # nothing would be orphaned, so not offered


def test_withdrawing_takes_effect_at_once_and_the_gate_follows(
    owner_client, acme, both_products, codat, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = withdraw(owner_client, "lending")

    assert response.status_code == 302
    lending = Consent.objects.get(product__slug="lending")
    assert lending.state == "withdrawn" and lending.withdrawn_at is not None
    allowed = allowed_data_types_for_codat_company(str(acme.codat_company_id))
    assert "invoices" not in allowed  # Lending's own data stops being read
    assert "profitAndLoss" in allowed  # the dashboard still reads this
    body = json.loads(codat.routes["sync_settings"].calls.last.request.content)
    switched_on = {
        s["dataType"] for s in body["settings"] if s["fetchOnFirstLink"] or s["syncSchedule"]
    }
    assert switched_on == set(allowed)
    invoices = next(s for s in body["settings"] if s["dataType"] == "invoices")
    assert (invoices["fetchOnFirstLink"], invoices["syncSchedule"]) == (False, 0)
    assert not CodatSyncState.objects.get(company=acme).pending
    assert ConsentEvent.objects.filter(action="withdraw").count() == 1
    assert Connection.objects.filter(status="Linked").count() == 2  # connections untouched


def test_the_codat_client_refuses_a_withdrawn_products_data_types(
    owner_client, acme, both_products, codat, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(owner_client, "lending")
    queue = codat.routes["queue"]
    calls_before = queue.call_count

    with codat_client() as client, pytest.raises(DataTypeNotConsented):
        client.queue_data_type(str(acme.codat_company_id), "invoices")
    assert queue.call_count == calls_before  # refused before any request

    # The dashboard's data still goes through to Codat (which answers "in progress").
    with codat_client() as client, pytest.raises(CodatRejected):
        client.queue_data_type(str(acme.codat_company_id), "profitAndLoss")
    assert queue.call_count == calls_before + 1


def test_withdrawing_the_last_product_can_unlink_its_connections(
    owner_client, acme, codat, django_capture_on_commit_callbacks
):
    xero = link_xero(acme)
    with django_capture_on_commit_callbacks(execute=True):
        grant(owner_client, "business-insights")
    unlink = codat.patch(
        f"/companies/{acme.codat_company_id}/connections/{xero.codat_connection_id}"
    ).respond(
        200,
        json={
            "id": str(xero.codat_connection_id),
            "integrationId": "0f20c943-12d0-4800-9f6c-d218f62d494c",
            "integrationKey": "gbol",
            "sourceId": "8a156a5a-39cb-4f9d-856e-76ef9b9a9607",
            "platformName": "Xero",
            "linkUrl": "https://link-api.codat.io/x",
            "status": "Unlinked",
            "created": "2026-11-28T10:50:00Z",
            "sourceType": "Accounting",
        },
    )

    page = owner_client.get("/products/business-insights/withdraw/").content.decode()
    assert "These connections would no longer serve any product" in page and "Xero" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = withdraw(owner_client, "business-insights", "disconnect")

    assert unlink.call_count == 1
    assert json.loads(unlink.calls.last.request.content) == {"status": "Unlinked"}
    xero.refresh_from_db()
    assert xero.status == Connection.Status.UNLINKED
    # What the message says is what the connections page then shows: paused, not gone.
    assert (
        "Xero is paused: we no longer have access to it"
        in owner_client.get(response["Location"]).content.decode()
    )
    assert "is disconnected" not in owner_client.get(response["Location"]).content.decode()
    listing = owner_client.get("/connections/").content.decode()
    current = listing.split("<h2>Disconnected</h2>")[0]
    assert "Xero" in current and ">Paused<" in current


def test_withdrawing_with_delete_deletes_the_connection_at_codat(
    owner_client, acme, codat, django_capture_on_commit_callbacks
):
    xero = link_xero(acme)
    with django_capture_on_commit_callbacks(execute=True):
        grant(owner_client, "business-insights")
    delete = codat.delete(
        f"/companies/{acme.codat_company_id}/connections/{xero.codat_connection_id}"
    ).respond(200)

    with django_capture_on_commit_callbacks(execute=True):
        response = withdraw(owner_client, "business-insights", "delete")

    assert delete.call_count == 1
    xero.refresh_from_db()
    assert xero.status == Connection.Status.DELETED
    assert "Xero is disconnected" in owner_client.get(response["Location"]).content.decode()
    listing = owner_client.get("/connections/").content.decode()
    assert "Xero" in listing.split("<h2>Disconnected</h2>")[1]
    assert "You haven't connected anything yet." in listing


def test_codat_down_while_disconnecting_still_withdraws(
    owner_client, acme, codat, django_capture_on_commit_callbacks
):
    import httpx

    xero = link_xero(acme)
    with django_capture_on_commit_callbacks(execute=True):
        grant(owner_client, "business-insights")
    codat.delete(f"/companies/{acme.codat_company_id}/connections/{xero.codat_connection_id}").mock(
        side_effect=httpx.ConnectError("down")
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = withdraw(owner_client, "business-insights", "delete")

    assert Consent.objects.get().state == "withdrawn"
    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED
    page = owner_client.get(response["Location"]).content.decode()
    assert "Codat isn&#x27;t answering, so Xero is still connected" in page


def test_withdrawing_an_already_withdrawn_consent_is_calm(owner_client, both_products):
    withdraw(owner_client, "lending")

    response = owner_client.post("/products/lending/withdraw/", {"choice": "withdraw"}, follow=True)

    assert "not sharing any data with Lending right now" in response.content.decode()
    assert ConsentEvent.objects.filter(action="withdraw").count() == 1


def test_a_withdrawal_needs_a_choice(owner_client, both_products):
    response = owner_client.post("/products/lending/withdraw/", {})

    assert response.status_code == 400
    assert "Choose one of the options" in response.content.decode()
    assert Consent.objects.get(product__slug="lending").is_active


def test_withdrawing_emails_a_receipt(
    owner_client, owner, both_products, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(owner_client, "lending")

    assert len(mail.outbox) == 1
    assert "Withdrawn" in mail.outbox[0].body and mail.outbox[0].to == [owner.email]


def test_the_history_export_shows_grant_withdraw_and_regrant_with_the_wording(
    owner_client, both_products, lending
):
    withdraw(owner_client, "lending")
    grant(owner_client, "lending")

    response = owner_client.get("/consents/receipt.json")

    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    receipt = json.loads(response.getvalue())
    lending_history = [e["action"] for e in receipt["history"] if e["product"] == "lending"]
    assert lending_history == ["grant", "withdraw", "grant"]
    texts = {(t["product"], t["version"]): t for t in receipt["texts"]}
    assert "Lending uses your financial data" in texts[("lending", 1)]["body"]
    assert all(e["text_sha256"] == texts[(e["product"], 1)]["sha256"] for e in receipt["history"])


def test_another_company_never_sees_or_changes_this_consent(
    owner_client, outsider_client, both_products
):
    page = outsider_client.get("/consents/").content.decode()
    receipt = json.loads(outsider_client.get("/consents/receipt.json").getvalue())

    assert "Granted" not in page and receipt["history"] == []
    outsider_client.post("/products/lending/withdraw/", {"choice": "withdraw"})
    assert Consent.objects.get(product__slug="lending").is_active
