"""Staff export everything held about one company, as one streamed JSON document."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from connections.models import (
    CodatCompanyDeletion,
    ConnectionEvent,
    DataSync,
    LinkAttempt,
    WebhookEvent,
)
from consents.models import (
    ConsentReminder,
    DataUse,
    DeletionRecord,
    DeletionTarget,
    ScheduledDeletion,
)
from tests.consents.steps import granted
from tests.fakes import link_xero

pytestmark = pytest.mark.django_db

KEYS = {
    "format",
    "generated_at",
    "company",
    "codat_sync_state",
    "members",
    "connections",
    "link_attempts",
    "data_syncs",
    "consents",
    "consent_events",
    "consent_texts",
    "emails_sent",
    "webhook_events",
    "codat_deletions",
    "connection_events",
    "scheduled_deletions",
    "deletion_records",
    "data_use",
}


@pytest.fixture
def everything(acme, owner, outsider, other_co):
    """Acme has one of every kind of record; Other Co has some of its own."""
    acme.codat_company_id = uuid.uuid4()
    acme.save()
    xero = link_xero(acme)
    consent = granted(acme, "lending")
    LinkAttempt.objects.create(
        state_hash="a" * 64,
        user=owner,
        company=acme,
        connection=xero,
        expires_at=timezone.now() + timedelta(minutes=15),
        status_code="200",
    )
    DataSync.objects.create(
        connection=xero, data_type="invoices", status="Complete", last_event_at=timezone.now()
    )
    WebhookEvent.objects.create(
        webhook_id="msg_acme_1",
        event_type="read.completed",
        body=b'{"payload": {"dataType": "invoices"}}',
        company=acme,
    )
    ConsentReminder.objects.create(
        consent=consent, kind=ConsentReminder.Kind.WEEK, expires_at=timezone.now()
    )
    CodatCompanyDeletion.objects.create(
        company=acme, codat_company_id=acme.codat_company_id, reason="account_closed"
    )
    ConnectionEvent.objects.create(company=acme, connection=xero, kind="linked")
    ScheduledDeletion.objects.create(
        company=acme,
        target=DeletionTarget.CONNECTION,
        connection=xero,
        codat_company_id=acme.codat_company_id,
        delete_after=timezone.now() + timedelta(days=30),
        reason="Business insights: for 30 days",
        notified_at=timezone.now(),
    )
    DeletionRecord.objects.create(
        company=acme,
        target=DeletionTarget.CONNECTION,
        codat_company_id=acme.codat_company_id,
        platform_name="Sage",
        cause=DeletionRecord.Cause.CUSTOMER,
        reason="Disconnected by the customer",
    )
    DataUse.objects.create(
        company=acme,
        product=consent.product,
        purpose="Lending review",
        reader_kind=DataUse.Reader.STAFF,
        reader_name="Sam Staff",
        outcome=DataUse.Outcome.READ,
        data_types=["invoices"],
    )
    granted(other_co, "lending")
    link_xero(other_co)
    WebhookEvent.objects.create(webhook_id="msg_other_1", body=b"not json", company=other_co)
    return acme


def export(client: Client, company):
    return client.get(f"/admin/companies/company/{company.pk}/export/")


def test_the_export_holds_every_kind_of_record_of_the_company_and_nothing_else(
    staff_client, everything
):
    response = export(staff_client, everything)

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    chunks = list(response.streaming_content)
    assert len(chunks) > 10  # written out piece by piece, not one string
    document = json.loads(b"".join(chunks))
    assert set(document) == KEYS
    assert document["format"] == "consent-portal/subject-access/1"
    assert document["company"]["name"] == "Acme Ltd"
    for key in KEYS - {"format", "generated_at", "company", "codat_sync_state", "emails_sent"}:
        assert len(document[key]) == 1, key
    assert document["codat_sync_state"]["pending"] is True
    assert document["members"][0]["email"] == "owner@acme.example"
    assert document["consent_events"][0]["action"] == "grant"
    assert document["webhook_events"][0]["body"] == {"payload": {"dataType": "invoices"}}
    assert [sent["kind"] for sent in document["emails_sent"]] == [
        "banking_reminder_7d",
        "data_deleted",
    ]
    assert document["codat_deletions"][0]["reason"] == "account_closed"
    assert document["connection_events"][0]["kind"] == "linked"
    assert document["scheduled_deletions"][0]["reason"] == "Business insights: for 30 days"
    assert document["deletion_records"][0]["cause"] == "customer"
    assert document["data_use"][0]["reader_name"] == "Sam Staff"
    text = b"".join(chunks).decode()
    assert "outsider@other.example" not in text and "msg_other_1" not in text


def test_customers_cannot_reach_the_export(owner_client, outsider_client, everything):
    for client in (owner_client, outsider_client, Client()):
        response = export(client, everything)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_the_company_page_links_to_the_export(staff_client, everything):
    page = staff_client.get(f"/admin/companies/company/{everything.pk}/change/")

    assert f"/admin/companies/company/{everything.pk}/export/" in page.content.decode()
