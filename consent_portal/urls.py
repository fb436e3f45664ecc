from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from companies import views as company_views
from connections import webhooks

urlpatterns = [
    path("", company_views.home, name="home"),
    path("healthz", company_views.healthz, name="healthz"),
    path("privacy/", company_views.privacy, name="privacy"),
    path("help/", company_views.help_page, name="help"),
    path("accounts/", include("companies.urls")),
    path("", include("connections.urls")),
    path("", include("consents.urls")),
    path("", include("insights.urls")),
    path("webhooks/codat/", webhooks.codat_webhook, name="codat_webhook"),
    path("admin/", admin.site.urls),
]

if settings.CODAT_SANDBOX_ENABLED:
    urlpatterns += [path("sandbox/", include("codat_sandbox.urls"))]

handler400 = "companies.views.bad_request"
handler403 = "companies.views.permission_denied"
handler404 = "companies.views.page_not_found"
handler500 = "companies.views.server_error"
