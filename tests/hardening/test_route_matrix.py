"""Matrices generated from the URLconf, so a new route cannot slip past them.

T1: every customer route that takes an object id answers another company's customer with 404
on GET and POST, and changes nothing. T3: no route can be pointed at another company through
the form or a header. D4: every customer route that accepts POST refuses one without a CSRF
token.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from connections.models import Connection, LinkAttempt
from consents.models import Consent, ConsentEvent
from tests.consents.steps import granted
from tests.fakes import link
from tests.hardening.urlconf import walk

pytestmark = pytest.mark.django_db

# Routes outside the customer's app: staff (admin), Codat (webhook), the sandbox.
NOT_CUSTOMER_ROUTES = ("admin/", "webhooks/", "sandbox/")


def customer_routes() -> list[str]:
    return sorted(
        route
        for route, _ in walk()
        if not route.startswith(NOT_CUSTOMER_ROUTES) and not route.startswith("^")
    )


ID_ROUTES = [route for route in customer_routes() if "<uuid:" in route]


def test_the_matrix_covers_the_routes_we_know_of():
    assert "connections/<uuid:connection_id>/" in ID_ROUTES
    assert "connections/<uuid:connection_id>/disconnect/" in ID_ROUTES
    assert "connections/attempts/<uuid:attempt_id>/" in ID_ROUTES
    assert len(ID_ROUTES) >= 6


def objects_of(company) -> dict:
    """One object of the company's for every kind of id a route takes."""
    connection = link(company, source_type="Banking", key="suuo", name="Plaid")
    granted(company, "lending")
    attempt = LinkAttempt.objects.create(
        state_hash=uuid.uuid4().hex,
        user=company.memberships.get().user,
        company=company,
        connection=connection,
        expires_at="2099-01-01T00:00:00Z",
    )
    return {"connection_id": connection.id, "attempt_id": attempt.id}


@pytest.fixture
def acme_objects(owner, acme):
    return objects_of(acme)


def _url(route: str, ids: dict) -> str:
    url = "/" + route
    for name, value in ids.items():
        url = url.replace(f"<uuid:{name}>", str(value))
    assert "<" not in url, f"the matrix has no object for {route}"
    return url


def _state() -> tuple:
    return (
        sorted(Connection.objects.values_list("id", "status", "status_changed_at")),
        ConsentEvent.objects.count(),
        sorted(LinkAttempt.objects.values_list("id", "used_at")),
    )


@pytest.mark.parametrize("route", ID_ROUTES)
def test_another_company_gets_404_and_changes_nothing(
    outsider_client, acme_objects, fake_codat, route
):
    before = _state()
    url = _url(route, acme_objects)

    answers = {outsider_client.get(url).status_code, outsider_client.post(url).status_code}

    # 404 for the method the route serves; 405 for the other, before any lookup.
    assert 404 in answers and answers <= {404, 405}, (route, answers)
    assert _state() == before
    assert len(fake_codat.calls) == 0


def _company_state(company) -> tuple:
    return (
        sorted(Connection.objects.filter(company=company).values_list("id", "status")),
        sorted(Consent.objects.filter(company=company).values_list("id", "state")),
        ConsentEvent.objects.filter(company=company).count(),
        sorted(LinkAttempt.objects.filter(company=company).values_list("id", "used_at")),
    )


@pytest.mark.parametrize("route", customer_routes())
def test_naming_another_company_in_a_post_writes_nothing_there(
    outsider_client, acme, acme_objects, other_co, fake_codat, route
):
    """T3: the tenant comes from the session only. Another company's id in the form (as a
    company, tenant or foreign-key field) or in an X-Tenant-ID header changes nothing of
    that company's, and never reaches Codat for it."""
    own = objects_of(other_co)
    fake_codat.route(name="anything_else").respond(503)  # Codat down: any call ends cleanly
    for placeholder, value in _PLACEHOLDERS.items():
        route = route.replace(placeholder, value)
    url = _url(route, own)
    other_company = str(acme.pk)
    tampered = {
        "company": other_company,
        "company_id": other_company,
        "tenant": other_company,
        "tenant_id": other_company,
        "connection": str(acme_objects["connection_id"]),
        "connection_id": str(acme_objects["connection_id"]),
        "agree": "on",
        "choice": "withdraw",
    }
    acme_before = _company_state(acme)

    response = outsider_client.post(url, tampered, headers={"X-Tenant-ID": other_company})

    assert response.status_code != 500, url
    assert _company_state(acme) == acme_before, url
    acme_codat_id = str(acme.codat_company_id)
    assert not [call for call in fake_codat.calls if acme_codat_id in str(call.request.url)]


_PLACEHOLDERS = {
    "<str:platform_key>": "gbol",
    "<slug:slug>": "lending",
    "<int:version>": "1",
    "<str:digest>": "0123456789abcdef",
    "<uidb64>": "MQ",
    "<token>": "set-password",
}


@pytest.mark.parametrize("route", customer_routes())
def test_every_post_route_refuses_a_request_without_a_csrf_token(
    owner, acme_objects, fake_codat, route
):
    for placeholder, value in _PLACEHOLDERS.items():
        route = route.replace(placeholder, value)
    url = _url(route, acme_objects)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    before = _state()

    response = strict.post(url, {"agree": "on", "choice": "withdraw"})

    # 403 from the CSRF check; 405 where the route takes no POST at all.
    assert response.status_code in (403, 405), (url, response.status_code)
    assert _state() == before
    assert len(fake_codat.calls) == 0
