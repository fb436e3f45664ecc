"""Retention kept: data deleted at Codat when the wording's period ends, not a second before.

Driven end to end against the in-process sandbox: the customer signs up, agrees, connects and
withdraws through the pages; time moves forward; `manage.py enforce_retention` runs as cron
would, and the sandbox shows what Codat still holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.db import DatabaseError, transaction
from django.db import connection as db_connection

from codat_sandbox import faults
from codat_sandbox.models import SandboxCompany, SandboxConnection, SandboxDataset
from connections.models import Connection
from consents.models import DeletionRecord, ImmutableRecordError, Product, ScheduledDeletion
from tests.connections.test_journey import finish_at_codat, local, sign_up, start_link
from tests.consents.steps import grant, withdraw
from tests.journeys.test_consent_lifecycle import pump_webhooks, sandbox_settings

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("codat_account_set_up")]

WITHDRAWN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
THIRTY_DAYS = timedelta(days=30)
SIX_YEARS = timedelta(days=6 * 365 + 2)
SECOND = timedelta(seconds=1)


@pytest.fixture
def enforce(django_capture_on_commit_callbacks):
    """Run the command at a moment, as cron would (its mails go after each commit)."""

    def run(at: datetime) -> str:
        out = StringIO()
        with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True):
            call_command("enforce_retention", stdout=out)
        return out.getvalue()

    return run


def deletion_mails() -> list:
    return [m for m in mail.outbox if "deleted at Codat" in m.subject]


def at_codat(connection: Connection) -> bool:
    return SandboxConnection.objects.filter(pk=connection.codat_connection_id).exists()


@pytest.fixture
def customer(client, django_capture_on_commit_callbacks):
    """Signed up shortly before the withdrawals, agreed to both products, connected Xero
    (which both read) and let the sandbox sync it."""
    with time_machine.travel(WITHDRAWN - timedelta(hours=2), tick=False):
        company = sign_up(client)
        with django_capture_on_commit_callbacks(execute=True):
            grant(client, "business-insights")
            grant(client, "lending")
            client.get(local(finish_at_codat(client, start_link(client, "gbol"))))
            pump_webhooks()
    xero = Connection.objects.get(platform_key="gbol")
    assert at_codat(xero) and SandboxDataset.objects.filter(connection_id=xero.codat_connection_id)
    mail.outbox.clear()
    return company, xero


def test_data_goes_at_codat_when_the_only_promise_ends_and_not_a_second_before(
    client, customer, enforce, django_capture_on_commit_callbacks
):
    company, xero = customer
    with (
        time_machine.travel(WITHDRAWN, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        withdraw(client, "lending")
        withdraw(client, "business-insights")
    due = WITHDRAWN + SIX_YEARS  # Lending's promise is the longest still running

    assert "Deleted: 0" in enforce(due - SECOND)
    assert at_codat(xero)
    assert ScheduledDeletion.objects.get(connection=xero).delete_after == due

    output = enforce(due)

    assert "Deleted: 2" in output  # the connection, then the company left empty
    assert not at_codat(xero)
    assert not SandboxDataset.objects.exists()
    assert not SandboxCompany.objects.filter(pk=company.codat_company_id).exists()
    xero.refresh_from_db()
    assert xero.status == Connection.Status.DELETED
    record = DeletionRecord.objects.get(connection=xero)
    assert record.deleted_at == due and record.promised_by == due
    assert "Lending" in record.reason
    subjects = [m.subject for m in deletion_mails()]
    assert subjects == ["Xero: data deleted at Codat", "Your business: data deleted at Codat"]


def test_business_insights_alone_keeps_data_for_30_days(
    client, customer, enforce, django_capture_on_commit_callbacks
):
    company, xero = customer
    with (
        time_machine.travel(WITHDRAWN, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        withdraw(client, "lending")
    # Lending's six years run from here; insights, still live, keeps the connection anyway.
    assert not ScheduledDeletion.objects.filter(connection=xero).exists()

    enforce(WITHDRAWN + SIX_YEARS + timedelta(days=1))

    assert at_codat(xero)
    assert not DeletionRecord.objects.exists()


def test_a_connection_another_live_product_uses_is_kept(
    client, customer, enforce, django_capture_on_commit_callbacks
):
    company, xero = customer
    with (
        time_machine.travel(WITHDRAWN, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        withdraw(client, "business-insights")

    assert "Deleted: 0" in enforce(WITHDRAWN + THIRTY_DAYS + timedelta(days=1))
    assert at_codat(xero)
    assert not ScheduledDeletion.objects.exists()


def test_running_twice_deletes_and_tells_once(
    client, customer, enforce, django_capture_on_commit_callbacks
):
    company, xero = customer
    with (
        time_machine.travel(WITHDRAWN, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        withdraw(client, "lending")
        withdraw(client, "business-insights")
    due = WITHDRAWN + SIX_YEARS
    enforce(due)
    told = len(deletion_mails())

    output = enforce(due + timedelta(hours=1))

    assert "Deleted: 0; still scheduled after an error: 0; businesses told: 0." in output
    assert DeletionRecord.objects.count() == 2
    assert told == 2 and len(deletion_mails()) == told


def test_when_codat_is_down_it_stays_scheduled_and_is_done_on_a_later_run(
    client, customer, enforce, django_capture_on_commit_callbacks
):
    company, xero = customer
    with (
        time_machine.travel(WITHDRAWN, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        withdraw(client, "lending")
        withdraw(client, "business-insights")
    due = WITHDRAWN + SIX_YEARS
    faults.fault_add(kind=faults.Kind.UNAVAILABLE, calls=faults.MAX_CALLS)

    output = enforce(due)

    assert "still scheduled after an error: 1" in output
    assert at_codat(xero)
    row = ScheduledDeletion.objects.get(connection=xero)
    assert row.done_at is None and row.attempts == 1 and row.last_error
    assert not DeletionRecord.objects.exists() and not deletion_mails()

    faults.faults_clear()
    enforce(due + timedelta(hours=1))

    assert not at_codat(xero)
    row.refresh_from_db()
    assert row.done_at == due + timedelta(hours=1)
    assert DeletionRecord.objects.filter(connection=xero).count() == 1


def test_granting_again_before_the_date_keeps_the_data(
    client, customer, enforce, django_capture_on_commit_callbacks
):
    company, xero = customer
    with (
        time_machine.travel(WITHDRAWN, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        withdraw(client, "lending")
        withdraw(client, "business-insights")
    with time_machine.travel(WITHDRAWN + timedelta(days=10), tick=False):
        grant(client, "business-insights")

    enforce(WITHDRAWN + SIX_YEARS)

    assert at_codat(xero)
    assert not ScheduledDeletion.objects.exists()


def test_the_withdraw_page_says_when_data_already_held_is_deleted(client, customer):
    company, xero = customer
    with time_machine.travel(WITHDRAWN, tick=False):
        withdraw(client, "lending")
        page = client.get("/products/business-insights/withdraw/").content.decode()

    assert "Data already held" in page
    assert "deleted within 30 days of when you stop sharing" in page
    # Lending's six years, still running from its withdrawal, decide Xero's date.
    assert "Xero</strong>: deleted at Codat on" in page
    assert (WITHDRAWN + SIX_YEARS).strftime("%-d %B %Y") in page


def test_the_withdraw_page_says_data_another_product_uses_is_kept(client, customer):
    with time_machine.travel(WITHDRAWN, tick=False):
        page = client.get("/products/business-insights/withdraw/").content.decode()

    assert "Xero</strong>: kept, because Lending still uses it" in page


def test_the_receipt_and_history_record_the_date(
    client, customer, django_capture_on_commit_callbacks
):
    with (
        time_machine.travel(WITHDRAWN, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        withdraw(client, "lending")
        withdraw(client, "business-insights")
    date = (WITHDRAWN + SIX_YEARS).strftime("%-d %B %Y")

    receipt = [m for m in mail.outbox if "Business insights" in m.subject][-1].body
    assert f"- Xero: deleted on {date}, as the wording you agreed to says" in receipt
    history = client.get("/consents/").content.decode()
    assert "Xero: to be deleted at Codat on" in history
    assert (WITHDRAWN + SIX_YEARS).strftime("%-d %b %Y") in history


def test_disconnect_names_each_product_and_what_it_loses_then_records_the_deletion(
    client, customer, django_capture_on_commit_callbacks
):
    company, xero = customer
    with time_machine.travel(WITHDRAWN, tick=False):
        page = client.get(f"/connections/{xero.id}/disconnect/").content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            client.post(f"/connections/{xero.id}/disconnect/")

    assert "<strong>Business insights dashboard</strong> stops until you connect" in page
    assert "<strong>Lending</strong> stops" in page and "Invoices" in page
    assert "as soon as you disconnect: today" in page and WITHDRAWN.strftime("%-d %B %Y") in page
    assert not at_codat(xero)
    record = DeletionRecord.objects.get(connection=xero)
    assert record.cause == DeletionRecord.Cause.CUSTOMER and record.deleted_at == WITHDRAWN
    assert [m.subject for m in deletion_mails()] == ["Xero: data deleted at Codat"]
    assert "Xero and its data" in client.get("/consents/").content.decode()


def test_the_privacy_page_states_the_periods_the_command_enforces(client, db):
    from consents.models import ConsentText, Product
    from consents.services import consent_text_publish

    page = client.get("/privacy/").content.decode()
    assert "deleted within 30 days of when you stop sharing (30 days)" in page
    assert "(2192 days)" in page

    lending = Product.objects.get(slug="lending")
    consent_text_publish(
        product=lending, body="Shorter.", retention_days=90, retention_summary="kept 90 days"
    )
    page = client.get("/privacy/").content.decode()
    assert "kept 90 days (90 days, wording version 2)" in page
    assert "(2192 days)" not in page
    assert ConsentText.objects.filter(product=lending).count() == 2


def test_staff_see_every_scheduled_deletion_with_its_date(
    client, customer, staff_client, django_capture_on_commit_callbacks
):
    company, xero = customer
    with (
        time_machine.travel(WITHDRAWN, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        withdraw(client, "lending")
        withdraw(client, "business-insights")

    page = staff_client.get("/admin/consents/scheduleddeletion/").content.decode()

    assert "Xero for Brightside Bakery" in page
    assert str((WITHDRAWN + SIX_YEARS).year) in page
    row = ScheduledDeletion.objects.get()
    change = staff_client.get(f"/admin/consents/scheduleddeletion/{row.pk}/change/")
    assert 'name="_save"' not in change.content.decode()


def test_unlinked_when_withdrawn_its_data_still_goes_when_the_period_ends(
    client, customer, enforce, django_capture_on_commit_callbacks
):
    company, xero = customer
    with (
        time_machine.travel(WITHDRAWN, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        withdraw(client, "lending")
        withdraw(client, "business-insights", choice="disconnect")
    xero.refresh_from_db()
    assert xero.status == Connection.Status.UNLINKED
    assert SandboxConnection.objects.get(pk=xero.codat_connection_id).status == "Unlinked"
    due = WITHDRAWN + SIX_YEARS

    enforce(due - SECOND)
    assert at_codat(xero)

    enforce(due)
    assert not at_codat(xero)


def test_deleting_when_withdrawing_is_recorded_as_the_customers_choice(
    client, customer, enforce, django_capture_on_commit_callbacks
):
    company, xero = customer
    with (
        time_machine.travel(WITHDRAWN, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        withdraw(client, "lending")
        withdraw(client, "business-insights", choice="delete")

    assert not at_codat(xero)
    record = DeletionRecord.objects.get(connection=xero)
    assert record.cause == DeletionRecord.Cause.CUSTOMER and record.promised_by is None
    receipt = [m for m in mail.outbox if "Business insights" in m.subject][-1].body
    assert "- Xero: deleted now, as you chose" in receipt
    # Nothing left for the business at Codat: the company goes on the next run.
    enforce(WITHDRAWN + timedelta(hours=1))
    assert not SandboxCompany.objects.filter(pk=company.codat_company_id).exists()
    company.refresh_from_db()
    assert company.codat_company_id is None


def test_sharing_again_after_the_company_went_starts_a_fresh_codat_company(
    client, customer, enforce, django_capture_on_commit_callbacks
):
    company, xero = customer
    old_codat_id = company.codat_company_id
    with (
        time_machine.travel(WITHDRAWN, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        withdraw(client, "lending")
        withdraw(client, "business-insights", choice="delete")
    enforce(WITHDRAWN + timedelta(hours=1))

    later = WITHDRAWN + timedelta(hours=2)
    with time_machine.travel(later, tick=False), django_capture_on_commit_callbacks(execute=True):
        grant(client, "business-insights")
        client.get(local(finish_at_codat(client, start_link(client, "mqjo"))))

    company.refresh_from_db()
    assert company.codat_company_id not in (None, old_codat_id)
    assert sandbox_settings(company) == set(
        Product.objects.get(slug="business-insights").all_data_types
    )


@pytest.mark.parametrize(
    "statement",
    ["UPDATE consents_deletionrecord SET reason = 'forged'", "DELETE FROM consents_deletionrecord"],
)
def test_deletion_records_are_append_only_in_the_database_too(
    client, customer, statement, django_capture_on_commit_callbacks
):
    company, xero = customer
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/connections/{xero.id}/disconnect/")
    record = DeletionRecord.objects.get()

    with pytest.raises(ImmutableRecordError):
        DeletionRecord.objects.all().delete()
    refused = pytest.raises(DatabaseError, match="append-only")
    with refused, transaction.atomic(), db_connection.cursor() as cursor:
        cursor.execute(statement)

    assert DeletionRecord.objects.get().reason == record.reason
