"""The sandbox console at /sandbox/: what the sandbox Codat holds, and the levers a tester pulls.

- per connection: expire it (Open Banking style), make a data type's next sync fail;
- the webhook outbox, newest first: replay a message (same webhook-id, a duplicate), deliver two
  in reverse order, hold delivery so messages wait, send what is due now;
- fault injection into the next N API calls: latency, 429 with Retry-After, 500, 503.

Every action is a POST with a CSRF token that redirects back (post/redirect/get). It shows only
sandbox rows, never the app's.

With DEBUG off (a demo deployment) every page and action is for signed-in staff only: the console
shows every tenant's Codat ids and can expire, authorise or slow down anyone's connections.
Anonymous visitors are sent to log in; customers get 403.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from . import faults, services, timeline, webhooks
from .errors import SandboxRuleError
from .forms import FailNextSyncForm, FaultForm, HoldForm, ReorderForm
from .integrations import all_integrations, get_integration
from .link import render_page
from .models import SandboxCompany, SandboxConnection, SandboxWebhookMessage

OUTBOX_SHOWN = 50
SYNCS_SHOWN = 10


def console_access(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Open with DEBUG on (local work); staff only otherwise."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.DEBUG:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not (request.user.is_active and request.user.is_staff):
                raise PermissionDenied("The sandbox console is for staff.")
        return view(request, *args, **kwargs)

    guarded.sandbox_console = True  # type: ignore[attr-defined]
    return guarded


def _back(anchor: str = "") -> HttpResponseRedirect:
    url = reverse("codat_sandbox:console")
    return HttpResponseRedirect(f"{url}#{anchor}" if anchor else url)


def _connection(connection_id: str) -> SandboxConnection:
    try:
        pk = uuid.UUID(connection_id)
    except ValueError:
        raise Http404("No such connection") from None
    connection = SandboxConnection.objects.select_related("company").filter(pk=pk).first()
    if connection is None:
        raise Http404("No such connection")
    return connection


def _message(public_id: str) -> SandboxWebhookMessage:
    try:
        pk = uuid.UUID(public_id)
    except ValueError:
        raise Http404("No such message") from None
    message = SandboxWebhookMessage.objects.filter(public_id=pk).first()
    if message is None:
        raise Http404("No such message")
    return message


def _form_errors(form: Any) -> str:
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


# --- the page ------------------------------------------------------------------------------


def _pretty(message: SandboxWebhookMessage) -> str:
    return json.dumps(json.loads(bytes(message.payload)), indent=2)


@console_access
@require_GET
def console(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    companies = SandboxCompany.objects.prefetch_related("connections").order_by("-created", "id")
    rows = []
    for company in companies:
        connections = []
        for connection in company.connections.all():
            integration = get_integration(connection.integration_key)
            connections.append(
                {
                    "connection": connection,
                    "integration": integration,
                    "link_path": reverse(
                        "codat_sandbox:link_start",
                        kwargs={
                            "company_id": str(company.id),
                            "connection_id": str(connection.id),
                        },
                    ),
                    "active_errors": [
                        entry
                        for entry in connection.data_connection_errors
                        if entry.get("status") == "Active"
                    ],
                    "last_sync": timeline.last_successful_sync(connection.datasets.all(), now)
                    or connection.last_sync,
                    "can_expire": connection.status == SandboxConnection.Status.LINKED,
                    "data_types": integration.data_types if integration else (),
                }
            )
        recent = [
            {
                "dataset": dataset,
                "status": timeline.status_at(dataset, now),
                "progress": timeline.progress_at(dataset, now),
            }
            for dataset in company.datasets.order_by("-requested", "-id")[:SYNCS_SHOWN]
        ]
        rows.append({"company": company, "connections": connections, "syncs": recent})

    names = {company.id: company.name for company in companies}
    outbox = [
        {
            "message": message,
            "company_name": (
                names.get(message.company_id, "") if message.company_id is not None else ""
            ),
            "body": _pretty(message),
        }
        for message in SandboxWebhookMessage.objects.order_by("-id")[:OUTBOX_SHOWN]
    ]
    pending = SandboxWebhookMessage.objects.filter(delivered_at=None, failed_at=None).order_by(
        "due_at", "id"
    )
    return render_page(
        request,
        "codat_sandbox/console.html",
        {
            "rows": rows,
            "integrations": all_integrations(),
            "outbox": outbox,
            "pending": pending,
            "held": webhooks.is_held(),
            "consumers": webhooks.consumers(),
            "faults": faults.active_faults(),
            "fault_form": FaultForm(),
            "messages": messages.get_messages(request),
        },
    )


# --- connections ---------------------------------------------------------------------------


@console_access
@require_POST
def expire_connection(request: HttpRequest, connection_id: str) -> HttpResponse:
    connection = _connection(connection_id)
    try:
        services.connection_expire(connection=connection)
    except SandboxRuleError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            f"Connection {connection.id} is now Deauthorized; connection.disconnected is queued.",
        )
    return _back(f"company-{connection.company_id}")


@console_access
@require_POST
def fail_next_sync(request: HttpRequest, connection_id: str) -> HttpResponse:
    connection = _connection(connection_id)
    integration = get_integration(connection.integration_key)
    form = FailNextSyncForm(request.POST, data_types=integration.data_types if integration else ())
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _back(f"company-{connection.company_id}")
    data_type = form.cleaned_data["data_type"]
    services.connection_fail_next_sync(connection=connection, data_type=data_type)
    messages.success(request, f"The next {data_type} sync of connection {connection.id} will fail.")
    return _back(f"company-{connection.company_id}")


# --- webhooks ------------------------------------------------------------------------------


@console_access
@require_POST
def replay_message(request: HttpRequest, public_id: str) -> HttpResponse:
    message = _message(public_id)
    webhooks.replay(message)
    messages.success(request, f"{message.event_type} {message.msg_id} will be sent again.")
    return _back("outbox")


@console_access
@require_POST
def reorder_messages(request: HttpRequest) -> HttpResponse:
    form = ReorderForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _back("outbox")
    try:
        webhooks.deliver_in_reverse_order(form.cleaned_data["first"], form.cleaned_data["second"])
    except webhooks.ReorderError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "The two messages will be delivered in reverse order.")
    return _back("outbox")


@console_access
@require_POST
def hold_delivery(request: HttpRequest) -> HttpResponse:
    form = HoldForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _back("outbox")
    held = form.cleaned_data["held"]
    webhooks.set_held(held)
    messages.success(
        request, "Webhook delivery is held." if held else "Webhook delivery is released."
    )
    return _back("outbox")


@console_access
@require_POST
def deliver_now(request: HttpRequest) -> HttpResponse:
    if webhooks.is_held():
        messages.error(request, "Delivery is held; release it first.")
        return _back("outbox")
    delivered = webhooks.deliver_due()
    messages.success(request, f"Sent what was due: {delivered} delivered.")
    return _back("outbox")


# --- faults --------------------------------------------------------------------------------


@console_access
@require_POST
def add_fault(request: HttpRequest) -> HttpResponse:
    form = FaultForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _back("faults")
    fault = faults.fault_add(
        kind=form.cleaned_data["kind"],
        calls=form.cleaned_data["calls"],
        retry_after=form.cleaned_data["retry_after"],
        latency_seconds=form.cleaned_data["latency_seconds"],
    )
    messages.success(
        request, f"The next {fault.remaining} API call(s) get: {fault.get_kind_display()}."
    )
    return _back("faults")


@console_access
@require_POST
def clear_faults(request: HttpRequest) -> HttpResponse:
    faults.faults_clear()
    messages.success(request, "No faults remain; API calls are answered normally.")
    return _back("faults")
