"""Staff cannot delete what mirrors Codat; they disconnect through the customer's service."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from companies.models import Company
from connections.models import Connection, DataSync, Integration, LinkAttempt
from tests.fakes import error_body, link_bank, link_xero
from tests.personas import PASSWORD

pytestmark = pytest.mark.django_db

CONNECTIONS = "/admin/connections/connection/"


@pytest.fixture
def xero(acme) -> Connection:
    return link_xero(acme)


def codat_delete(fake_codat, connection: Connection):
    return fake_codat.delete(
        f"/companies/{connection.company.codat_company_id}/connections/"
        f"{connection.codat_connection_id}"
    )


@pytest.fixture
def mirrors(owner, acme, xero) -> dict:
    """One row of every model that mirrors Codat's state (or our trips to it)."""
    now = timezone.now()
    return {
        "companies/company": acme,
        "connections/connection": xero,
        "connections/datasync": DataSync.objects.create(
            connection=xero, data_type="invoices", status="Complete", last_event_at=now
        ),
        "connections/linkattempt": LinkAttempt.objects.create(
            state_hash="0" * 64,
            user=owner,
            company=acme,
            connection=xero,
            expires_at=now + timedelta(minutes=15),
        ),
        "connections/integration": Integration.objects.create(
            key="gbol", name="Xero", source_type="Accounting"
        ),
    }


MIRRORED = [
    "companies/company",
    "connections/connection",
    "connections/datasync",
    "connections/linkattempt",
    "connections/integration",
]


def still_there(row) -> bool:
    return type(row).objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize("model", MIRRORED)
def test_the_changelist_offers_no_delete(staff_client, mirrors, model):
    response = staff_client.get(f"/admin/{model}/")

    assert response.status_code == 200
    assert "delete_selected" not in response.text
    assert "Delete selected" not in response.text


@pytest.mark.parametrize("model", MIRRORED)
def test_a_superuser_posting_the_delete_action_is_refused_and_the_row_stays(
    staff_client, mirrors, model
):
    row = mirrors[model]
    # As the action's confirmation page would post it, "yes" included.
    response = staff_client.post(
        f"/admin/{model}/",
        {"action": "delete_selected", "_selected_action": [str(row.pk)], "post": "yes"},
    )

    assert response.status_code == 403
    assert still_there(row)


@pytest.mark.parametrize("model", MIRRORED)
@pytest.mark.parametrize("method", ["get", "post"])
def test_the_delete_page_is_refused_and_the_row_stays(staff_client, mirrors, model, method):
    row = mirrors[model]

    response = getattr(staff_client, method)(f"/admin/{model}/{row.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert still_there(row)


def test_the_change_page_has_no_delete_link(staff_client, xero):
    page = staff_client.get(f"{CONNECTIONS}{xero.pk}/change/").text

    assert f"{xero.pk}/delete/" not in page


def disconnect(client: Client, *connections: Connection, follow: bool = True):
    return client.post(
        CONNECTIONS,
        {
            "action": "disconnect_at_codat",
            "_selected_action": [str(c.pk) for c in connections],
            "index": "0",
        },
        follow=follow,
    )


def test_staff_disconnect_deletes_at_codat_and_keeps_our_row_as_the_customer_would(
    staff_client, staff, xero, fake_codat
):
    route = codat_delete(fake_codat, xero).mock(return_value=httpx.Response(200))

    response = disconnect(staff_client, xero)

    assert route.call_count == 1
    xero.refresh_from_db()
    assert xero.status == Connection.Status.DELETED
    assert xero.deleted_at is not None
    assert "Xero for Acme Ltd is disconnected at Codat." in response.text
    entry = LogEntry.objects.get(object_id=str(xero.pk))
    assert entry.user == staff
    assert entry.change_message == "Disconnected at Codat."


def test_each_connection_is_reported_and_a_codat_failure_changes_only_that_one(
    staff_client, acme, xero, fake_codat
):
    bank = link_bank(acme)
    codat_delete(fake_codat, xero).mock(side_effect=httpx.ConnectError("refused"))
    codat_delete(fake_codat, bank).mock(return_value=httpx.Response(200))

    response = disconnect(staff_client, xero, bank)

    xero.refresh_from_db()
    bank.refresh_from_db()
    assert xero.status == Connection.Status.LINKED
    assert bank.status == Connection.Status.DELETED
    shown = [(m.level_tag, m.message) for m in response.context["messages"]]
    assert ("success", "Plaid for Acme Ltd is disconnected at Codat.") in shown
    assert any(
        tag == "error" and message.startswith("Xero for Acme Ltd is NOT disconnected")
        for tag, message in shown
    )


def test_a_connection_codat_already_forgot_still_completes(staff_client, xero, fake_codat):
    codat_delete(fake_codat, xero).mock(
        return_value=httpx.Response(404, json=error_body(404, "Data connection not found"))
    )

    disconnect(staff_client, xero)

    xero.refresh_from_db()
    assert xero.status == Connection.Status.DELETED


def test_an_already_disconnected_connection_is_left_alone(staff_client, acme, fake_codat):
    gone = link_xero(acme, status=Connection.Status.DELETED)
    route = codat_delete(fake_codat, gone).mock(return_value=httpx.Response(200))

    response = disconnect(staff_client, gone)

    assert route.call_count == 0
    assert "was already disconnected" in response.text


def test_the_disconnect_action_needs_a_csrf_token(staff, xero, fake_codat):
    route = codat_delete(fake_codat, xero).mock(return_value=httpx.Response(200))
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)

    response = disconnect(browser, xero, follow=False)

    assert response.status_code == 403
    assert route.call_count == 0
    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED


def test_view_only_staff_are_not_offered_the_disconnect(xero, fake_codat):
    viewer = get_user_model().objects.create_user(
        username="viewer@bank.example", password=PASSWORD, is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_connection"))
    route = codat_delete(fake_codat, xero).mock(return_value=httpx.Response(200))
    browser = Client()
    browser.force_login(viewer)

    page = browser.get(CONNECTIONS).text
    disconnect(browser, xero)

    assert "disconnect_at_codat" not in page
    assert route.call_count == 0
    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED


def test_deleting_a_company_is_refused_even_with_nothing_at_codat(staff_client):
    # No connections or consents protect it, so only the admin's refusal keeps the row.
    bare = Company.objects.create(name="Bare Ltd")

    response = staff_client.post(f"/admin/companies/company/{bare.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert Company.objects.filter(pk=bare.pk).exists()
