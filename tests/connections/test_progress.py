"""Live sync progress on a connection's page: from webhooks, or from Codat when they are late."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from codat.client import CodatClient
from codat_sandbox.models import SandboxConnection
from codat_sandbox.services import connection_fail_next_sync
from codat_sandbox.webhooks import deliver_due
from connections.models import Connection, DataSync, WebhookEvent
from consents.selectors import data_types_read_from
from tests.connections.test_journey import finish_at_codat, local, sign_up, start_link
from tests.consents.steps import grant
from tests.fakes import link_bank, link_xero, page
from tests.journeys.test_consent_lifecycle import connect

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


def pull_operation(connection, data_type: str, status: str, requested: str) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "companyId": str(connection.company.codat_company_id),
        "connectionId": str(connection.codat_connection_id),
        "dataType": data_type,
        "status": status,
        "requested": requested,
        "progress": 100 if status == "Complete" else 50,
        "isCompleted": status == "Complete",
        "isErrored": False,
    }


def test_when_webhooks_are_late_the_page_asks_codat(owner_client, acme, xero, fake_codat):
    bank = link_bank(acme)
    path = f"/companies/{acme.codat_company_id}/data/history"
    route = fake_codat.get(path).respond(
        200,
        json=page(
            [
                pull_operation(xero, "profitAndLoss", "Fetching", "2026-11-28T10:50:00Z"),
                pull_operation(xero, "profitAndLoss", "Complete", "2026-11-28T10:51:00Z"),
                pull_operation(xero, "balanceSheet", "Fetching", "2026-11-28T10:50:00Z"),
                # Another connection's: Codat filters them out, and so do we.
                pull_operation(bank, "banking-accounts", "Complete", "2026-11-28T10:52:00Z"),
                pull_operation(bank, "cashFlowStatement", "Complete", "2026-11-28T10:52:00Z"),
            ],
            path=path,
        ),
    )

    early = owner_client.get(f"/connections/{xero.id}/progress/", **HTMX)
    assert route.call_count == 0  # webhooks get their chance first
    assert "Waiting to start" in early.content.decode()

    with time_machine.travel(timezone.now() + timedelta(seconds=20)):
        late = owner_client.get(f"/connections/{xero.id}/progress/", **HTMX).content.decode()
        again = owner_client.get(f"/connections/{xero.id}/progress/", **HTMX)

    assert route.call_count == 1  # and not on every poll
    asked = route.calls.last.request.url.params
    assert asked["query"] == f"connectionId={xero.codat_connection_id}"
    assert "Profit and loss</strong> — Ready" in late  # the newest operation of the type
    assert "Balance sheet</strong> — Fetching" in late
    assert "Cash flow statement</strong> — Waiting to start" in late
    assert not DataSync.objects.filter(connection=xero, data_type="cashFlowStatement").exists()
    assert not DataSync.objects.filter(data_type="banking-accounts").exists()
    assert again.status_code == 200


def test_a_newer_webhook_is_not_overwritten_by_an_older_poll(acme, xero, fake_codat):
    from connections.services import pull_operations_refresh

    future = timezone.now() + timedelta(minutes=5)
    DataSync.objects.create(
        connection=xero, data_type="profitAndLoss", status="Complete", last_event_at=future
    )
    path = f"/companies/{acme.codat_company_id}/data/history"
    fake_codat.get(path).respond(
        200,
        json=page(
            [pull_operation(xero, "profitAndLoss", "Fetching", "2026-11-28T10:50:00Z")],
            path=path,
        ),
    )

    assert pull_operations_refresh(connection=xero)

    assert DataSync.objects.get(data_type="profitAndLoss").status == "Complete"


def test_another_companys_progress_is_404(outsider_client, xero):
    assert outsider_client.get(f"/connections/{xero.id}/progress/", **HTMX).status_code == 404


# --- against the sandbox: each connection's own pull operations, webhooks or not --------------


def test_two_bank_connections_show_their_own_progress(client, codat_account_set_up):
    sign_up(client)
    grant(client, "lending")
    connect(client, "gbol")
    first = connect(client, "qhnd")
    # The second bank's first read of transactions fails at the platform this time.
    link = start_link(client, "suuo")
    connection_fail_next_sync(
        connection=SandboxConnection.objects.get(integration_key="suuo"),
        data_type="banking-transactions",
    )
    assert client.get(local(finish_at_codat(client, link))).status_code == 303
    second = Connection.objects.get(platform_key="suuo")

    with time_machine.travel(timezone.now() + timedelta(seconds=30)):  # no webhook delivered
        pages = {
            bank.platform_key: client.get(
                f"/connections/{bank.id}/progress/", **HTMX
            ).content.decode()
            for bank in (first, second)
        }

    assert "Bank transactions</strong> — Ready" in pages["qhnd"]
    assert "Your data is in" in pages["qhnd"]
    assert "Bank transactions</strong> — Couldn&#x27;t fetch this time" in pages["suuo"]
    assert "Bank accounts</strong> — Ready" in pages["suuo"]
    statuses = {
        (sync.connection.platform_key, sync.data_type): sync.status
        for sync in DataSync.objects.select_related("connection")
    }
    assert statuses[("qhnd", "banking-transactions")] == "Complete"
    assert statuses[("suuo", "banking-transactions")] == "FetchError"


def test_the_confirmation_page_completes_without_read_webhooks(
    client, monkeypatch, settings, codat_account_set_up
):
    # As on a Codat account with no product enabled: Codat sends no read.completed* at all,
    # while every other webhook still arrives.
    settings.CODAT_SANDBOX_READ_WEBHOOKS = "off"
    asked: list[str] = []
    for name in ("list_pull_operations", "get_data_status"):
        original = getattr(CodatClient, name)

        def spy(self, *args, _name=name, _original=original, **kwargs):
            asked.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(CodatClient, name, spy)
    sign_up(client)
    grant(client, "lending")
    connect(client, "gbol")
    bank = connect(client, "qhnd")
    linked = timezone.now()
    expected = [t.key for t in data_types_read_from(bank)]
    assert expected == ["banking-accounts", "banking-transactions"]

    partial = ""
    for seconds in range(2, 62, 2):  # htmx polls every 2 s
        with time_machine.travel(linked + timedelta(seconds=seconds)):
            deliver_due()
            partial = client.get(f"/connections/{bank.id}/progress/", **HTMX).content.decode()
        if "hx-trigger" not in partial:
            break

    assert "Your data is in" in partial and "hx-trigger" not in partial
    assert seconds <= 30  # soon after the quiet period, not at the end of the loop
    assert WebhookEvent.objects.filter(event_type="connection.connected").exists()
    assert not WebhookEvent.objects.filter(event_type__startswith="read.").exists()
    assert asked and set(asked) == {"list_pull_operations"}  # this connection's, not dataStatus
    synced = DataSync.objects.filter(connection=bank)
    assert {s.data_type: s.status for s in synced} == dict.fromkeys(expected, "Complete")
    with time_machine.travel(linked + timedelta(seconds=seconds)):
        page = client.get(f"/connections/{bank.id}/").content.decode()
    assert "You're connected" in page and "Your data is in" in page
