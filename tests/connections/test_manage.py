"""Listing, viewing and disconnecting connections; tenancy and CSRF on every route."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import httpx
import pytest
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connections.models import Connection, LinkAttempt
from tests.fakes import codat_connection, error_body, link

pytestmark = pytest.mark.django_db

CODAT_COMPANY = "0498e921-9b53-4396-a412-4f2f5983b0a2"


def make_connection(company, *, status="Linked", key="gbol", name="Xero", source="Accounting"):
    return link(company, source_type=source, key=key, name=name, status=status)


@pytest.fixture
def xero(acme):
    acme.codat_company_id = CODAT_COMPANY
    acme.save()
    return make_connection(acme)


def test_the_list_shows_each_connection_in_words(owner_client, acme):
    make_connection(acme)
    waiting = make_connection(
        acme, status="PendingAuth", key="suuo", name="Plaid", source="Banking"
    )
    # Authorised once, now waiting again: a real connection (a first attempt is not listed).
    Connection.objects.filter(pk=waiting.pk).update(authorised_at=timezone.now())
    make_connection(acme, status="Deleted", key="fztf", name="Shopify", source="Commerce")

    page = owner_client.get("/connections/").content.decode()

    assert "Xero" in page and "Connected" in page
    assert "Plaid" in page and "Waiting for you to authorise" in page
    assert "Banking" in page
    assert "Connect your software or bank" in page
    # A deleted connection stays in the history, without a disconnect button.
    history = page.split("<h2>Disconnected</h2>")[1]
    assert "Shopify" in history


def test_the_list_never_shows_another_companys_connections(owner_client, other_co, acme):
    make_connection(other_co, name="Secret Bank", key="upvr", source="Banking")

    page = owner_client.get("/connections/").content.decode()

    assert "Secret Bank" not in page


def _count_list_queries(client: Client) -> int:
    with CaptureQueriesContext(db_connection) as queries:
        assert client.get("/connections/").status_code == 200
    return len(queries)


def test_the_list_costs_the_same_queries_for_1_and_50_connections(owner_client, acme):
    make_connection(acme)
    with_one = _count_list_queries(owner_client)
    for n in range(49):
        make_connection(acme, key="suuo", name=f"Bank {n}", source="Banking")

    with_fifty = _count_list_queries(owner_client)

    assert with_one == with_fifty
    print(f"\n/connections/ queries: 1 connection={with_one}, 50 connections={with_fifty}")


def test_disconnect_asks_first_and_says_what_will_stop(owner_client, xero):
    page = owner_client.get(f"/connections/{xero.id}/disconnect/").content.decode()

    assert "Disconnect Xero?" in page
    assert "accounting data" in page
    assert "can&#x27;t be undone" in page or "can't be undone" in page
    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED


def test_disconnect_deletes_at_codat_and_keeps_our_row(owner_client, xero, fake_codat):
    route = fake_codat.delete(
        f"/companies/{CODAT_COMPANY}/connections/{xero.codat_connection_id}"
    ).mock(return_value=httpx.Response(200))

    response = owner_client.post(f"/connections/{xero.id}/disconnect/", follow=True)

    assert route.call_count == 1
    xero.refresh_from_db()
    assert xero.status == Connection.Status.DELETED
    assert xero.deleted_at is not None
    assert "Xero is disconnected" in response.content.decode()


def test_disconnect_of_a_connection_codat_already_forgot_still_completes(
    owner_client, xero, fake_codat
):
    fake_codat.delete(f"/companies/{CODAT_COMPANY}/connections/{xero.codat_connection_id}").mock(
        return_value=httpx.Response(404, json=error_body(404, "Data connection not found"))
    )

    owner_client.post(f"/connections/{xero.id}/disconnect/")

    xero.refresh_from_db()
    assert xero.status == Connection.Status.DELETED


def test_disconnect_when_codat_is_down_changes_nothing(owner_client, xero, fake_codat):
    fake_codat.delete(f"/companies/{CODAT_COMPANY}/connections/{xero.codat_connection_id}").mock(
        side_effect=httpx.ConnectError("refused")
    )

    response = owner_client.post(f"/connections/{xero.id}/disconnect/")

    assert response.status_code == 503
    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED


def test_check_again_reads_the_status_from_codat(owner_client, acme, fake_codat):
    acme.codat_company_id = CODAT_COMPANY
    acme.save()
    pending = make_connection(acme, status="PendingAuth")
    fake_codat.get(f"/companies/{CODAT_COMPANY}/connections/{pending.codat_connection_id}").mock(
        return_value=httpx.Response(
            200,
            json=codat_connection(CODAT_COMPANY, str(pending.codat_connection_id), status="Linked"),
        )
    )

    response = owner_client.post(f"/connections/{pending.id}/check/", follow=True)

    pending.refresh_from_db()
    assert pending.status == Connection.Status.LINKED
    assert "You're connected" in response.content.decode()


# --- tenancy (T1) and CSRF (D4) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/connections/{id}/"),
        ("get", "/connections/{id}/disconnect/"),
        ("post", "/connections/{id}/disconnect/"),
        ("post", "/connections/{id}/check/"),
    ],
)
def test_another_companys_connection_is_404_with_no_side_effect(
    outsider_client, xero, fake_codat, method, path
):
    response = getattr(outsider_client, method)(path.format(id=xero.id))

    assert response.status_code == 404
    assert len(fake_codat.calls) == 0
    xero.refresh_from_db()
    assert xero.status == Connection.Status.LINKED


def test_an_unknown_connection_id_is_404(owner_client, acme):
    assert owner_client.get(f"/connections/{uuid.uuid4()}/").status_code == 404


def cross_tenant_lines(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "consent_portal.security" and "Cross-tenant" in r.getMessage()
    ]


@pytest.fixture
def xero_attempt(xero, owner):
    return LinkAttempt.objects.create(
        state_hash="0" * 64,
        user=owner,
        company=xero.company,
        connection=xero,
        expires_at=timezone.now() + timedelta(minutes=30),
    )


@pytest.mark.parametrize(
    ("method", "path", "target"),
    [
        ("get", "/connections/{connection}/", "connection"),
        ("get", "/connections/{connection}/progress/", "connection"),
        ("post", "/connections/{connection}/check/", "connection"),
        ("post", "/connections/{connection}/reconnect/", "connection"),
        ("post", "/connections/{connection}/disconnect/", "connection"),
        ("get", "/connections/attempts/{attempt}/", "link attempt"),
    ],
)
def test_reaching_for_another_companys_id_is_404_and_logged_with_who_and_what(
    outsider_client,
    outsider,
    other_co,
    acme,
    xero,
    xero_attempt,
    fake_codat,
    caplog,
    method,
    path,
    target,
):
    ids = {"connection": xero.id, "attempt": xero_attempt.id}

    with caplog.at_level(logging.WARNING, logger="consent_portal.security"):
        response = getattr(outsider_client, method)(path.format(**ids))

    assert response.status_code == 404
    target_id = xero_attempt.id if target == "link attempt" else xero.id
    assert cross_tenant_lines(caplog) == [
        f"Cross-tenant {target} access: user={outsider.pk} company={other_co.id} "
        f"target={target_id} target_company={acme.id}"
    ]
    assert len(fake_codat.calls) == 0


@pytest.mark.parametrize(
    "path", ["/connections/{id}/", "/connections/{id}/check/", "/connections/attempts/{id}/"]
)
def test_an_unknown_id_is_404_and_not_logged_as_cross_tenant(
    outsider_client, xero, xero_attempt, caplog, path
):
    with caplog.at_level(logging.DEBUG):
        method = outsider_client.post if path.endswith("check/") else outsider_client.get
        response = method(path.format(id=uuid.uuid4()))

    assert response.status_code == 404
    assert cross_tenant_lines(caplog) == []


def test_the_owner_reaching_their_own_connection_logs_nothing(owner_client, xero, caplog):
    with caplog.at_level(logging.DEBUG):
        assert owner_client.get(f"/connections/{xero.id}/").status_code == 200

    assert cross_tenant_lines(caplog) == []


@pytest.mark.parametrize(
    "path",
    ["/connect/gbol/", "/connections/{id}/disconnect/", "/connections/{id}/check/"],
)
def test_every_post_needs_a_csrf_token(owner, xero, catalogue, fake_codat, path):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    response = client.post(path.format(id=xero.id))

    assert response.status_code == 403
    assert len(fake_codat.calls) == 0


@pytest.mark.parametrize("path", ["/connections/", "/connections/new/", "/connect/gbol/"])
def test_signed_out_visitors_are_sent_to_log_in(client, path, catalogue):
    response = client.get(path) if path != "/connect/gbol/" else client.post(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
