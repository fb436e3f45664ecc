"""Our own 90-day Open Banking clock: reminders, pausing bank data, one-click reconfirmation."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command

from consents.models import Consent, ConsentEvent, ConsentReminder
from consents.selectors import allowed_data_types
from tests.consents.conftest import grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def lending_consent(owner_client, lending, colleague) -> Consent:
    grant(owner_client, "lending")
    return Consent.objects.get(product=lending)


def run_reminders(at) -> str:
    from io import StringIO

    out = StringIO()
    with time_machine.travel(at, tick=False):
        call_command("send_reminders", stdout=out)
    return out.getvalue()


def test_reminders_go_7_days_and_1_day_before_once_each(
    lending_consent, owner, colleague, django_capture_on_commit_callbacks
):
    expires = lending_consent.banking_expires_at
    assert expires - lending_consent.granted_at == timedelta(days=90)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert "7-day reminders: 0" in run_reminders(expires - timedelta(days=8))
        assert "7-day reminders: 1" in run_reminders(expires - timedelta(days=7))
        assert "7-day reminders: 0" in run_reminders(expires - timedelta(days=6, hours=23))
        assert "1-day reminders: 1" in run_reminders(expires - timedelta(hours=23))
        assert "1-day reminders: 0" in run_reminders(expires - timedelta(hours=1))

    assert len(mail.outbox) == 2
    assert set(mail.outbox[0].to) == {owner.email, colleague.email}  # every member
    assert "/products/lending/keep-sharing/" in mail.outbox[0].body
    assert ConsentReminder.objects.count() == 2


def test_a_lapsed_clock_pauses_bank_data_only_and_records_an_expiry(
    lending_consent, acme, django_capture_on_commit_callbacks
):
    expires = lending_consent.banking_expires_at

    with django_capture_on_commit_callbacks(execute=True):
        out = run_reminders(expires + timedelta(minutes=5))
        again = run_reminders(expires + timedelta(hours=1))

    assert "paused: 1" in out and "paused: 0" in again
    with time_machine.travel(expires + timedelta(minutes=5)):
        allowed = allowed_data_types(acme)
    assert "banking-transactions" not in allowed and "invoices" in allowed
    expiry = ConsentEvent.objects.get(action="expire")
    assert expiry.actor is None and expiry.method == "system"
    assert expiry.details["paused_data_types"] == ["banking-accounts", "banking-transactions"]
    assert "paused using your bank data" in mail.outbox[-1].subject


def test_yes_keep_sharing_restarts_the_clock_without_a_bank_login(
    owner_client, owner, lending_consent, acme
):
    expires = lending_consent.banking_expires_at

    with time_machine.travel(expires + timedelta(days=1), tick=False):
        owner_client.force_login(owner)  # a session from 91 days ago has long expired
        page = owner_client.get("/products/lending/keep-sharing/").content.decode()
        assert "has paused using your bank data" in page
        response = owner_client.post("/products/lending/keep-sharing/")
        allowed = allowed_data_types(acme)

    assert response.status_code == 302
    assert "banking-transactions" in allowed
    reconfirm = ConsentEvent.objects.get(action="reconfirm")
    assert reconfirm.details == {"scope": "banking", "resumed": True}
    lending_consent.refresh_from_db()
    assert lending_consent.banking_expires_at == expires + timedelta(days=91)


def test_a_product_without_bank_data_has_no_clock(owner_client, insights, lending):
    grant(owner_client, "business-insights")  # its bank data is optional but still banking
    consent = Consent.objects.get(product=insights)
    assert consent.banking_expires_at is not None
    consent.data_types = [t for t in consent.data_types if not t.startswith("banking-")]
    consent.save()

    response = owner_client.post("/products/business-insights/keep-sharing/", follow=True)

    assert "isn&#x27;t using any bank data" in response.content.decode()
    assert not ConsentEvent.objects.filter(action="reconfirm").exists()
