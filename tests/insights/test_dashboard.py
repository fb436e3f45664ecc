"""The Business insights dashboard: the sandbox's figures, only what the consent covers,
"still syncing" while Codat reads, stopped after a withdrawal, and logged as the customer's
use each time."""

from __future__ import annotations

import re
import uuid

import pytest
from django.utils import timezone

from codat_sandbox.books import books_for
from companies import page_cache
from connections.models import DataSync
from consents.models import DataUse
from tests.connections.test_journey import sign_up
from tests.consents.steps import granted, withdraw
from tests.insights.steps import pounds

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_a_live_synced_dashboard_shows_the_sandboxs_figures(client, synced):
    response = client.get("/insights/")

    assert response.status_code == 200
    page = text(response)
    books = books_for(uuid.UUID(str(synced.codat_company_id)), today=timezone.localdate())
    newest = books.months[-1]
    # Revenue and profit of the newest month, and the cash the bank holds, to the pound.
    assert pounds(newest.sales) in page
    assert pounds(newest.net_profit) in page
    assert pounds(newest.cash) in page
    assert page.count('<svg class="chart"') == 4
    assert page.count("<table>") == 3
    assert "Last updated" in page
    assert "still syncing" not in page


def test_every_view_is_logged_and_most_cost_no_codat_call(client, synced, time_machine):
    client.get("/insights/")
    time_machine.shift(60)
    client.get("/insights/")

    newest, first = DataUse.objects.filter(company=synced)[:2]
    assert first.reader_kind == DataUse.Reader.CUSTOMER
    assert first.reader.email == "bea@brightside.example"
    assert first.outcome == DataUse.Outcome.READ
    assert set(first.data_types) == {
        "company",
        "profitAndLoss",
        "balanceSheet",
        "cashFlowStatement",
        "banking-accounts",
        "banking-accountBalances",
    }
    assert first.codat_calls >= 6
    assert newest.codat_calls == 0  # served from the copy
    assert newest.data_types == first.data_types


def test_while_codat_is_still_reading_the_dashboard_says_so(client, customer):
    response = client.get("/insights/")

    assert response.status_code == 200
    assert "Your data is still syncing" in text(response)
    assert "<svg" not in text(response)
    assert DataUse.objects.get(company=customer).outcome == DataUse.Outcome.UNAVAILABLE


def test_after_withdrawal_the_dashboard_stops_reads_nothing_and_says_why(client, synced):
    client.get("/insights/")
    withdraw(client, "business-insights")
    logged = DataUse.objects.filter(company=synced).count()

    response = client.get("/insights/")

    page = text(response)
    assert "This dashboard has stopped" in page
    assert "You withdrew your consent" in page
    assert "<svg" not in page
    assert DataUse.objects.filter(company=synced).count() == logged


def test_a_customer_who_has_not_agreed_is_sent_to_get_started(client, codat_account_set_up):
    sign_up(client)

    page = text(client.get("/insights/"))

    assert "Nothing to show yet" in page
    assert "<svg" not in page


def test_signed_out_visitors_are_sent_to_log_in(client, db):
    response = client.get("/insights/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_newer_sync_makes_the_next_view_read_codat_again(client, synced, time_machine):
    client.get("/insights/")
    time_machine.shift(60)
    # What a read.completed webhook records for a finished refresh of the profit and loss.
    DataSync.objects.filter(connection__company=synced, data_type="profitAndLoss").update(
        last_success_at=timezone.now()
    )
    page_cache.facts_changed(synced)

    client.get("/insights/")

    newest = DataUse.objects.filter(company=synced).first()
    assert newest is not None
    assert newest.codat_calls == 1  # the profit and loss only; the rest from our copy


def test_after_withdrawal_our_copy_is_forgotten(
    client, synced, time_machine, django_capture_on_commit_callbacks
):
    client.get("/insights/")
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(client, "business-insights")
    granted(synced, "business-insights")
    time_machine.shift(60)

    client.get("/insights/")

    assert DataUse.objects.filter(company=synced).first().codat_calls >= 6
