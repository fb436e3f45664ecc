"""Our own 90-day Open Banking clock: reminders, pausing bank data, one-click reconfirmation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command

from codat import types as codat_types
from codat_sandbox.models import SandboxConnection
from codat_sandbox.services import connection_expire
from codat_sandbox.webhooks import deliver_due
from companies import page_cache
from companies.models import Membership
from connections.models import Connection
from connections.services import connection_status_apply
from consents.models import CodatSyncState, Consent, ConsentEvent, ConsentReminder
from consents.selectors import allowed_data_types
from tests.connections.test_journey import finish_at_codat, local, sign_up
from tests.consents.steps import grant
from tests.fakes import link_bank
from tests.journeys.test_consent_lifecycle import connect

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


# --- the clock runs from the authorisation at the bank ---------------------------------------

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(days: float, **more) -> datetime:
    return START + timedelta(days=days, **more)


def bank_becomes(connection: Connection, status: str, when: datetime) -> None:
    """What Codat says of the bank connection at `when`, applied as every path applies it (the
    Link return, "check again", webhooks, reconciliation)."""
    snapshot = codat_types.Connection(
        id=str(connection.codat_connection_id),
        integration_id="",
        integration_key=connection.platform_key,
        source_id="",
        source_type="Banking",
        platform_name=connection.platform_name,
        link_url="",
        status=status,
        created=None,
    )
    with time_machine.travel(when, tick=False):
        connection_status_apply(connection, snapshot)
        connection.save()
        page_cache.facts_changed(connection.company_id)


@pytest.fixture
def granted_before_the_bank(owner_client, acme, lending) -> Consent:
    """Lending agreed on day 0 with no bank connected yet; the bank is linked on day 10."""
    with time_machine.travel(START, tick=False):
        grant(owner_client, "lending")
    return Consent.objects.get(product=lending)


def clock_of(consent: Consent) -> datetime | None:
    return Consent.objects.with_banking_clock().get(pk=consent.pk).banking_expires_at


def test_the_clock_starts_at_the_bank_authorisation_not_the_grant(acme, granted_before_the_bank):
    assert clock_of(granted_before_the_bank) == at(90)  # no bank yet: the consent's own date
    bank = link_bank(acme, status=Connection.Status.PENDING_AUTH)

    bank_becomes(bank, Connection.Status.LINKED, at(10))

    bank.refresh_from_db()
    assert bank.authorised_at == at(10) and bank.linked_at == at(10)
    assert clock_of(granted_before_the_bank) == at(100)
    # Read without the annotation, the consent says the same.
    assert Consent.objects.get(pk=granted_before_the_bank.pk).banking_expires_at == at(100)


def test_a_reconnect_at_the_bank_restarts_the_clock(acme, granted_before_the_bank):
    bank = link_bank(acme, status=Connection.Status.PENDING_AUTH)
    bank_becomes(bank, Connection.Status.LINKED, at(10))
    bank_becomes(bank, Connection.Status.DEAUTHORIZED, at(80))
    # While the bank is not authorised the consent's own date stands in.
    assert clock_of(granted_before_the_bank) == at(90)

    bank_becomes(bank, Connection.Status.LINKED, at(85))

    bank.refresh_from_db()
    assert bank.linked_at == at(10)  # the first link stays on record
    assert clock_of(granted_before_the_bank) == at(175)


def test_the_bank_authorised_longest_ago_decides(acme, granted_before_the_bank):
    first, second = link_bank(acme, status="PendingAuth"), link_bank(acme, status="PendingAuth")
    bank_becomes(first, Connection.Status.LINKED, at(10))
    bank_becomes(second, Connection.Status.LINKED, at(50))

    assert clock_of(granted_before_the_bank) == at(100)
    bank_becomes(first, Connection.Status.DEAUTHORIZED, at(95))
    assert clock_of(granted_before_the_bank) == at(140)  # only the second one's data flows now


def test_keep_sharing_and_a_later_reconnect_each_restart_the_clock(
    owner_client, owner, acme, granted_before_the_bank
):
    bank = link_bank(acme, status=Connection.Status.PENDING_AUTH)
    bank_becomes(bank, Connection.Status.LINKED, at(10))

    with time_machine.travel(at(95), tick=False):
        owner_client.force_login(owner)
        assert owner_client.post("/products/lending/keep-sharing/").status_code == 302
    assert clock_of(granted_before_the_bank) == at(185)

    bank_becomes(bank, Connection.Status.DEAUTHORIZED, at(100))
    bank_becomes(bank, Connection.Status.LINKED, at(120))
    assert clock_of(granted_before_the_bank) == at(210)


def test_a_grant_is_a_yes_too_so_a_new_product_does_not_start_paused(owner_client, acme, lending):
    """A bank linked long ago (kept going by another product's reconfirmations) does not end
    a consent the customer has just given."""
    bank = link_bank(acme, status=Connection.Status.PENDING_AUTH)
    bank_becomes(bank, Connection.Status.LINKED, at(0))

    with time_machine.travel(at(120), tick=False):
        grant(owner_client, "lending")
        allowed = allowed_data_types(acme)

    assert clock_of(Consent.objects.get(product=lending)) == at(210)
    assert "banking-transactions" in allowed


def test_reminders_and_the_pause_follow_the_bank_authorisation(
    acme, owner, granted_before_the_bank, django_capture_on_commit_callbacks
):
    bank = link_bank(acme, status=Connection.Status.PENDING_AUTH)
    bank_becomes(bank, Connection.Status.LINKED, at(10))
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        # The grant's 90 days are over, the bank's are not: nothing to say, nothing paused.
        on_day_90 = run_reminders(at(90, hours=1))
        assert "7-day reminders: 0" in run_reminders(at(92, hours=23))
        assert "7-day reminders: 1" in run_reminders(at(93))
        assert "1-day reminders: 1" in run_reminders(at(99, hours=1))
        paused = run_reminders(at(100, minutes=5))

    assert (
        "7-day reminders: 0; 1-day reminders: 0; paused: 0; resumed after a reconnect: 0."
        in on_day_90
    )
    with time_machine.travel(at(99, hours=23)):
        assert "banking-transactions" in allowed_data_types(acme)
    assert "paused: 1" in paused
    with time_machine.travel(at(100, minutes=5)):
        assert "banking-transactions" not in allowed_data_types(acme)
        assert "invoices" in allowed_data_types(acme)
    expiry = ConsentEvent.objects.get(action="expire")
    assert expiry.details["expired_at"] == at(100).isoformat()
    assert [m.subject for m in mail.outbox] == [
        "Keep sharing your bank data with Lending?",
        "Keep sharing your bank data with Lending?",
        "Lending has paused using your bank data",
    ]
    assert "before 10 June 2026, 09:00 UTC" in mail.outbox[0].body  # day 100


def test_the_bank_expiring_after_the_pause_does_not_pause_it_again(
    acme, granted_before_the_bank, django_capture_on_commit_callbacks
):
    bank = link_bank(acme, status=Connection.Status.PENDING_AUTH)
    bank_becomes(bank, Connection.Status.LINKED, at(10))
    with django_capture_on_commit_callbacks(execute=True):
        assert "paused: 1" in run_reminders(at(100, minutes=5))
    mail.outbox.clear()

    # The bank ends its own 90 days too; the clock falls back to the grant, long over.
    bank_becomes(bank, Connection.Status.DEAUTHORIZED, at(100, hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        again = run_reminders(at(100, hours=3))

    assert (
        "7-day reminders: 0; 1-day reminders: 0; paused: 0; resumed after a reconnect: 0." in again
    )
    assert ConsentEvent.objects.filter(action="expire").count() == 1
    assert mail.outbox == []


def test_a_reconnect_after_the_pause_resumes_the_bank_data_at_codat(
    acme, granted_before_the_bank, django_capture_on_commit_callbacks, monkeypatch
):
    applied = []
    monkeypatch.setattr(
        "consents.services.enqueue_sync_settings", lambda **kwargs: applied.append(kwargs)
    )
    bank = link_bank(acme, status=Connection.Status.PENDING_AUTH)
    bank_becomes(bank, Connection.Status.LINKED, at(10))
    with django_capture_on_commit_callbacks(execute=True):
        run_reminders(at(100, minutes=5))
    state = CodatSyncState.objects.get(company=acme)
    assert "banking-transactions" not in state.desired_data_types
    applied.clear()

    bank_becomes(bank, Connection.Status.DEAUTHORIZED, at(101))
    bank_becomes(bank, Connection.Status.LINKED, at(102))
    with time_machine.travel(at(102, hours=1)):
        assert "banking-transactions" in allowed_data_types(acme)  # the gate opens at once
    with django_capture_on_commit_callbacks(execute=True):
        resumed = run_reminders(at(102, hours=1))
        again = run_reminders(at(102, hours=2))

    assert "resumed after a reconnect: 1." in resumed
    assert "resumed after a reconnect: 0." in again
    state.refresh_from_db()
    assert "banking-transactions" in state.desired_data_types and state.pending
    assert applied == [{"company_id": acme.pk}]  # once, not every hour
    assert ConsentEvent.objects.filter(action="expire").count() == 1


def test_the_date_shows_beside_the_consent(owner_client, owner, acme, granted_before_the_bank):
    bank = link_bank(acme, status=Connection.Status.PENDING_AUTH)
    bank_becomes(bank, Connection.Status.LINKED, at(10))

    with time_machine.travel(at(20), tick=False):
        owner_client.force_login(owner)
        pages = [
            owner_client.get(url).content.decode() for url in ("/consents/", "/products/lending/")
        ]
    for page in pages:
        assert "Bank data shared until <time" in page
        assert ">10 June 2026</time>" in page  # day 100, from the bank's authorisation
        assert "reconfirm<" in page and "or reconnect your bank before then" in page
        assert 'href="/products/lending/keep-sharing/"' in page

    bank_becomes(bank, Connection.Status.DEAUTHORIZED, at(80))
    bank_becomes(bank, Connection.Status.LINKED, at(85))
    with time_machine.travel(at(86), tick=False):
        owner_client.force_login(owner)
        page = owner_client.get("/consents/").content.decode()
    assert ">24 August 2026</time>" in page  # day 175: the reconnect moved it

    with time_machine.travel(at(176), tick=False):
        owner_client.force_login(owner)
        page = owner_client.get("/products/lending/").content.decode()
    assert "Bank data paused since <time" in page and "confirm to carry on" in page


def test_no_date_for_a_consent_whose_bank_is_not_connected(owner_client, granted_before_the_bank):
    page = owner_client.get("/products/lending/").content.decode()

    assert "Bank data shared until" not in page


def test_the_date_follows_a_reconnect_through_codat(
    client, django_capture_on_commit_callbacks, codat_account_set_up
):
    """Against the sandbox: the bank expires at the bank, Codat's webhook says so, the customer
    reconnects the same connection, and Codat's `connection.reconnected` arrives first."""
    with time_machine.travel(at(0)), django_capture_on_commit_callbacks(execute=True):
        sign_up(client)
        grant(client, "lending")
    with time_machine.travel(at(3)), django_capture_on_commit_callbacks(execute=True):
        connect(client, "gbol")
        bank = connect(client, "qhnd")
    consent = Consent.objects.get(product__slug="lending")
    assert at(3) <= bank.authorised_at < at(3, minutes=1)
    assert clock_of(consent) == bank.authorised_at + timedelta(days=90)

    with time_machine.travel(at(80)):
        connection_expire(connection=SandboxConnection.objects.get(pk=bank.codat_connection_id))
    with time_machine.travel(at(80, minutes=1)), django_capture_on_commit_callbacks(execute=True):
        deliver_due()
    bank.refresh_from_db()
    assert bank.status == Connection.Status.DEAUTHORIZED

    with time_machine.travel(at(85)):
        client.force_login(Membership.objects.get().user)
        back = finish_at_codat(
            client, client.post(f"/connections/{bank.id}/reconnect/")["Location"]
        )
    with time_machine.travel(at(85, seconds=5)), django_capture_on_commit_callbacks(execute=True):
        deliver_due()
    bank.refresh_from_db()
    assert bank.status == Connection.Status.LINKED  # from the webhook, before the return
    with time_machine.travel(at(85, minutes=1)):
        assert client.get(local(back)).status_code == 303
        page = client.get("/consents/").content.decode()

    bank.refresh_from_db()
    assert at(85) <= bank.authorised_at < at(85, minutes=1)
    assert clock_of(consent) == bank.authorised_at + timedelta(days=90)
    assert "Bank data shared until <time" in page and ">24 August 2026</time>" in page  # day 175
