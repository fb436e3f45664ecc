"""The cron jobs select in SQL what is due and work in bounded batches: rows with nothing due
are never read, so a run costs the same however many there are; reconciliation reads each
company's pull operations once, not once per connection. Retention reads only the companies
that changed since their schedule was worked out, or have a deletion due."""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from codat import types as codat_types
from companies.batching import in_batches
from companies.models import Company
from connections.models import Connection
from connections.services import connection_status_apply
from consents.models import (
    CodatSyncState,
    Consent,
    ConsentReminder,
    DeletionTarget,
    ScheduledDeletion,
)
from consents.retention import companies_to_enforce
from tests.consents.steps import grant
from tests.fakes import codat_connection, link_bank, link_xero, page

pytestmark = pytest.mark.django_db


def run(command: str) -> tuple[str, int]:
    """The command's output and how many queries it made."""
    out = StringIO()
    with CaptureQueriesContext(connection) as queries:
        call_command(command, stdout=out, stderr=out)
    return out.getvalue(), len(queries)


@pytest.fixture
def lending_consent(owner_client, lending) -> Consent:
    grant(owner_client, "lending")
    return Consent.objects.get(product=lending)


def other_companies_with_bank_consents(model: Consent, count: int, *, granted_at) -> list:
    """`count` more businesses, each with a consent like `model` (bank data included)."""
    companies = Company.objects.bulk_create(Company(name=f"Bulk {i} Ltd") for i in range(count))
    return Consent.objects.bulk_create(
        Consent(
            company=company,
            product=model.product,
            data_types=model.data_types,
            text=model.text,
            granted_by=model.granted_by,
            granted_at=granted_at,
            banking_confirmed_at=granted_at,
        )
        for company in companies
    )


def test_send_reminders_reads_only_consents_with_something_due(lending_consent):
    expires = lending_consent.banking_expires_at
    fresh = other_companies_with_bank_consents(
        lending_consent, 300, granted_at=lending_consent.granted_at + timedelta(days=30)
    )
    # Paused long ago, this cycle's notice already sent: nothing more to do for these.
    paused = other_companies_with_bank_consents(
        lending_consent, 300, granted_at=lending_consent.granted_at - timedelta(days=200)
    )
    ConsentReminder.objects.bulk_create(
        ConsentReminder(
            consent=c,
            kind=ConsentReminder.Kind.LAPSED,
            expires_at=c.granted_at + timedelta(days=90),
            sent_at=c.granted_at + timedelta(days=90),
        )
        for c in paused
    )

    due = expires - timedelta(days=7)
    assert list(Consent.objects.banking_notice_due(due)) == [lending_consent]
    assert not Consent.objects.banking_notice_due(expires - timedelta(days=8)).exists()
    # The copies' own week comes 30 days later, when Acme's clock has ended unpaused.
    later = set(Consent.objects.banking_notice_due(due + timedelta(days=30)))
    assert later == {*fresh, lending_consent}


def test_send_reminders_costs_the_same_with_many_consents_not_due(lending_consent):
    quiet = lending_consent.banking_expires_at - timedelta(days=30)
    with time_machine.travel(quiet, tick=False):
        _, alone = run("send_reminders")
    other_companies_with_bank_consents(lending_consent, 500, granted_at=quiet)

    with time_machine.travel(quiet, tick=False):
        out, with_many = run("send_reminders")

    assert "7-day reminders: 0; 1-day reminders: 0; paused: 0" in out
    assert with_many == alone


def test_retry_sync_costs_the_same_with_many_states_not_due(acme):
    acme.codat_company_id = "6b2a0f3c-1d2e-4f50-8a9b-0c1d2e3f4a5b"
    acme.save()
    _, alone = run("consents_retry_sync")
    later = timezone.now() + timedelta(hours=1)
    companies = Company.objects.bulk_create(Company(name=f"Bulk {i} Ltd") for i in range(400))
    CodatSyncState.objects.bulk_create(
        CodatSyncState(company=c, pending=i % 2 == 0, next_attempt_at=later)
        for i, c in enumerate(companies)
    )

    out, with_many = run("consents_retry_sync")

    assert "Applied 0; still pending 0." in out
    assert with_many == alone


def test_in_batches_reads_every_row_once_a_batch_at_a_time():
    Company.objects.bulk_create(Company(name=f"Bulk {i} Ltd") for i in range(25))

    with CaptureQueriesContext(connection) as queries:
        names = [c.name for c in in_batches(Company.objects.all(), size=10)]

    assert sorted(names) == sorted(f"Bulk {i} Ltd" for i in range(25))
    assert len(queries) == 3


def test_reconcile_reads_a_companys_pull_operations_once_for_all_its_connections(acme, fake_codat):
    xero, bank = link_xero(acme), link_bank(acme, status="Linked")
    codat_id = str(acme.codat_company_id)
    fake_codat.get(f"/companies/{codat_id}/connections").respond(
        200,
        json=page(
            [
                codat_connection(codat_id, str(xero.codat_connection_id), status="Linked"),
                codat_connection(codat_id, str(bank.codat_connection_id), status="Linked"),
            ],
            path=f"/companies/{codat_id}/connections",
        ),
    )
    history = fake_codat.get(f"/companies/{codat_id}/data/history").respond(
        200, json=page([], path=f"/companies/{codat_id}/data/history")
    )

    out, _ = run("codat_reconcile")

    assert "Reconciled 1 companies: 0 changes, 0 failed." in out
    assert history.call_count == 1
    asked = history.calls.last.request.url.params["query"].split("||")
    assert sorted(asked) == sorted(f"connectionId={c.codat_connection_id}" for c in (xero, bank))


def businesses_sharing_xero(model: Consent, count: int) -> list[Company]:
    """`count` more businesses with a Codat company, Xero linked, and a consent like `model`."""
    companies = Company.objects.bulk_create(
        Company(name=f"Bulk {i} Ltd", codat_company_id=uuid.uuid4()) for i in range(count)
    )
    Connection.objects.bulk_create(
        Connection(
            company=company,
            codat_connection_id=uuid.uuid4(),
            platform_key="gbol",
            platform_name="Xero",
            source_type="Accounting",
            status=Connection.Status.LINKED,
            authorised_at=timezone.now(),
        )
        for company in companies
    )
    Consent.objects.bulk_create(
        Consent(
            company=company,
            product=model.product,
            data_types=model.data_types,
            text=model.text,
            granted_by=model.granted_by,
            granted_at=timezone.now(),
        )
        for company in companies
    )
    return companies


def test_enforce_retention_costs_the_same_with_many_companies_not_due(lending_consent, acme):
    link_xero(acme)
    start = timezone.now()
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        run("enforce_retention")  # works out Acme's schedule: nothing is due
    with time_machine.travel(start + timedelta(hours=4), tick=False):
        _, alone = run("enforce_retention")
        businesses_sharing_xero(lending_consent, 300)
    with time_machine.travel(start + timedelta(hours=6), tick=False):
        _, first_look = run("enforce_retention")  # each new schedule, worked out once

    with time_machine.travel(start + timedelta(hours=8), tick=False):
        out, with_many = run("enforce_retention")

    assert "Deleted: 0; still scheduled after an error: 0" in out
    assert first_look > 300 > alone
    assert with_many == alone


def test_enforce_retention_selects_companies_changed_since_their_check_or_with_something_due(
    lending_consent,
):
    start = timezone.now()
    checked = start + timedelta(hours=2)
    with time_machine.travel(start, tick=False):
        (
            quiet,
            connection_changed,
            consent_changed,
            changed_just_before_check,
            deletion_due,
            nothing_left,
            never_checked,
        ) = businesses_sharing_xero(lending_consent, 7)
        Company.objects.create(name="Not at Codat Ltd")
    Company.objects.exclude(pk=never_checked.pk).update(retention_checked_at=checked)
    with time_machine.travel(checked + timedelta(hours=1), tick=False):
        xero = Connection.objects.get(company=connection_changed)
        xero.status = Connection.Status.UNLINKED
        xero.status_changed_at = timezone.now()
        xero.save()
        consent = Consent.objects.get(company=consent_changed)
        consent.state, consent.withdrawn_at = Consent.State.WITHDRAWN, timezone.now()
        consent.save()
    # Written before the check but committed after it: within the overlap, looked at again.
    Connection.objects.filter(company=changed_just_before_check).update(
        status_changed_at=checked - timedelta(minutes=30)
    )
    ScheduledDeletion.objects.create(
        company=deletion_due,
        target=DeletionTarget.CONNECTION,
        connection=Connection.objects.get(company=deletion_due),
        codat_company_id=deletion_due.codat_company_id,
        delete_after=checked + timedelta(minutes=30),
        reason="A promise ended.",
    )
    # Its last connection gone and its consent ended, both before the check (no timestamps
    # moved): its Codat company is due for deletion as it stands.
    Connection.objects.filter(company=nothing_left).update(status=Connection.Status.DELETED)
    Consent.objects.filter(company=nothing_left).update(state=Consent.State.WITHDRAWN)

    selected = set(companies_to_enforce(checked + timedelta(hours=2)))

    assert selected == {
        connection_changed,
        consent_changed,
        changed_just_before_check,
        deletion_due,
        nothing_left,
        never_checked,
    }
    assert quiet not in selected


def test_a_connection_that_ends_at_the_provider_gets_its_deletion_date_on_the_next_run(
    lending_consent, acme
):
    xero = link_xero(acme)
    start = timezone.now()
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        run("enforce_retention")
    assert not ScheduledDeletion.objects.exists()
    ended = start + timedelta(hours=3)
    with time_machine.travel(ended, tick=False):
        # As the webhook of an unlink at the provider is applied: no consent decision here.
        connection_status_apply(xero, codat_connection_status(xero, "Unlinked"))
        xero.save()

    with time_machine.travel(start + timedelta(hours=4), tick=False):
        out, _ = run("enforce_retention")

    assert "Deleted: 0" in out
    row = ScheduledDeletion.objects.get(connection=xero)
    assert row.delete_after == ended + lending_consent.text.retention


def codat_connection_status(connection: Connection, status: str) -> codat_types.Connection:
    return codat_types.Connection(
        id=str(connection.codat_connection_id),
        integration_id="",
        integration_key=connection.platform_key,
        source_id="",
        source_type=connection.source_type,
        platform_name=connection.platform_name,
        link_url="",
        status=status,
        created=None,
    )
