"""Granting consent: the review, the evidence, and what Codat is told (C1, C3, C4, B4)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import httpx
import pytest
import time_machine
from django.core import mail
from django.db import DatabaseError

from codat.types import DATA_TYPES
from consents.models import CodatSyncState, Consent, ConsentEvent, ConsentText, Product
from consents.services import consent_text_publish
from tests.consents.steps import grant
from tests.fakes import link_bank, link_xero

pytestmark = pytest.mark.django_db


def test_the_home_page_shows_each_product_and_its_state(owner_client):
    page = owner_client.get("/").content.decode()

    assert "Business insights dashboard" in page and "Lending" in page
    assert page.count("Not started") == 2


def test_the_review_page_says_what_is_read_why_and_how_to_withdraw(owner_client, lending):
    page = owner_client.get("/products/lending/consent/").content.decode()

    assert lending.purpose in page
    assert "Invoices</strong> — who owes you, and when" in page
    assert "Bank transactions</strong> — money in and out of your accounts" in page
    assert "Orders</strong> — what your customers bought" in page  # optional, marked as such
    assert "Codat reads the data on our behalf, as our data processor" in page
    assert "six years" in page  # how long we keep it
    assert "withdraw at any time" in page
    assert 'href="/privacy/"' in page
    checkbox = page.split('id="id_agree"')[0].rsplit("<input", 1)[1]
    assert "checked" not in checkbox


def test_granting_records_complete_evidence(owner_client, owner, acme, lending, fake_codat):
    frozen = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    with time_machine.travel(frozen, tick=False):
        response = grant(
            owner_client,
            "lending",
            HTTP_USER_AGENT="Mozilla/5.0 (Test)",
            REMOTE_ADDR="203.0.113.9",
        )

    assert response.status_code == 302
    consent = Consent.objects.get(company=acme, product=lending)
    assert consent.is_active and consent.granted_by == owner
    event = ConsentEvent.objects.get()
    text = ConsentText.objects.get(product=lending, version=1)
    assert event.action == "grant"
    assert event.actor == owner and event.company == acme and event.product == lending
    assert event.occurred_at == frozen  # the server's clock, not the client's
    assert event.text == text
    assert event.text_sha256 == hashlib.sha256(text.body.encode()).hexdigest() == text.sha256
    assert event.data_types == lending.all_data_types
    assert event.ip_address == "203.0.113.9"
    assert event.user_agent == "Mozilla/5.0 (Test)"
    assert event.request_id and event.method == "web" and event.surface == "consent_review"


def test_the_ip_comes_from_the_trusted_proxy_header_only_when_configured(
    owner_client, lending, settings
):
    settings.TRUSTED_PROXY_IP_HEADER = "HTTP_X_FORWARDED_FOR"

    grant(owner_client, "lending", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7")

    # The right-most hop is the one our proxy added; a client can only prepend.
    assert ConsentEvent.objects.get().ip_address == "198.51.100.7"


def test_without_ticking_the_box_nothing_is_granted(owner_client, lending):
    owner_client.get("/products/lending/consent/")

    response = owner_client.post("/products/lending/consent/", {})

    assert response.status_code == 400
    assert "Tick the box to agree" in response.content.decode()
    assert not Consent.objects.exists() and not ConsentEvent.objects.exists()


def test_agreeing_without_having_been_shown_the_wording_grants_nothing(owner_client, lending):
    response = owner_client.post("/products/lending/consent/", {"agree": "on"})

    assert response.status_code == 400
    assert not Consent.objects.exists()


def test_when_the_wording_changes_before_submitting_the_new_one_is_shown(owner_client, lending):
    owner_client.get("/products/lending/consent/")
    consent_text_publish(product=lending, body="New wording, version two.")

    response = owner_client.post("/products/lending/consent/", {"agree": "on"})

    assert response.status_code == 409
    assert "New wording, version two." in response.content.decode()
    assert not Consent.objects.exists() and not ConsentEvent.objects.exists()
    # Agreeing now records version 2.
    owner_client.post("/products/lending/consent/", {"agree": "on"})
    assert ConsentEvent.objects.get().text.version == 2


def test_extra_fields_in_the_form_are_ignored(owner_client, acme, lending, insights):
    grant(
        owner_client,
        "lending",
        {
            "granted_at": "2001-01-01T00:00:00Z",
            "company": "00000000-0000-0000-0000-000000000000",
            "data_types": "invoices",
            "product": str(insights.pk),
            "text": "1",
        },
    )

    consent = Consent.objects.get()
    assert consent.company == acme and consent.product == lending
    assert consent.granted_at.year != 2001
    assert consent.data_types == lending.all_data_types


def test_a_double_submit_makes_one_consent_and_one_event(owner_client, lending):
    grant(owner_client, "lending")
    again = owner_client.post("/products/lending/consent/", {"agree": "on"})

    assert again.status_code == 302
    assert Consent.objects.count() == 1
    assert ConsentEvent.objects.count() == 1


def test_if_the_evidence_cannot_be_written_nothing_is_granted(
    owner_client, acme, lending, fake_codat, monkeypatch, django_capture_on_commit_callbacks
):
    acme.codat_company_id = "0498e921-9b53-4396-a412-4f2f5983b0a2"
    acme.save()

    def broken_insert(self, *args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(ConsentEvent, "save", broken_insert)
    with django_capture_on_commit_callbacks(execute=True):
        response = grant(owner_client, "lending")

    assert response.status_code == 503
    assert "We couldn't record your decision" in response.content.decode()
    assert not Consent.objects.exists()
    assert not CodatSyncState.objects.exists()
    assert len(fake_codat.calls) == 0
    assert mail.outbox == []


def test_granting_before_connecting_sends_the_customer_to_connect_what_is_needed(
    owner_client, lending
):
    response = grant(owner_client, "lending")

    assert response["Location"] == "/connections/new/?product=lending"


def test_granting_emails_a_receipt(
    owner_client, owner, lending, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        grant(owner_client, "lending")

    assert len(mail.outbox) == 1
    receipt = mail.outbox[0]
    assert receipt.to == [owner.email]
    assert "Lending" in receipt.subject
    assert "Invoices: who owes you, and when" in receipt.body
    assert ConsentText.objects.get(product=lending, version=1).sha256 in receipt.body


def test_granting_sets_codat_sync_settings_to_exactly_the_consented_types(
    owner_client, acme, insights, fake_codat, django_capture_on_commit_callbacks
):
    link_xero(acme)
    queued = fake_codat.post(path__regex=r"^/companies/[^/]+/data/queue/[^/]+$").respond(
        200,
        json={
            "id": "97d60846-f07a-4d42-b5a0-0bdcc6ebf56b",
            "companyId": str(acme.codat_company_id),
            "connectionId": "51baa045-4836-4317-a42e-3542e991e581",
            "dataType": "profitAndLoss",
            "status": "Queued",
            "requested": "2026-11-28T11:18:37Z",
            "progress": 0,
            "isCompleted": False,
            "isErrored": False,
        },
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = grant(owner_client, "business-insights")

    assert response["Location"] == "/products/business-insights/"
    body = json.loads(fake_codat.routes["sync_settings"].calls.last.request.content)
    assert switched_on(body) == set(insights.all_data_types)
    # Every other type is named and switched off: left out, it would follow Codat's
    # client-wide settings, which fetch everything by default.
    assert sorted(s["dataType"] for s in body["settings"]) == sorted(DATA_TYPES)
    off = [s for s in body["settings"] if s["dataType"] not in insights.all_data_types]
    assert {(s["fetchOnFirstLink"], s["syncSchedule"]) for s in off} == {(False, 0)}
    assert fake_codat.routes["sync_settings_read"].call_count == 1  # and read back
    # Accounting types are queued now (Xero is linked); banking ones wait for a bank.
    queued_types = {c.request.url.path.rsplit("/", 1)[1] for c in queued.calls}
    assert queued_types == set(insights.data_types)
    state = CodatSyncState.objects.get(company=acme)
    assert not state.pending and state.applied_data_types == sorted(insights.all_data_types)


def test_settings_that_read_back_differently_are_not_applied_and_retried(
    owner_client, acme, insights, fake_codat, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    link_xero(acme)
    fake_codat.post(path__regex=r"^/companies/[^/]+/data/queue/[^/]+$").respond(
        400, json={"statusCode": 400, "error": "already in progress"}
    )
    # Codat accepts the settings but then still fetches invoices on first link.
    drifted = fake_codat.routes["sync_settings_read"]
    real_read_back = drifted.side_effect

    def with_invoices_on(request):
        body = json.loads(real_read_back(request).content)
        for setting in body["settings"]:
            if setting["dataType"] == "invoices":
                setting["fetchOnFirstLink"] = True
        return httpx.Response(200, json=body)

    drifted.mock(side_effect=with_invoices_on)

    with django_capture_on_commit_callbacks(execute=True):
        grant(owner_client, "business-insights")

    state = CodatSyncState.objects.get(company=acme)
    assert state.pending and state.attempts == 1
    assert "SyncSettingsNotApplied" in state.last_error and "invoices" in state.last_error
    queued = [c for c in fake_codat.calls if "/data/queue/" in c.request.url.path]
    assert queued == []  # nothing refreshed on settings Codat does not have

    drifted.mock(side_effect=real_read_back)
    with time_machine.travel(state.next_attempt_at, tick=False):
        call_command("consents_retry_sync")
    state.refresh_from_db()
    assert not state.pending and state.applied_data_types == sorted(insights.all_data_types)


def test_a_second_product_asks_only_for_the_additional_data_without_reauthorising(
    owner_client, acme, insights, lending, fake_codat, django_capture_on_commit_callbacks
):
    link_xero(acme)
    link_bank(acme)
    fake_codat.post(path__regex=r"^/companies/[^/]+/data/queue/[^/]+$").respond(
        400, json={"statusCode": 400, "error": "queued already", "correlationId": "x"}
    )
    grant(owner_client, "business-insights")

    page = owner_client.get("/products/lending/consent/").content.decode()

    assert "Confirm I'm happy to share additional data" in page
    additional = page.split("The additional data")[1].split("<details>")[0]
    assert "Invoices" in additional
    assert "Profit and loss" not in additional  # already shared for the dashboard
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/products/lending/consent/", {"agree": "on"})
    assert response["Location"] == "/products/lending/"
    assert "Lending is live" in owner_client.get(response["Location"]).content.decode()
    # No new connection and no trip to Codat's Link page: only sync settings and refreshes.
    assert not [c for c in fake_codat.calls if c.request.url.path.endswith("/connections")]
    assert Consent.objects.active().count() == 2


def test_codat_failing_while_applying_settings_leaves_the_decision_and_retries_later(
    owner_client, acme, insights, fake_codat, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    link_xero(acme)
    fake_codat.routes["sync_settings"].mock(
        side_effect=[httpx.Response(503, json={"statusCode": 503, "error": "down"})] * 3
        + [httpx.Response(204)]
    )
    fake_codat.post(path__regex=r"^/companies/[^/]+/data/queue/[^/]+$").respond(
        400, json={"statusCode": 400, "error": "already in progress"}
    )

    with django_capture_on_commit_callbacks(execute=True):
        grant(owner_client, "business-insights")

    assert Consent.objects.get().is_active  # the decision stands
    state = CodatSyncState.objects.get(company=acme)
    assert state.pending and state.attempts == 1 and "CodatUnavailable" in state.last_error

    with time_machine.travel(state.next_attempt_at, tick=False):
        call_command("consents_retry_sync")

    state.refresh_from_db()
    assert not state.pending and state.applied_data_types == sorted(insights.all_data_types)


def switched_on(body: dict) -> set[str]:
    return {s["dataType"] for s in body["settings"] if s["fetchOnFirstLink"] or s["syncSchedule"]}


def test_inactive_and_unknown_products_are_404(owner_client, lending):
    lending.active = False
    lending.save()

    assert owner_client.get("/products/lending/").status_code == 404
    assert owner_client.get("/products/lending/consent/").status_code == 404
    assert owner_client.post("/products/lending/consent/", {"agree": "on"}).status_code == 404
    assert owner_client.get("/products/nope/").status_code == 404


def test_a_product_whose_wording_is_not_published_yet_cannot_be_agreed_to(owner_client):
    # Staff may add a product in the admin before publishing the wording customers agree to.
    Product.objects.create(slug="payroll", name="Payroll", purpose="Pays your staff.")

    assert owner_client.get("/products/payroll/consent/").status_code == 404
    assert owner_client.post("/products/payroll/consent/", {"agree": "on"}).status_code == 404
    assert not Consent.objects.filter(product__slug="payroll").exists()


def test_a_garbled_forwarded_header_falls_back_to_the_peer_address(owner_client, lending, settings):
    settings.TRUSTED_PROXY_IP_HEADER = "HTTP_X_FORWARDED_FOR"

    response = grant(owner_client, "lending", HTTP_X_FORWARDED_FOR="<script>, not-an-ip")

    assert response.status_code == 302
    assert ConsentEvent.objects.get().ip_address == "127.0.0.1"
