"""What the sandbox Codat does: create and change companies and connections, run Link sessions.

Views (the REST API, the hosted Link page, the console) validate their input and call exactly one
of these functions, so each Codat rule lives in one place. Each change that Codat announces
writes its webhook message in the same transaction (webhooks.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import syncs, webhooks
from .errors import SandboxRuleError
from .integrations import Integration, get_integration
from .models import SandboxCompany, SandboxConnection, SandboxProfile, SandboxWebhookConsumer
from .serializers import iso

Status = SandboxConnection.Status


# --- companies -----------------------------------------------------------------------------


@transaction.atomic
def company_create(
    *, name: str, description: str = "", tags: dict[str, str] | None = None
) -> SandboxCompany:
    company = SandboxCompany(name=name, description=description, tags=tags or {})
    company.full_clean()
    company.save()
    webhooks.company_event("company.created", company)
    return company


@transaction.atomic
def company_change(
    *, company: SandboxCompany, name: str, description: str, tags: dict[str, str]
) -> SandboxCompany:
    """Set all three fields; PUT and PATCH differ only in how the view fills missing ones."""
    company.name = name
    company.description = description
    company.tags = tags
    company.full_clean()
    company.save(update_fields=["name", "description", "tags"])
    return company


@transaction.atomic
def company_delete(*, company: SandboxCompany) -> None:
    # Codat deletes the company's connections (and cached data) with it; the FK cascades.
    # It announces `company.deleted` only: a `connection.deleted` per connection is not
    # documented, so the sandbox does not send one.
    webhooks.company_event("company.deleted", company)
    webhooks.drop_unsent_reads_of_company(company.id)
    company.delete()


# --- the client's account: profile and webhook consumers -------------------------------

# Codat allows a client at most this many webhook consumers.
MAX_WEBHOOK_CONSUMERS = 50


def profile_get() -> SandboxProfile:
    """The client's profile; a fresh account's (no redirect URL) until it is first changed."""
    return SandboxProfile.objects.filter(pk=1).first() or SandboxProfile(
        pk=1, name=syncs.DEFAULT_PROFILE_NAME
    )


@transaction.atomic
def profile_replace(
    *,
    name: str,
    redirect_url: str,
    logo_url: str = "",
    icon_url: str = "",
    white_list_urls: list[str] | None = None,
    confirm_company_name: bool | None = None,
) -> SandboxProfile:
    """`PUT /profile`: every field is replaced; one left out is cleared (Codat asks for all)."""
    profile = syncs.profile_for_update()
    profile.name = name
    profile.redirect_url = redirect_url
    profile.logo_url = logo_url
    profile.icon_url = icon_url
    profile.white_list_urls = list(white_list_urls or [])
    profile.confirm_company_name = confirm_company_name
    profile.full_clean()
    profile.save()
    return profile


@transaction.atomic
def webhook_consumer_create(
    *,
    url: str,
    event_types: list[str],
    disabled: bool = False,
    company_tags: list[str] | None = None,
) -> SandboxWebhookConsumer:
    """`POST /webhooks`. Codat keeps no rule against two consumers for one URL: each then gets
    its own copy of every message."""
    syncs.profile_for_update()  # the account's lock: two creates cannot both pass the limit
    if SandboxWebhookConsumer.objects.count() >= MAX_WEBHOOK_CONSUMERS:
        raise SandboxRuleError(
            f"The number of webhook consumers is limited to {MAX_WEBHOOK_CONSUMERS}; delete an "
            "unused consumer first."
        )
    consumer = SandboxWebhookConsumer(
        url=url,
        event_types=list(event_types),
        disabled=disabled,
        company_tags=list(company_tags or []),
    )
    consumer.full_clean()
    consumer.save()
    return consumer


@transaction.atomic
def webhook_consumer_delete(*, consumer: SandboxWebhookConsumer) -> None:
    # Messages already written for it are no longer owed to it (webhooks.deliver_due).
    consumer.delete()


# --- connections ---------------------------------------------------------------------------


def _linked_accounting_connection(
    company: SandboxCompany, *, other_than: SandboxConnection | None = None
) -> tuple[SandboxConnection, Integration] | None:
    """The company's linked accounting connection and its integration, if it has one."""
    for connection in company.connections.filter(status=Status.LINKED).order_by("created"):
        if other_than is not None and connection.pk == other_than.pk:
            continue
        integration = get_integration(connection.integration_key)
        if integration is not None and integration.source_type == "Accounting":
            return connection, integration
    return None


def _lock(company: SandboxCompany) -> SandboxCompany:
    # Serialises the one-accounting-connection check between concurrent requests for the same
    # company (PostgreSQL); SQLite serialises writers anyway.
    return SandboxCompany.objects.select_for_update().get(pk=company.pk)


@transaction.atomic
def connection_create(*, company: SandboxCompany, integration: Integration) -> SandboxConnection:
    """A new PendingAuth connection, as `POST …/connections` makes.

    Codat allows one active accounting connection per company, so a second accounting
    connection is refused while one is Linked (a PendingAuth one does not count: the customer
    may never finish it).
    """
    company = _lock(company)
    if integration.source_type == "Accounting":
        existing = _linked_accounting_connection(company)
        if existing is not None:
            existing_connection, existing_integration = existing
            raise SandboxRuleError(
                f"Company {company.id} already has a linked accounting connection "
                f"({existing_connection.id}, {existing_integration.name}). "
                "Unlink or delete it before adding another accounting connection."
            )
    connection = SandboxConnection(company=company, integration_key=integration.key)
    connection.full_clean()
    connection.save()
    webhooks.connection_event("connection.created", connection)
    return connection


@transaction.atomic
def connection_for_link(*, company: SandboxCompany, integration: Integration) -> SandboxConnection:
    """The connection a company-level Link session uses for the chosen platform.

    Codat's company Link page shows the company's existing connection to a platform rather than
    adding another, so the latest one is reused (a Linked one then answers "already connected");
    only when there is none is a new PendingAuth connection created, under the usual rules.
    """
    existing = (
        company.connections.filter(integration_key=integration.key).order_by("-created").first()
    )
    if existing is not None:
        return existing
    return connection_create(company=company, integration=integration)


@transaction.atomic
def connection_unlink(*, connection: SandboxConnection) -> SandboxConnection:
    """Codat's unlink: only a Linked connection can be unlinked; its data stays readable."""
    if connection.status != Status.LINKED:
        raise SandboxRuleError(
            f"Only Linked connections can be unlinked; connection {connection.id} "
            f"is {connection.status}."
        )
    connection.status = Status.UNLINKED
    connection.save(update_fields=["status"])
    webhooks.connection_event("connection.disconnected", connection)
    return connection


@transaction.atomic
def connection_delete(*, connection: SandboxConnection) -> None:
    # The payload shows the connection as it was; its unsent reads lose its datasets.
    webhooks.connection_event("connection.deleted", connection)
    pending_reads = webhooks.pending_read_message_ids(connection.datasets.all())
    connection.delete()
    webhooks.rebuild_read_messages(pending_reads)


# Codat's text when a platform withdraws access (docs/codat.md §9: Open Banking consent expiring).
DEAUTHORIZED_TEXT = syncs.AUTH_ERROR_MESSAGE


@transaction.atomic
def connection_expire(*, connection: SandboxConnection) -> SandboxConnection:
    """The platform withdrew access (an Open Banking consent reached its 90 days, say).

    The connection becomes Deauthorized with an Active 401 `dataConnectionErrors` entry, its
    datasets still fetching end in AuthError, and `connection.disconnected` is sent. Re-linking
    the same connection (its `linkUrl`) resolves the error and sends `connection.reconnected`.
    """
    connection = SandboxConnection.objects.select_for_update().get(pk=connection.pk)
    if connection.status != Status.LINKED:
        raise SandboxRuleError(
            f"Only a Linked connection can lose its access; connection {connection.id} "
            f"is {connection.status}."
        )
    now = timezone.now()
    syncs.end_in_flight_datasets(
        connection=connection,
        outcome=syncs.Outcome.AUTH_ERROR,
        error_message=DEAUTHORIZED_TEXT,
        now=now,
    )
    connection.status = Status.DEAUTHORIZED
    connection.data_connection_errors = [
        *connection.data_connection_errors,
        {
            "statusCode": "401",
            "statusText": DEAUTHORIZED_TEXT,
            "errorMessage": DEAUTHORIZED_TEXT,
            "erroredOnUtc": iso(now),
            "status": "Active",
        },
    ]
    connection.save(update_fields=["status", "data_connection_errors"])
    webhooks.connection_event("connection.disconnected", connection)
    return connection


@transaction.atomic
def connection_fail_next_sync(*, connection: SandboxConnection, data_type: str) -> None:
    """The next sync of `data_type` over this connection ends in FetchError (once)."""
    integration = get_integration(connection.integration_key)
    if integration is None or data_type not in integration.data_types:
        raise SandboxRuleError(
            f"{data_type} is not a data type a {connection.integration_key} connection syncs."
        )
    connection = SandboxConnection.objects.select_for_update().get(pk=connection.pk)
    if data_type not in connection.fail_next_sync_data_types:
        connection.fail_next_sync_data_types = [*connection.fail_next_sync_data_types, data_type]
        connection.save(update_fields=["fail_next_sync_data_types"])


# --- hosted Link ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkOutcome:
    """What the redirect reports: Codat's standardised `statusCode` and `errorMessage`, and the
    platform's own `statusText`."""

    status_code: str
    error_message: str = ""
    status_text: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code in ("200", "201")


CANCELLED = LinkOutcome("403", "User cancelled.", "User cancelled linking")
FAILED = LinkOutcome("500", "Unknown error occurred.", "The platform reported an unexpected error.")
NOT_SUPPORTED = LinkOutcome(
    "501", "Not supported.", "This platform is not enabled for this client."
)


def _error_entry(outcome: LinkOutcome) -> dict[str, Any]:
    return {
        "statusCode": outcome.status_code,
        "statusText": outcome.status_text,
        "errorMessage": outcome.error_message,
        "erroredOnUtc": iso(timezone.now()),
        "status": "Active",
    }


def _record_failure(connection: SandboxConnection, outcome: LinkOutcome) -> LinkOutcome:
    # The connection keeps its status (PendingAuth stays PendingAuth) and gains an error entry,
    # which is what Codat shows after a failed or cancelled Link session.
    connection.data_connection_errors = [*connection.data_connection_errors, _error_entry(outcome)]
    connection.save(update_fields=["data_connection_errors"])
    webhooks.connection_event("connection.failed", connection)
    return outcome


@transaction.atomic
def link_authorize(*, connection: SandboxConnection) -> LinkOutcome:
    """The customer granted access on the platform's consent screen.

    - Already Linked: nothing to do, statusCode 201 (Codat's "already connected").
    - The integration is switched off for this client: 501 "Not supported.".
    - An accounting connection while another accounting connection of the company is Linked:
      refused like any platform failure — the connection keeps its status, gains an Active
      `dataConnectionErrors` entry with statusCode "500" and a statusText naming the rule, and
      the redirect carries statusCode 500 "Unknown error occurred.".
    - Otherwise PendingAuth/Unlinked/Deauthorized becomes Linked (re-linking reuses the same
      connection, as Codat documents), earlier Active errors are marked Resolved, the initial
      read of the types whose effective setting fetches on first link is queued (syncs.py),
      and the redirect carries statusCode 200. `lastSync` stays empty until a sync finishes.
    """
    company = _lock(connection.company)
    connection = SandboxConnection.objects.select_for_update().get(pk=connection.pk)
    if connection.status == Status.LINKED:
        return LinkOutcome("201")
    integration = get_integration(connection.integration_key)
    if integration is None or not integration.is_enabled:
        return _record_failure(connection, NOT_SUPPORTED)
    if integration.source_type == "Accounting":
        existing = _linked_accounting_connection(company, other_than=connection)
        if existing is not None:
            return _record_failure(
                connection,
                LinkOutcome(
                    "500",
                    FAILED.error_message,
                    "The company already has a linked accounting connection.",
                ),
            )
    resolved_on = iso(timezone.now())
    connection.data_connection_errors = [
        {**entry, "status": "Resolved", "resolvedOnUtc": resolved_on}
        if entry.get("status") == "Active"
        else entry
        for entry in connection.data_connection_errors
    ]
    was_linked_before = connection.status in (Status.UNLINKED, Status.DEAUTHORIZED)
    connection.status = Status.LINKED
    connection.linked_at = timezone.now()
    connection.save(update_fields=["status", "data_connection_errors", "linked_at"])
    webhooks.connection_event(
        "connection.reconnected" if was_linked_before else "connection.connected", connection
    )
    # Every authorisation (first link or re-link) starts Codat's initial read of the types
    # the company's sync settings fetch on first link; `read.completed.initial` announces its
    # end.
    syncs.queue_initial_read(connection=connection)
    return LinkOutcome("200")


@transaction.atomic
def link_cancel(*, connection: SandboxConnection) -> LinkOutcome:
    """The customer backed out. For a Linked connection nothing changes (201, "user exited")."""
    if connection.status == Status.LINKED:
        return LinkOutcome("201")
    return _record_failure(connection, CANCELLED)


@transaction.atomic
def link_fail(*, connection: SandboxConnection) -> LinkOutcome:
    """The platform failed (simulated): 500 "Unknown error occurred."."""
    return _record_failure(connection, FAILED)


@transaction.atomic
def link_unsupported(*, connection: SandboxConnection) -> LinkOutcome:
    """The platform is not available to this client (simulated): 501 "Not supported."."""
    return _record_failure(connection, NOT_SUPPORTED)
