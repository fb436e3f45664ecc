"""Closing an account and deleting its data (issue 11): the owner sees what happens, confirms
with their password, and then consents are withdrawn with evidence, the Codat company is
deleted (or its deletion kept and retried), members are erased and signed out, evidence stays
under a pseudonym."""

from __future__ import annotations

import base64
from datetime import timedelta

import httpx
import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from codat_sandbox.models import SandboxCompany
from companies.codat_client import get_client
from companies.models import Company
from companies.services import erased_users_for_email
from connections.models import CodatCompanyDeletion, Connection
from connections.services import codat_company_ensure
from consents.models import EVIDENCE_KEPT_FOR, CodatSyncState, Consent, ConsentEvent
from tests.consents.steps import granted
from tests.fakes import link_bank, link_xero
from tests.personas import PASSWORD, make_member

pytestmark = pytest.mark.django_db

SANDBOX_AUTH = "Basic " + base64.b64encode(settings.CODAT_SANDBOX_KEY.encode()).decode()
CODAT_COMPANY = r"^/companies/[^/]+$"


def close(client: Client, password: str = PASSWORD, **extra):
    return client.post("/accounts/close/", {"password": password, "understood": "on", **extra})


def sandbox_company_status(codat_company_id) -> int:
    """What Codat (the sandbox) answers for GET /companies/{companyId}."""
    return (
        Client()
        .get(f"/sandbox/codat/companies/{codat_company_id}", HTTP_AUTHORIZATION=SANDBOX_AUTH)
        .status_code
    )


@pytest.fixture
def at_codat(acme, owner) -> Company:
    """Acme exists at Codat (the sandbox) and shares with Lending."""
    with get_client() as client:
        codat_company_ensure(company=acme, client=client)
    granted(acme, "lending")
    return acme


def test_the_impact_page_says_what_stops_what_goes_and_what_is_kept_until_when(
    owner_client, acme, fake_codat
):
    link_xero(acme)
    granted(acme, "lending")

    page = owner_client.get("/accounts/close/").content.decode()

    products = page.split("Products that stop")[1].split("</section>")[0]
    assert "Lending" in products
    assert "Xero" in page.split("Connections that go")[1].split("</section>")[0]
    kept = page.split("What we must keep, and until when")[1].split("</section>")[0]
    assert f"{(timezone.now() + EVIDENCE_KEPT_FOR):%-d %B %Y}" in kept
    assert 'name="password"' in page and "csrfmiddlewaretoken" in page


def test_only_the_owner_may_close_the_account(acme, owner, colleague, outsider_client):
    colleague_client = Client()
    colleague_client.force_login(colleague)

    assert colleague_client.get("/accounts/close/").status_code == 403
    assert close(colleague_client).status_code == 403
    # Another business's owner can only ever close their own.
    close(outsider_client)

    acme.refresh_from_db()
    assert not acme.is_closed
    owner.refresh_from_db()
    assert owner.is_active and owner.email == "owner@acme.example"


def test_a_wrong_password_or_no_tick_closes_nothing(owner_client, acme, owner):
    wrong = close(owner_client, password="not my password")
    unticked = owner_client.post("/accounts/close/", {"password": PASSWORD})

    assert wrong.status_code == 400 and "That is not your password." in wrong.content.decode()
    assert unticked.status_code == 400
    assert "Tick this box" in unticked.content.decode()
    acme.refresh_from_db()
    assert not acme.is_closed


def test_closing_without_the_csrf_token_is_refused(owner, acme):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    assert close(client).status_code == 403
    acme.refresh_from_db()
    assert not acme.is_closed


def test_closing_withdraws_deletes_at_codat_erases_and_signs_everyone_out(
    at_codat, owner, owner_client, django_capture_on_commit_callbacks
):
    acme = at_codat
    codat_id = acme.codat_company_id
    colleague = make_member("colleague@acme.example", company=acme, role="member", name="Cal")
    colleague_client = Client()
    colleague_client.force_login(colleague)
    assert sandbox_company_status(codat_id) == 200
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = close(owner_client)

    assert response.status_code == 302 and response["Location"] == "/accounts/closed/"
    # Every live consent withdrawn, with evidence of the closing.
    consent = Consent.objects.get(company=acme)
    assert consent.state == Consent.State.WITHDRAWN
    withdrawal = ConsentEvent.objects.get(company=acme, action=ConsentEvent.Action.WITHDRAW)
    assert withdrawal.surface == "account_close" and withdrawal.actor_id == owner.pk
    # The company is gone from Codat, and our record says so.
    assert sandbox_company_status(codat_id) == 404
    deletion = CodatCompanyDeletion.objects.get(company=acme)
    assert deletion.deleted_at is not None and str(deletion.codat_company_id) == str(codat_id)
    # Nothing keeps asking Codat about the deleted company's sync settings.
    assert not CodatSyncState.objects.get(company=acme).pending
    # The company is closed and no longer named; its members are erased.
    acme.refresh_from_db()
    assert acme.is_closed and "Acme" not in acme.name
    for user, email in ((owner, "owner@acme.example"), (colleague, "colleague@acme.example")):
        user.refresh_from_db()
        assert (user.email, user.first_name, user.last_name) == ("", "", "")
        assert not user.is_active and not user.has_usable_password()
        assert user.username.startswith("erased-") and email not in user.username
        assert list(erased_users_for_email(email)) == [user]
    # Everyone is signed out: the closing request and the colleague's own session.
    assert owner_client.get("/consents/").status_code == 302
    assert colleague_client.get("/consents/").status_code == 302
    assert (
        Client()
        .post("/accounts/login/", {"username": "owner@acme.example", "password": PASSWORD})
        .status_code
        == 200
    )  # the form again, not a redirect into the account
    # One confirmation to each address as it was before erasure, and no per-consent receipts.
    assert sorted(m.to[0] for m in mail.outbox) == [
        "colleague@acme.example",
        "owner@acme.example",
    ]
    assert all(m.subject == "Your Consent Portal account is closed" for m in mail.outbox)
    assert "Lending" in mail.outbox[0].body


def test_evidence_stays_and_names_no_person_after_closing(
    at_codat, owner, owner_client, django_capture_on_commit_callbacks
):
    acme = at_codat
    with django_capture_on_commit_callbacks(execute=True):
        close(owner_client)

    events = ConsentEvent.objects.filter(company=acme).select_related("actor", "company")
    assert [e.action for e in events] == ["grant", "withdraw"]
    everything_kept = " ".join(
        " ".join(
            str(v)
            for v in (
                e.actor.username,
                e.actor.email,
                e.actor.get_full_name(),
                e.company.name,
                e.details,
                e.user_agent,
                e.surface,
            )
        )
        for e in events
    )
    for identifying in ("owner@acme.example", "Olive", "Owner", "Acme"):
        assert identifying not in everything_kept
    # The same person made both decisions, and the email they had finds them.
    assert {e.actor_id for e in events} == {owner.pk}
    assert erased_users_for_email("Owner@Acme.example ").get().pk == owner.pk


def test_when_codat_is_down_the_account_closes_and_the_deletion_is_retried_until_done(
    owner_client, acme, fake_codat, django_capture_on_commit_callbacks
):
    acme.codat_company_id = "8a210b68-6988-11ed-a1eb-0242ac120002"
    acme.save()
    xero, bank = link_xero(acme), link_bank(acme)
    granted(acme, "lending")
    delete = fake_codat.delete(path__regex=CODAT_COMPANY, name="delete_company")
    delete.respond(503, json={"statusCode": 503, "error": "Service Unavailable"})

    with django_capture_on_commit_callbacks(execute=True):
        response = close(owner_client)

    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.is_closed
    assert Consent.objects.get(company=acme).state == Consent.State.WITHDRAWN
    deletion = CodatCompanyDeletion.objects.get(company=acme)
    assert deletion.is_pending and deletion.attempts == 1
    assert "CodatUnavailable" in deletion.last_error
    assert deletion.next_attempt_at > timezone.now()
    assert Connection.objects.filter(company=acme).current().count() == 2

    # Cron before the retry is due asks Codat nothing.
    calls = delete.call_count
    call_command("codat_delete_companies")
    assert delete.call_count == calls

    with time_machine.travel(deletion.next_attempt_at + timedelta(seconds=1)):
        call_command("codat_delete_companies")  # Codat still down: still pending
    deletion.refresh_from_db()
    assert deletion.is_pending and deletion.attempts == 2

    delete.respond(204)
    with time_machine.travel(deletion.next_attempt_at + timedelta(seconds=1)):
        call_command("codat_delete_companies")
        calls = delete.call_count
        call_command("codat_delete_companies")  # done: never sent again
    deletion.refresh_from_db()
    assert not deletion.is_pending and deletion.last_error == ""
    assert delete.call_count == calls
    for connection in (xero, bank):
        connection.refresh_from_db()
        assert connection.is_deleted


def test_a_codat_404_counts_as_already_deleted(
    owner_client, acme, fake_codat, django_capture_on_commit_callbacks
):
    acme.codat_company_id = "8a210b68-6988-11ed-a1eb-0242ac120002"
    acme.save()
    fake_codat.delete(path__regex=CODAT_COMPANY).respond(
        404, json={"statusCode": 404, "error": "Not Found"}
    )

    with django_capture_on_commit_callbacks(execute=True):
        close(owner_client)

    assert not CodatCompanyDeletion.objects.get(company=acme).is_pending


def test_staff_see_a_pending_codat_deletion_in_the_admin(
    owner_client, acme, staff_client, fake_codat, django_capture_on_commit_callbacks
):
    acme.codat_company_id = "8a210b68-6988-11ed-a1eb-0242ac120002"
    acme.save()
    fake_codat.delete(path__regex=CODAT_COMPANY).mock(side_effect=httpx.ConnectError("down"))
    with django_capture_on_commit_callbacks(execute=True):
        close(owner_client)

    page = staff_client.get("/admin/connections/codatcompanydeletion/?state=pending")

    assert page.status_code == 200
    text = page.content.decode()
    assert "8a210b68-6988-11ed-a1eb-0242ac120002" in text and "pending" in text
    detail = staff_client.get(
        f"/admin/connections/codatcompanydeletion/{CodatCompanyDeletion.objects.get().pk}/change/"
    )
    assert "ConnectError" in detail.content.decode()
    assert "Closed account" in staff_client.get("/admin/companies/company/").content.decode()


def test_a_member_of_another_open_business_keeps_their_account(
    acme, owner, owner_client, other_co, django_capture_on_commit_callbacks
):
    shared = make_member("shared@example.com", company=other_co, role="member", name="Sam")
    acme.memberships.create(user=shared, role="member")

    with django_capture_on_commit_callbacks(execute=True):
        close(owner_client)

    shared.refresh_from_db()
    assert shared.is_active and shared.email == "shared@example.com"
    assert not shared.memberships.filter(company=acme).exists()
    assert get_user_model().objects.get(pk=owner.pk).email == ""


def test_a_company_never_at_codat_closes_with_nothing_to_delete_there(
    owner_client, acme, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        close(owner_client)

    acme.refresh_from_db()
    assert acme.is_closed
    assert not CodatCompanyDeletion.objects.filter(company=acme).exists()
    assert not SandboxCompany.objects.exists()
