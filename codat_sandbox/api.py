"""The sandbox's Codat REST API, mounted at /sandbox/codat/ (Codat's own paths below that).

Same paths, request checks, JSON envelopes, status codes and error bodies as Codat's Platform
API (docs/codat.md §1–§7), so that any Codat client — ours, curl, Codat's SDKs — works
against it unchanged.
"""

from __future__ import annotations

import base64
import hmac
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from codat.transport import READ_DEADLINE_ENVIRON_KEY

from . import faults, services, syncs
from .errors import (
    CodatApiError,
    company_not_found,
    connection_not_found,
    dataset_not_found,
    integration_not_found,
)
from .integrations import SANDBOX_CLIENT_ID, Integration, all_integrations, get_integration
from .models import SandboxCompany, SandboxConnection, SandboxDataset, SandboxWebhookConsumer
from .querying import filter_and_order, paged_body, parse_paging, parse_tags_filter, tags_match
from .serializers import (
    branding_json,
    client_sync_settings_json,
    company_json,
    company_sync_settings_json,
    connection_json,
    data_statuses_json,
    integration_json,
    profile_json,
    pull_operation_json,
    webhook_consumer_json,
)
from .validation import (
    clean_client_sync_settings_body,
    clean_company_name,
    clean_data_type,
    clean_description,
    clean_platform_key,
    clean_profile_body,
    clean_sync_settings_body,
    clean_tags,
    clean_webhook_consumer_body,
    read_json_object,
)

Handler = Callable[..., HttpResponse]

logger = logging.getLogger(__name__)


# --- plumbing ------------------------------------------------------------------------------


def _expected_authorization() -> str:
    # Codat's scheme: "Basic " + base64 of the API key alone (no "user:password" pair).
    encoded = base64.b64encode(settings.CODAT_SANDBOX_KEY.encode()).decode("ascii")
    return f"Basic {encoded}"


def _is_authorised(request: HttpRequest) -> bool:
    provided = request.headers.get("Authorization", "")
    return hmac.compare_digest(provided.encode(), _expected_authorization().encode())


def endpoint(handlers: Mapping[str, Handler]) -> Callable[..., HttpResponse]:
    """One URL's view: injected faults, the API-key check, then the handler for the method;
    errors as Codat's body.

    The API is called by servers with an API key, never by a browser with a session, so CSRF
    protection does not apply.
    """
    allowed = ", ".join(handlers)

    @csrf_exempt
    def view(request: HttpRequest, **kwargs: str) -> HttpResponse:
        try:
            # Console-injected faults come first, like a struggling gateway in front of Codat.
            # An in-process caller says when it stops waiting (codat.transport).
            faults.inject(deadline=request.META.get(READ_DEADLINE_ENVIRON_KEY))
            if not _is_authorised(request):
                raise CodatApiError(401, "Unauthorized")
            handler = handlers.get(request.method or "")
            if handler is None:
                raise CodatApiError(
                    405,
                    f"The {request.method} method is not allowed on this resource.",
                    headers={"Allow": allowed},
                )
            return handler(request, **kwargs)
        except CodatApiError as error:
            return error.response()
        except services.SandboxRuleError as error:
            return CodatApiError(error.status_code, str(error), service=error.service).response()
        except (BadRequest, SuspiciousOperation):
            # Django's own refusals of a request (over DATA_UPLOAD_MAX_NUMBER_FIELDS query
            # parameters, a body over DATA_UPLOAD_MAX_MEMORY_SIZE) are the client's fault.
            return CodatApiError(
                400, "Error processing request - the request is malformed or too large."
            ).response()
        except Exception:
            # Codat answers its own failures with the same JSON error body, never an HTML page;
            # clients (and the app's retry logic) must see that shape.
            logger.exception("Sandbox API failure on %s %s", request.method, request.path)
            return CodatApiError(
                500, "There is a problem with our server. Please try again later."
            ).response()

    return view


def _json(body: Any, status: int = 200) -> JsonResponse:
    return JsonResponse(body, status=status, safe=False)


def _empty(status: int) -> HttpResponse:
    # Codat's 204 and its delete-connection 200 carry no body, so no content type either.
    response = HttpResponse(status=status)
    del response["Content-Type"]
    return response


def _parse_uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _company(company_id: str) -> SandboxCompany:
    pk = _parse_uuid(company_id)
    company = SandboxCompany.objects.filter(pk=pk).first() if pk else None
    if company is None:
        raise company_not_found(company_id)
    return company


def _connection(company_id: str, connection_id: str) -> SandboxConnection:
    company = _company(company_id)
    pk = _parse_uuid(connection_id)
    connection = (
        SandboxConnection.objects.select_related("company").filter(pk=pk, company=company).first()
        if pk
        else None
    )
    if connection is None:
        raise connection_not_found(connection_id)
    return connection


# Properties the `query` and `orderBy` parameters may name, per resource.
_COMPANY_FIELDS = {
    "id": lambda record: record["id"],
    "name": lambda record: record["name"],
    "description": lambda record: record["description"],
    "created": lambda record: record["created"],
    "lastSync": lambda record: record.get("lastSync"),
}
_CONNECTION_FIELDS = {
    "id": lambda record: record["id"],
    "integrationId": lambda record: record["integrationId"],
    "integrationKey": lambda record: record["integrationKey"],
    "sourceId": lambda record: record["sourceId"],
    "sourceType": lambda record: record["sourceType"],
    "platformName": lambda record: record["platformName"],
    "status": lambda record: record["status"],
    "created": lambda record: record["created"],
    "lastSync": lambda record: record.get("lastSync"),
}
_PULL_OPERATION_FIELDS = {
    # `isCompleted` is deliberately absent: Codat documents it as not queryable.
    "id": lambda record: record["id"],
    "companyId": lambda record: record["companyId"],
    "connectionId": lambda record: record["connectionId"],
    "dataType": lambda record: record["dataType"],
    "status": lambda record: record["status"],
    "requested": lambda record: record["requested"],
    "completed": lambda record: record.get("completed"),
    "progress": lambda record: record["progress"],
    "isErrored": lambda record: record["isErrored"],
}
_INTEGRATION_FIELDS = {
    "key": lambda record: record["key"],
    "name": lambda record: record["name"],
    "enabled": lambda record: record["enabled"],
    "sourceType": lambda record: record["sourceType"],
    "sourceId": lambda record: record["sourceId"],
    "integrationId": lambda record: record["integrationId"],
    "isBeta": lambda record: record["isBeta"],
    "isOfflineConnector": lambda record: record["isOfflineConnector"],
    "dataProvidedBy": lambda record: record["dataProvidedBy"],
}


# --- companies -----------------------------------------------------------------------------


def list_companies(request: HttpRequest) -> HttpResponse:
    """list-companies: paged; `tags` filter (=, !=, ~ joined by &&) and `query`/`orderBy`."""
    paging = parse_paging(request)
    companies = list(SandboxCompany.objects.prefetch_related("connections"))
    tags_filter = request.GET.get("tags", "")
    if tags_filter.strip():
        clauses = parse_tags_filter(tags_filter)
        companies = [company for company in companies if tags_match(company.tags, clauses)]
    records = [company_json(company, company.connections.all()) for company in companies]
    records = filter_and_order(request, records, resource="Company", fields=_COMPANY_FIELDS)
    return _json(paged_body(request, self_href="/companies", results=records, paging=paging))


def create_company(request: HttpRequest) -> HttpResponse:
    """create-company: 200 with the new company (Codat answers 200, not 201)."""
    body = read_json_object(request)
    company = services.company_create(
        name=clean_company_name(body.get("name"), validator="CreateCompany"),
        description=clean_description(body.get("description"), validator="CreateCompany"),
        tags=clean_tags(body.get("tags"), validator="CreateCompany"),
    )
    return _json(company_json(company, []))


def get_company(request: HttpRequest, company_id: str) -> HttpResponse:
    return _json(company_json(_company(company_id)))


def replace_company(request: HttpRequest, company_id: str) -> HttpResponse:
    """replace-company (PUT): name required; omitted description and tags are cleared."""
    company = _company(company_id)
    body = read_json_object(request)
    company = services.company_change(
        company=company,
        name=clean_company_name(body.get("name"), validator="ReplaceCompany"),
        description=clean_description(body.get("description"), validator="ReplaceCompany"),
        tags=clean_tags(body.get("tags"), validator="ReplaceCompany"),
    )
    return _json(company_json(company))


def update_company(request: HttpRequest, company_id: str) -> HttpResponse:
    """update-company (PATCH): absent or null name/description are kept; `tags`, when sent,
    replaces the tags (an empty object removes them all), as Codat's docs warn."""
    company = _company(company_id)
    body = read_json_object(request)
    name = company.name
    if body.get("name") is not None:
        name = clean_company_name(body["name"], validator="UpdateCompany")
    description = company.description
    if body.get("description") is not None:
        description = clean_description(body["description"], validator="UpdateCompany")
    tags = company.tags
    if "tags" in body:
        tags = clean_tags(body["tags"], validator="UpdateCompany")
    company = services.company_change(
        company=company, name=name, description=description, tags=tags
    )
    return _json(company_json(company))


def delete_company(request: HttpRequest, company_id: str) -> HttpResponse:
    """delete-company: 204, and the company's connections go with it."""
    services.company_delete(company=_company(company_id))
    return _empty(204)


# --- connections ---------------------------------------------------------------------------


def list_connections(request: HttpRequest, company_id: str) -> HttpResponse:
    paging = parse_paging(request)
    company = _company(company_id)
    records = [connection_json(connection) for connection in company.connections.all()]
    records = filter_and_order(
        request, records, resource="DataConnection", fields=_CONNECTION_FIELDS
    )
    return _json(
        paged_body(
            request,
            self_href=f"/companies/{company.id}/connections",
            results=records,
            paging=paging,
        )
    )


def create_connection(request: HttpRequest, company_id: str) -> HttpResponse:
    """create-connection: 200 with a PendingAuth connection and its `linkUrl`.

    An unknown or switched-off platform key, or a second accounting connection while one is
    Linked, is refused with 400 and a Codat error body.
    """
    company = _company(company_id)
    platform_key = clean_platform_key(read_json_object(request).get("platformKey"))
    integration = get_integration(platform_key)
    if integration is None:
        raise CodatApiError(400, f"No integration was found with key {platform_key}.")
    if not integration.is_enabled:
        raise CodatApiError(
            400, f"Integration {platform_key} ({integration.name}) is not enabled for this client."
        )
    connection = services.connection_create(company=company, integration=integration)
    return _json(connection_json(connection))


def get_connection(request: HttpRequest, company_id: str, connection_id: str) -> HttpResponse:
    return _json(connection_json(_connection(company_id, connection_id)))


def delete_connection(request: HttpRequest, company_id: str, connection_id: str) -> HttpResponse:
    """delete-connection: 200 with an empty body (not 204 — Codat's own quirk)."""
    services.connection_delete(connection=_connection(company_id, connection_id))
    return _empty(200)


def unlink_connection(request: HttpRequest, company_id: str, connection_id: str) -> HttpResponse:
    """unlink-connection: `{"status": "Unlinked"}` on a Linked connection."""
    connection = _connection(company_id, connection_id)
    status = read_json_object(request).get("status")
    if status != SandboxConnection.Status.UNLINKED:
        raise CodatApiError(
            400,
            'Error processing request - the only status a connection can be set to is "Unlinked".',
        )
    connection = services.connection_unlink(connection=connection)
    return _json(connection_json(connection))


# --- sync settings, refreshes, data status, pull operations ------------------------------


def get_sync_settings(request: HttpRequest, company_id: str) -> HttpResponse:
    """get-company-syncSettings: the company's own settings, or the client's defaults."""
    return _json(company_sync_settings_json(_company(company_id)))


def set_sync_settings(request: HttpRequest, company_id: str) -> HttpResponse:
    """set-company-syncSettings: the body replaces the company's settings; 204."""
    company = _company(company_id)
    settings_input, overrides_defaults = clean_sync_settings_body(
        read_json_object(request), company_id=str(company.id)
    )
    syncs.sync_settings_replace(
        company=company, settings=settings_input, overrides_defaults=overrides_defaults
    )
    return _empty(204)


def _company_now(company_id: str) -> SandboxCompany:
    """The company, its scheduled refreshes that fell due since it was last looked at written
    first (syncs.run_due_schedules), as Codat's scheduler would have run them."""
    company = _company(company_id)
    syncs.run_due_schedules(company=company)
    return company


def refresh_data_type(request: HttpRequest, company_id: str, data_type: str) -> HttpResponse:
    """refresh-data-type: 200 with the (first) new pull operation.

    `?connectionId=` limits the refresh to that connection (404 if it is not the company's).
    """
    data_type = clean_data_type(data_type)
    company = _company_now(company_id)
    connection = None
    raw_connection_id = request.GET.get("connectionId", "")
    if raw_connection_id:
        if _parse_uuid(raw_connection_id) is None:
            raise CodatApiError(400, "Error processing request - connectionId must be a UUID.")
        connection = _connection(str(company.id), raw_connection_id)
    now = timezone.now()
    datasets = syncs.queue_data_type(
        company=company, data_type=data_type, connection=connection, now=now
    )
    return _json(pull_operation_json(datasets[0], now))


def refresh_company_data(request: HttpRequest, company_id: str) -> HttpResponse:
    """refresh-company-data: queues the first-link types over every Linked connection; 204."""
    syncs.queue_all(company=_company_now(company_id))
    return _empty(204)


def get_data_status(request: HttpRequest, company_id: str) -> HttpResponse:
    company = _company_now(company_id)
    return _json(data_statuses_json(company.datasets.all(), timezone.now()))


def list_pull_operations(request: HttpRequest, company_id: str) -> HttpResponse:
    """list-pull-operations: paged, newest first unless `orderBy` says otherwise."""
    paging = parse_paging(request)
    company = _company_now(company_id)
    now = timezone.now()
    records = [
        pull_operation_json(dataset, now)
        for dataset in company.datasets.order_by("-requested", "-id")
    ]
    records = filter_and_order(
        request, records, resource="PullOperation", fields=_PULL_OPERATION_FIELDS
    )
    return _json(
        paged_body(
            request,
            self_href=f"/companies/{company.id}/data/history",
            results=records,
            paging=paging,
        )
    )


def get_pull_operation(request: HttpRequest, company_id: str, dataset_id: str) -> HttpResponse:
    company = _company_now(company_id)
    pk = _parse_uuid(dataset_id)
    dataset = SandboxDataset.objects.filter(pk=pk, company=company).first() if pk else None
    if dataset is None:
        raise dataset_not_found(dataset_id)
    return _json(pull_operation_json(dataset, timezone.now()))


# --- the client's account: profile, client-wide sync settings, webhook consumers ----------


def get_profile(request: HttpRequest) -> HttpResponse:
    """get-profile: a fresh account has no redirect URL (an empty `redirectUrl`)."""
    return _json(profile_json(services.profile_get()))


def update_profile(request: HttpRequest) -> HttpResponse:
    """update-profile (PUT): every field replaced; 200 with the profile."""
    profile = services.profile_replace(**clean_profile_body(read_json_object(request)))
    return _json(profile_json(profile))


def get_client_sync_settings(request: HttpRequest) -> HttpResponse:
    """get-profile-syncSettings: every data type, Codat's default where the client set none."""
    return _json(client_sync_settings_json())


def set_client_sync_settings(request: HttpRequest) -> HttpResponse:
    """update-profile-syncSettings: the body replaces the client-wide settings; 204."""
    settings_input, overrides_defaults = clean_client_sync_settings_body(
        read_json_object(request), client_id=SANDBOX_CLIENT_ID
    )
    syncs.client_sync_settings_replace(
        settings=settings_input, overrides_defaults=overrides_defaults
    )
    return _empty(204)


def list_webhook_consumers(request: HttpRequest) -> HttpResponse:
    """list-webhook-consumers: `{"results": [...]}`, not the paged envelope."""
    consumers = SandboxWebhookConsumer.objects.all()
    return _json({"results": [webhook_consumer_json(consumer) for consumer in consumers]})


def create_webhook_consumer(request: HttpRequest) -> HttpResponse:
    """create-webhook-consumer: 201 with the consumer (its signing secret is not returned)."""
    consumer = services.webhook_consumer_create(
        **clean_webhook_consumer_body(read_json_object(request))
    )
    return _json(webhook_consumer_json(consumer), status=201)


def delete_webhook_consumer(request: HttpRequest, webhook_id: str) -> HttpResponse:
    pk = _parse_uuid(webhook_id)
    consumer = SandboxWebhookConsumer.objects.filter(pk=pk).first() if pk else None
    if consumer is None:
        raise CodatApiError(404, f"No webhook consumer was found with ID {webhook_id}")
    services.webhook_consumer_delete(consumer=consumer)
    return _empty(204)


# --- integrations --------------------------------------------------------------------------


def _connection_counts() -> dict[str, tuple[int, int]]:
    rows = SandboxConnection.objects.values("integration_key").annotate(
        total=Count("id"), linked=Count("id", filter=Q(status=SandboxConnection.Status.LINKED))
    )
    return {row["integration_key"]: (row["linked"], row["total"]) for row in rows}


def list_integrations(request: HttpRequest) -> HttpResponse:
    """list-integrations: paged; `query` such as `sourceType=Accounting&&enabled=true`."""
    paging = parse_paging(request)
    counts = _connection_counts()
    records = [integration_json(integration, counts) for integration in all_integrations()]
    records = filter_and_order(request, records, resource="Integration", fields=_INTEGRATION_FIELDS)
    return _json(paged_body(request, self_href="/integrations", results=records, paging=paging))


def _integration(platform_key: str) -> Integration:
    integration = get_integration(platform_key)
    if integration is None:
        raise integration_not_found(platform_key)
    return integration


def get_integration_view(request: HttpRequest, platform_key: str) -> HttpResponse:
    return _json(integration_json(_integration(platform_key), _connection_counts()))


def get_integration_branding(request: HttpRequest, platform_key: str) -> HttpResponse:
    return _json(branding_json(_integration(platform_key)))


def _no_such_route(request: HttpRequest, **kwargs: str) -> HttpResponse:
    raise CodatApiError(404, f"No resource was found at {request.path}.")


_ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

companies = endpoint({"GET": list_companies, "POST": create_company})
company = endpoint(
    {"GET": get_company, "PUT": replace_company, "PATCH": update_company, "DELETE": delete_company}
)
connections = endpoint({"GET": list_connections, "POST": create_connection})
connection = endpoint(
    {"GET": get_connection, "DELETE": delete_connection, "PATCH": unlink_connection}
)
sync_settings = endpoint({"GET": get_sync_settings, "POST": set_sync_settings})
data_queue = endpoint({"POST": refresh_data_type})
data_all = endpoint({"POST": refresh_company_data})
data_status = endpoint({"GET": get_data_status})
data_history = endpoint({"GET": list_pull_operations})
data_history_item = endpoint({"GET": get_pull_operation})
profile = endpoint({"GET": get_profile, "PUT": update_profile})
profile_sync_settings = endpoint(
    {"GET": get_client_sync_settings, "POST": set_client_sync_settings}
)
webhook_consumers = endpoint({"GET": list_webhook_consumers, "POST": create_webhook_consumer})
webhook_consumer = endpoint({"DELETE": delete_webhook_consumer})
integrations = endpoint({"GET": list_integrations})
integration = endpoint({"GET": get_integration_view})
integration_branding = endpoint({"GET": get_integration_branding})
not_found = endpoint(dict.fromkeys(_ANY_METHOD, _no_such_route))


__all__ = [
    "companies",
    "company",
    "connection",
    "connections",
    "data_all",
    "data_history",
    "data_history_item",
    "data_queue",
    "data_status",
    "integration",
    "integration_branding",
    "integrations",
    "not_found",
    "profile",
    "profile_sync_settings",
    "sync_settings",
    "webhook_consumer",
    "webhook_consumers",
]
