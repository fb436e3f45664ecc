"""A Link attempt that never came to anything (cancelled, failed, not supported) is not a
connection: the customer was told nothing was shared, so it must not appear as one."""

from __future__ import annotations

import pytest
from django.utils import timezone

from connections.models import Connection
from tests.connections.test_journey import finish_at_codat, local, sign_up, start_link
from tests.consents.steps import granted
from tests.fakes import link_bank, link_xero

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("codat_account_set_up")]


@pytest.mark.parametrize("outcome", ["cancel", "error", "unsupported"])
def test_an_attempt_that_was_never_authorised_is_not_listed_as_a_connection(client, outcome):
    sign_up(client)
    outcome_page = client.get(local(finish_at_codat(client, start_link(client, "gbol"), outcome)))
    assert outcome_page.status_code == 303
    assert Connection.objects.get().status == Connection.Status.PENDING_AUTH

    listing = client.get("/connections/").content.decode()

    assert "Xero" not in listing
    assert "Waiting for you to authorise" not in listing
    assert "Disconnect" not in listing
    assert "You haven't connected anything yet." in listing


def test_trying_again_after_cancelling_then_authorising_lists_it_once(client):
    sign_up(client)
    client.get(local(finish_at_codat(client, start_link(client, "gbol"), "cancel")))

    client.get(local(finish_at_codat(client, start_link(client, "gbol"))))

    listing = client.get("/connections/").content.decode()
    assert listing.count('Disconnect<span class="visually-hidden"> Xero</span>') == 1
    assert "Connected" in listing


def test_a_never_authorised_attempt_is_not_offered_for_disconnecting_on_withdrawal(
    owner_client, acme
):
    granted(acme, "business-insights")
    link_xero(acme, status=Connection.Status.PENDING_AUTH)

    page = owner_client.get("/products/business-insights/withdraw/").content.decode()

    assert "Xero" not in page
    assert "disconnect" not in page.lower().split("<form")[1]


def test_a_connection_waiting_for_re_authorisation_is_still_listed(owner_client, acme):
    link_bank(acme, status=Connection.Status.PENDING_AUTH)
    Connection.objects.update(authorised_at=timezone.now())

    listing = owner_client.get("/connections/").content.decode()

    assert "Plaid" in listing and "Waiting for you to authorise" in listing
