"""T3: queries on tenant rows fail closed outside a company scope, and a request only ever sees
its own customer's company, whatever the view asks for."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from companies.scoping import ScopeError, TenantScopeMiddleware, scope_only
from connections.models import Connection, DataSync, LinkAttempt
from consents.models import CodatSyncState, Consent, ConsentEvent, ConsentReminder
from tests.consents.steps import granted
from tests.fakes import link_bank

pytestmark = pytest.mark.django_db

TENANT_MODELS = [
    Connection,
    LinkAttempt,
    DataSync,
    Consent,
    ConsentEvent,
    CodatSyncState,
    ConsentReminder,
]


@pytest.fixture
def two_tenants(owner, outsider, acme, other_co):
    """A row of every tenant-owned model for Acme and for Other Co."""
    rows = {}
    for company in (acme, other_co):
        connection = link_bank(company)
        consent = granted(company, "lending")
        LinkAttempt.objects.create(
            state_hash=f"{company.pk.hex}{'0' * 32}",
            user=company.memberships.get().user,
            company=company,
            connection=connection,
            expires_at=timezone.now() + timedelta(minutes=15),
        )
        DataSync.objects.create(
            connection=connection,
            data_type="banking-transactions",
            status="Complete",
            last_event_at=timezone.now(),
        )
        CodatSyncState.objects.get_or_create(company=company)
        ConsentReminder.objects.create(
            consent=consent, kind="7d", expires_at=timezone.now() + timedelta(days=7)
        )
        rows[company] = connection
    return rows


def company_of(row):
    if isinstance(row, DataSync):
        return row.connection.company_id
    if isinstance(row, ConsentReminder):
        return row.consent.company_id
    return row.company_id


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda model: model.__name__)
@pytest.mark.parametrize(
    "query",
    [
        lambda objects: list(objects.all()),
        lambda objects: list(objects.filter(pk__isnull=False)),
        lambda objects: objects.count(),
        lambda objects: objects.first(),
        lambda objects: list(objects.values_list("pk", flat=True)),
        lambda objects: objects.get(pk=1),
        lambda objects: objects.update(),
        lambda objects: objects.exists(),
        lambda objects: objects.in_bulk([1]),
    ],
    ids=["all", "filter", "count", "first", "values_list", "get", "update", "exists", "in_bulk"],
)
def test_outside_any_scope_a_tenant_query_raises(two_tenants, model, query):
    with scope_only(), pytest.raises(ScopeError):
        query(model.objects)


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda model: model.__name__)
def test_inside_a_company_scope_only_that_companys_rows_are_seen(
    two_tenants, acme, other_co, model
):
    assert {company_of(row) for row in model.objects.all()} == {acme.pk, other_co.pk}

    with scope_only(company=acme):
        seen = list(model.objects.all())

    assert seen
    assert {company_of(row) for row in seen} == {acme.pk}


def test_a_related_manager_inside_a_scope_cannot_reach_another_company(two_tenants, acme, other_co):
    with scope_only(company=acme):
        assert list(other_co.connections.all()) == []
        assert other_co.connections.count() == 0


def _middleware_result(request):
    def view(request):
        seen = Connection.objects.values_list("company_id", flat=True)
        return HttpResponse(",".join(sorted(str(company_id) for company_id in seen)))

    return TenantScopeMiddleware(view)(request)


def test_a_customers_request_sees_only_its_company(two_tenants, acme, owner):
    request = RequestFactory().get("/connections/")
    request.user = owner

    response = _middleware_result(request)

    assert response.content.decode() == str(acme.pk)


def test_an_anonymous_request_has_no_tenant_scope_at_all(two_tenants):
    request = RequestFactory().post("/webhooks/codat/")
    request.user = AnonymousUser()

    with pytest.raises(ScopeError):
        _middleware_result(request)


def test_staff_in_the_admin_see_every_company(two_tenants, staff):
    request = RequestFactory().get("/admin/connections/connection/")
    request.user = staff

    response = _middleware_result(request)

    assert len(response.content.decode().split(",")) == 2


def test_staff_outside_the_admin_get_no_cross_tenant_view(two_tenants, staff):
    request = RequestFactory().get("/connections/")
    request.user = staff  # a staff account with no company of its own

    with pytest.raises(ScopeError):
        _middleware_result(request)
