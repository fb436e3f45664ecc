"""The sandbox's hosted Link pages: where a customer authorises (or refuses) a connection.

Real Codat sends the customer to the platform's own consent screen and then to the client's
redirect URL. Here one page plays the platform: the customer picks an outcome, the connection
changes as Codat's would, and the browser is sent through the redirect URL template of the
client's profile (`PUT /profile`) with every placeholder filled; with none set, the session ends
on the sandbox's own "finished" page, as it does on Codat's (docs/codat.md §4).

Custom Link URL parameters (the app's `state`) fill custom placeholders only with
CODAT_SANDBOX_CUSTOM_PARAMS=pass. The default, `drop`, leaves them empty: the reading of Codat's
docs under which an app must not depend on them coming back.

Pages are rendered without the project's context processors: the sandbox is "another site" and
must not read the app's tables, even for a header.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from . import services
from .integrations import SANDBOX_CLIENT_ID, Integration, all_integrations, get_integration
from .models import SandboxCompany, SandboxConnection
from .redirects import fill_redirect_template

# The buttons on the Link page, by the value of their `outcome` field.
OUTCOMES: dict[str, Callable[..., services.LinkOutcome]] = {
    "authorize": services.link_authorize,
    "cancel": services.link_cancel,
    "error": services.link_fail,
    "unsupported": services.link_unsupported,
}


def render_page(
    request: HttpRequest, template_name: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """Render a sandbox page with only its own context (plus the CSRF token for its forms)."""
    html = render_to_string(template_name, {**context, "csrf_token": get_token(request)})
    return HttpResponse(html, status=status)


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return render_page(request, "codat_sandbox/link_invalid.html", {}, status=404)


def _parse_uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


CUSTOM_PARAMS_PASS = "pass"


def _custom_params(request: HttpRequest) -> dict[str, str]:
    # Anything appended to the Link URL (our `state`) may fill a custom placeholder, when the
    # sandbox is told to carry them. With a parameter repeated, the last value wins, as
    # Django's QueryDict does.
    if getattr(settings, "CODAT_SANDBOX_CUSTOM_PARAMS", "drop") != CUSTOM_PARAMS_PASS:
        return {}
    return {name: request.GET.get(name, "") for name in request.GET}


def redirect_url_for(
    connection: SandboxConnection,
    integration: Integration,
    outcome: services.LinkOutcome,
    custom: dict[str, str],
    *,
    template: str,
) -> str:
    reserved = {
        "clientId": SANDBOX_CLIENT_ID,
        "companyId": str(connection.company_id),
        "connectionId": str(connection.id),
        "integrationId": integration.integration_id,
        "sourceId": integration.source_id,
        "platform": integration.key,
        "platformName": integration.name,
        "sourceType": integration.source_type,
        "statusCode": outcome.status_code,
        "errorMessage": outcome.error_message,
        "statusText": outcome.status_text,
    }
    if integration.reports_company_name and outcome.succeeded:
        # Xero and QuickBooks Online report the company's name as the platform knows it; the
        # simulated platform knows it by the sandbox company's name.
        reserved["data.company.companyName"] = connection.company.name
    return fill_redirect_template(template, reserved=reserved, custom=custom)


@require_http_methods(["GET", "POST"])
def link_start(request: HttpRequest, company_id: str, connection_id: str) -> HttpResponse:
    """A connection's `linkUrl`: GET shows the platform's consent screen, POST applies the
    chosen outcome and redirects through the redirect template."""
    company_pk, connection_pk = _parse_uuid(company_id), _parse_uuid(connection_id)
    connection = (
        SandboxConnection.objects.select_related("company")
        .filter(pk=connection_pk, company_id=company_pk)
        .first()
        if company_pk and connection_pk
        else None
    )
    integration = get_integration(connection.integration_key) if connection else None
    if connection is None or integration is None:
        return _invalid_link(request)

    if request.method == "POST":
        choose = OUTCOMES.get(request.POST.get("outcome", ""))
        if choose is None:
            return render_page(
                request,
                "codat_sandbox/link_start.html",
                _start_context(
                    request, connection, integration, error="Choose one of the options."
                ),
                status=400,
            )
        outcome = choose(connection=connection)
        connection.refresh_from_db()
        template = services.profile_get().redirect_url
        if not template:
            return render_page(
                request,
                "codat_sandbox/link_finished.html",
                {"connection": connection, "integration": integration, "outcome": outcome},
            )
        return HttpResponseRedirect(
            redirect_url_for(
                connection, integration, outcome, _custom_params(request), template=template
            )
        )

    return render_page(
        request, "codat_sandbox/link_start.html", _start_context(request, connection, integration)
    )


def _start_context(
    request: HttpRequest,
    connection: SandboxConnection,
    integration: Integration,
    *,
    error: str = "",
) -> dict[str, Any]:
    return {
        "connection": connection,
        "company": connection.company,
        "integration": integration,
        "is_linked": connection.status == SandboxConnection.Status.LINKED,
        # The POST goes back to the same URL, query string included, so custom parameters such
        # as `state` survive to fill the redirect template.
        "form_action": request.get_full_path(),
        "error": error,
    }


@require_http_methods(["GET", "POST"])
def link_company(request: HttpRequest, company_id: str) -> HttpResponse:
    """A company's `redirect` URL: the customer picks a platform, then continues at that
    connection's own Link page (custom query parameters carried along)."""
    pk = _parse_uuid(company_id)
    company = SandboxCompany.objects.filter(pk=pk).first() if pk else None
    if company is None:
        return _invalid_link(request)

    error = ""
    if request.method == "POST":
        integration = get_integration(request.POST.get("platformKey", ""))
        if integration is None or not integration.is_enabled:
            error = "Choose one of the platforms listed."
        else:
            try:
                connection = services.connection_for_link(company=company, integration=integration)
            except services.SandboxRuleError:
                error = (
                    "This business already has a linked accounting platform. Only one accounting "
                    "platform can be linked at a time."
                )
            else:
                # Relative, so the customer stays on whichever host served this page.
                url = reverse(
                    "codat_sandbox:link_start",
                    kwargs={"company_id": str(company.id), "connection_id": str(connection.id)},
                )
                if request.GET:
                    url = f"{url}?{urlencode(list(request.GET.lists()), doseq=True)}"
                return HttpResponseRedirect(url)

    groups: dict[str, list[Integration]] = {}
    for integration in all_integrations():
        if integration.is_enabled:
            groups.setdefault(integration.source_type, []).append(integration)
    return render_page(
        request,
        "codat_sandbox/link_company.html",
        {
            "company": company,
            "groups": sorted(groups.items()),
            "form_action": request.get_full_path(),
            "error": error,
        },
        status=400 if error else 200,
    )
