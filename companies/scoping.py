"""Tenant scoping (T3): a query on a company's rows fails unless a company scope is active.

Every view already looks objects up through the signed-in customer's company; this is the net
under that rule. Rows of the tenant-owned models (connections, consents and their evidence)
are reached through managers from `company_scoped`, which
- inside `scope(company=…)` (every request of a customer, see `TenantScopeMiddleware`) see
  that company's rows only, so a forgotten filter cannot leak another tenant's data;
- with no scope active raise `ScopeError` (fail closed);
- inside `scopes_disabled()` see everything: staff in the admin, background tasks and
  management commands, which work across tenants on purpose and say so where they start.

Creating rows needs no scope. Django reaches related single objects (`connection.company`)
and cascades through the unscoped base manager, as it should.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.db import models
from django.urls import NoReverseMatch, reverse
from django_scopes import ScopedManager, ScopeError, scope, scopes_disabled
from django_scopes.manager import DisabledQuerySet
from django_scopes.state import state as scope_state

from companies.selectors import request_company

__all__ = [
    "ScopeError",
    "TenantScopeMiddleware",
    "company_scoped",
    "scope",
    "scope_only",
    "scopes_disabled",
]


class _UnscopedQuerySet(DisabledQuerySet):
    """django-scopes' refusal, extended to the reads it lets through: `exists()` would tell
    whether any tenant has rows, `in_bulk()` and `contains()` would fetch across tenants."""

    exists = DisabledQuerySet.error
    contains = DisabledQuerySet.error
    in_bulk = DisabledQuerySet.error
    explain = DisabledQuerySet.error


def company_scoped(queryset_class: type[models.QuerySet] = models.QuerySet, *, lookup: str):
    """A default manager for a tenant-owned model; `lookup` leads from it to its Company."""
    scoped = type(
        ScopedManager(company=lookup, _manager_class=models.Manager.from_queryset(queryset_class))
    )

    class CompanyScopedManager(scoped):
        def get_queryset(self):
            queryset = super().get_queryset()
            if isinstance(queryset, DisabledQuerySet):
                return _UnscopedQuerySet(
                    self.model, using=self._db, missing_scopes=queryset.missing_scopes
                )
            return queryset

    return CompanyScopedManager()


def _in_admin(path: str) -> bool:
    try:
        return path.startswith(reverse("admin:index"))
    except NoReverseMatch:  # a URLconf without the admin
        return False


class TenantScopeMiddleware:
    """Runs each request inside the signed-in customer's company scope.

    Anonymous requests (webhooks, sign-in, the sandbox) get no scope, so any tenant query they
    make raises; whatever they legitimately do across tenants (webhook processing) disables
    scopes itself. Staff in the admin see every tenant, which is what the admin is for.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_staff and _in_admin(request.path):
            with scopes_disabled():
                return self.get_response(request)
        # A request starts from a clean slate, whatever the calling context had (a test, or a
        # request that reaches this app in-process through the sandbox).
        company = request_company(request)
        with scope_only(company=company) if company is not None else scope_only():
            return self.get_response(request)


@contextmanager
def scope_only(**dimensions):
    """Exactly these scope dimensions, none inherited; with none, every tenant query raises."""
    token = scope_state.set({"_enabled": True, **dimensions})
    try:
        yield
    finally:
        scope_state.reset(token)
