""" "We only fetch what you consented to", proved from Codat's side: the sandbox's pull history
(`GET …/data/history` through its API), with the Codat account at Codat's own default client-wide
sync settings, which fetch every data type on first link and daily (docs/codat.md §6.2).

The account is otherwise set up as an operator leaves it (redirect URL, webhook consumer), but
its client-wide sync settings are put back to Codat's defaults: only the company settings the app
itself sets stand between the customer and Codat fetching everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from codat_sandbox.inprocess import wsgi_app
from codat_sandbox.models import SandboxClientSyncSetting
from codat_sandbox.webhooks import deliver_due
from consents.models import Consent, Product
from tests.connections.test_journey import finish_at_codat, local, sign_up, start_link
from tests.sandbox.steps import AUTH

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("codat_account_set_up")]

A_DAY_AND_AN_HOUR = timedelta(hours=25)


@pytest.fixture(autouse=True)
def codat_default_client_settings(codat_account_set_up) -> None:
    """Undo codat_setup's client-wide change: a fresh account's defaults again."""
    SandboxClientSyncSetting.objects.all().delete()


@pytest.fixture
def codat() -> Iterator[httpx.Client]:
    """Codat's API as anyone with the key sees it (not through the app's client)."""
    with httpx.Client(
        transport=httpx.WSGITransport(app=wsgi_app),
        base_url=f"{settings.SITE_URL}/sandbox/codat",
        headers={"Authorization": AUTH},
    ) as http:
        yield http


def pulls(codat: httpx.Client, company) -> list[dict]:
    """Every pull operation Codat has made for the company, newest first."""
    page = codat.get(
        f"/companies/{company.codat_company_id}/data/history", params={"pageSize": 5000}
    ).json()
    assert page["totalResults"] == len(page["results"])
    return page["results"]


def pulled_types(operations: list[dict], *, since: datetime | None = None) -> set[str]:
    return {
        item["dataType"]
        for item in operations
        if since is None or parse_datetime(item["requested"]) >= since
    }


def switched_on(codat: httpx.Client, company) -> set[str]:
    """The types the company's settings at Codat make it fetch by itself."""
    body = codat.get(f"/companies/{company.codat_company_id}/syncSettings").json()
    return {s["dataType"] for s in body["settings"] if s["fetchOnFirstLink"] or s["syncSchedule"]}


def agree(client, slug: str, callbacks) -> None:
    assert client.get(f"/products/{slug}/consent/").status_code == 200
    with callbacks(execute=True):
        response = client.post(f"/products/{slug}/consent/", {"agree": "on"})
    assert response.status_code == 302


def connect(client, key: str, callbacks) -> None:
    with callbacks(execute=True):
        back = finish_at_codat(client, start_link(client, key))
        assert client.get(local(back)).status_code == 303


def let_syncs_finish(callbacks, seconds: float = 30) -> None:
    with callbacks(execute=True), time_machine.travel(timezone.now() + timedelta(seconds=seconds)):
        deliver_due()


def test_the_codat_account_fetches_everything_unless_told_otherwise(codat):
    # The premise: without the app's company settings, Codat would fetch every type.
    defaults = codat.get("/profile/syncSettings").json()["settings"]

    assert all(s["fetchOnFirstLink"] and s["syncSchedule"] == 24 for s in defaults)


def test_business_insights_fetches_and_schedules_only_its_consented_types(
    client, codat, django_capture_on_commit_callbacks
):
    callbacks = django_capture_on_commit_callbacks
    company = sign_up(client)
    insights = Product.objects.get(slug="business-insights")
    consented = set(insights.all_data_types)

    agree(client, "business-insights", callbacks)
    connect(client, "gbol", callbacks)
    connect(client, "qhnd", callbacks)
    let_syncs_finish(callbacks)
    company.refresh_from_db()

    first_read = pulls(codat, company)
    assert pulled_types(first_read) == consented  # all of it, and nothing else
    assert switched_on(codat, company) == consented
    status = codat.get(f"/companies/{company.codat_company_id}/dataStatus").json()
    assert set(status) == consented

    # A day later Codat's schedule has refreshed the consented types, and only those.
    later = timezone.now() + A_DAY_AND_AN_HOUR
    with time_machine.travel(later, tick=False):
        next_day = pulls(codat, company)
    scheduled = next_day[: len(next_day) - len(first_read)]
    assert pulled_types(scheduled) == consented
    assert pulled_types(next_day) == consented


def test_a_second_product_switches_on_exactly_its_extra_types_and_withdrawal_off(
    client, codat, django_capture_on_commit_callbacks
):
    callbacks = django_capture_on_commit_callbacks
    company = sign_up(client)
    insights = set(Product.objects.get(slug="business-insights").all_data_types)
    lending = set(Product.objects.get(slug="lending").all_data_types)
    agree(client, "business-insights", callbacks)
    connect(client, "gbol", callbacks)
    connect(client, "qhnd", callbacks)
    let_syncs_finish(callbacks)
    company.refresh_from_db()
    assert switched_on(codat, company) == insights

    # Lending: its extra types, exactly, are switched on and fetched now (no new link).
    granted_at = timezone.now()
    agree(client, "lending", callbacks)
    let_syncs_finish(callbacks)

    assert switched_on(codat, company) == insights | lending
    extra = lending - insights
    # Refreshed at once where a connection can supply them; the commerce ones wait for a shop.
    fetched_extra = {t for t in extra if not t.startswith("commerce-")}
    assert fetched_extra == {"invoices", "bills", "customers", "suppliers", "bankAccounts"}
    assert pulled_types(pulls(codat, company), since=granted_at) == fetched_extra

    # Withdrawing Lending switches exactly its own types off again: nothing of them is
    # fetched from then on, while the dashboard's types keep their daily refresh.
    withdrawn_at = timezone.now()
    with callbacks(execute=True):
        client.post("/products/lending/withdraw/", {"choice": "withdraw"})
    assert Consent.objects.get(product__slug="lending").state == "withdrawn"
    assert switched_on(codat, company) == insights

    with time_machine.travel(timezone.now() + A_DAY_AND_AN_HOUR, tick=False):
        after = pulled_types(pulls(codat, company), since=withdrawn_at)
    assert after == insights
    assert not after & extra
