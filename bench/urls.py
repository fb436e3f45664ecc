"""The app's URLs plus `/bench/trivial/`, the baseline of `bench/customer_pages.py`: a signed-in
customer's page with no work of its own. Only `bench.settings` routes here; production's URLs
(consent_portal/urls.py) have no such page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import include, path
from django.views.decorators.http import require_GET

from consent_portal.urls import handler400, handler403, handler404, handler500


@login_required
@require_GET
def trivial(request: HttpRequest) -> HttpResponse:
    return render(request, "bench/trivial.html")


urlpatterns = [
    path("bench/trivial/", trivial),
    path("", include("consent_portal.urls")),
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
