"""The project's URLconf plus views that fail on purpose, to exercise the error handlers."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.urls import path

from consent_portal.urls import (  # noqa: F401  (handlers are looked up on the root URLconf)
    handler400,
    handler403,
    handler404,
    handler500,
)
from consent_portal.urls import urlpatterns as project_urlpatterns


def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("this view is broken on purpose")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("a malformed request")


urlpatterns = [
    path("test-errors/500/", broken),
    path("test-errors/403/", forbidden),
    path("test-errors/400/", suspicious),
    *project_urlpatterns,
]
