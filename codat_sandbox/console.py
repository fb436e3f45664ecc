"""The sandbox console at /sandbox/: what the sandbox Codat holds, for developers and testers.

Read-only for now; fault injection (expire a connection, fail a sync, replay webhooks) comes
later. It shows only sandbox rows, never the app's.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from .integrations import all_integrations, get_integration
from .link import render_page
from .models import SandboxCompany


@require_GET
def console(request: HttpRequest) -> HttpResponse:
    companies = SandboxCompany.objects.prefetch_related("connections").order_by("-created", "id")
    rows = []
    for company in companies:
        connections = [
            {
                "connection": connection,
                "integration": get_integration(connection.integration_key),
                "link_path": reverse(
                    "codat_sandbox:link_start",
                    kwargs={"company_id": str(company.id), "connection_id": str(connection.id)},
                ),
                "active_errors": [
                    entry
                    for entry in connection.data_connection_errors
                    if entry.get("status") == "Active"
                ],
            }
            for connection in company.connections.all()
        ]
        rows.append({"company": company, "connections": connections})
    return render_page(
        request,
        "codat_sandbox/console.html",
        {"rows": rows, "integrations": all_integrations()},
    )
