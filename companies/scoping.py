"""Tenant scoping (T3): a query on a company's rows fails unless a company scope is active.

Every view already looks objects up through the signed-in customer's company; this is the net
under that rule. Rows of the tenant-owned models (connections, consents and their evidence)
are reached through a `CompanyScopedManager`, which
- inside `scope(company=…)` (every request of a customer, see `TenantScopeMiddleware`) see
  that company's rows only, so a forgotten filter cannot leak another tenant's data;
- with no scope active raise `ScopeError` (fail closed);
- inside `scopes_disabled()` see everything: staff in the admin, background tasks and
  management commands, which work across tenants on purpose and say so where they start.

Creating rows needs no scope. Django reaches related single objects (`connection.company`)
and cascades through the unscoped base manager, as it should.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Self, TypeVar

from django.db import models
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import NoReverseMatch, reverse
from django_scopes import ScopeError, get_scope, scope, scopes_disabled
from django_scopes.manager import DisabledQuerySet
from django_scopes.state import state as scope_state

from companies.selectors import request_company

__all__ = [
    "CompanyScopedManager",
    "ScopeError",
    "TenantScopeMiddleware",
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


_M = TypeVar("_M", bound=models.Model)


class CompanyScopedManager(models.Manager[_M]):
    """The default manager of a tenant-owned model; `lookup` leads from it to its Company.

    django-scopes' `ScopedManager` with its one dimension, `company`, written out as a class:
    the library builds its manager class inside a function, where the type checker cannot see
    it, so no model using it would have a known manager, nor its related managers. Add a
    model's queryset with `from_queryset`; a model whose company is further away subclasses
    it with its own `lookup`. The lookup is a class attribute because Django builds related
    managers (`company.connections`) from this class and calls it with no arguments.
    """

    lookup: ClassVar[str] = "company"
    _scope_override: dict[str, Any] | None = None

    def with_scopes_disabled(self) -> Self:
        """This manager across every tenant, whatever scope is active: for a deliberate
        cross-tenant read that should say so where it happens."""
        unscoped = copy.copy(self)
        unscoped._scope_override = {"_enabled": False}
        return unscoped

    def get_queryset(self) -> models.QuerySet[_M]:
        current = self._scope_override if self._scope_override is not None else get_scope()
        if not current.get("_enabled", True):
            return super().get_queryset()
        if "company" not in current:
            return _UnscopedQuerySet(self.model, using=self._db, missing_scopes={"company"})
        company = current["company"]
        if isinstance(company, list | tuple):
            return super().get_queryset().filter(**{f"{self.lookup}__in": company})
        if company is not None:
            return super().get_queryset().filter(**{self.lookup: company})
        return super().get_queryset()

    def all(self) -> models.QuerySet[_M]:
        # The manager's all() returns get_queryset() as it is; refuse here, as filter() does,
        # rather than when the result is first read.
        queryset = super().all()
        if isinstance(queryset, DisabledQuerySet):
            queryset.error()  # raises ScopeError
        return queryset


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

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.user.is_staff and _in_admin(request.path):
            with scopes_disabled():
                return self.get_response(request)
        # A request starts from a clean slate, whatever the calling context had (a test, or a
        # request that reaches this app in-process through the sandbox).
        company = request_company(request)
        with scope_only(company=company) if company is not None else scope_only():
            return self.get_response(request)


@contextmanager
def scope_only(**dimensions: Any) -> Iterator[None]:
    """Exactly these scope dimensions, none inherited; with none, every tenant query raises."""
    token = scope_state.set({"_enabled": True, **dimensions})
    try:
        yield
    finally:
        scope_state.reset(token)
