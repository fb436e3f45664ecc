"""L5: no hostile input gets a 5xx, on any route, whoever sends it.

Every route in the URLconf (the admin's for each registered model, the sandbox's Codat API,
console and Link pages, the Link return) is sent, by a visitor, a signed-in customer and
staff: NUL bytes and bytes that are not UTF-8 in query-string names and values, in the path
and in urlencoded and multipart bodies; over-long values; more parameters than Django parses;
malformed ids in the path; methods the route does not serve; and, on the sandbox's Codat API,
hostile JSON. Whatever the answer is, it is not a server error.

Run it on PostgreSQL too (DATABASE_URL=postgres://…): SQLite stores a NUL byte without
complaint; PostgreSQL refuses it in any text, and that is where `%00` became a 500.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from django.contrib.admin.utils import quote as admin_quote
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client, RequestFactory, override_settings
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import URLPattern

from codat_sandbox import services as sandbox_services
from codat_sandbox.integrations import get_integration
from codat_sandbox.models import SandboxDataset, SandboxWebhookMessage
from companies.models import Company
from companies.scoping import scopes_disabled
from connections.models import DataSync, LinkAttempt, WebhookEvent
from consents.models import Consent, Product
from tests.consents.steps import grant
from tests.fakes import link
from tests.hardening.urlconf import concrete_path, parameters, walk
from tests.personas import PASSWORD, make_member

pytestmark = pytest.mark.django_db

ROUTES = sorted(walk(), key=lambda item: item[0])
SANDBOX_API = "sandbox/^codat"
PERSONAS = ("visitor", "owner", "staff")

# Longer than any column and any form field allows; short enough, all together, to stay under
# the 8 KiB cap on query strings and so reach the views.
OVER_LONG = "9" * 300
TOO_LONG = "9" * 100_000
# The query parameters and form fields the app's views read (their forms, the Link return, the
# sandbox's paging and filters, the admin's own), so that hostile values reach real code.
QUERY_NAMES = (
    "q", "type", "product", "next", "state", "companyId", "connectionId", "statusCode",
    "errorMessage", "statusText", "page", "pageSize", "query", "orderBy", "tags", "o", "p",
    "_changelist_filters", "_to_field", "_popup",
)  # fmt: skip
FORM_NAMES = (
    "agree", "choice", "outcome", "platformKey", "username", "password", "email", "name",
    "business_name", "password1", "password2", "old_password", "new_password1",
    "new_password2", "data_type", "first", "second", "held", "kind", "calls", "retry_after",
    "latency_seconds", "next",
)  # fmt: skip
MALFORMED_IDS = ("not-a-uuid'--", "%00", "9" * 40)
WRONG_METHODS = ("PUT", "PATCH", "DELETE")
URLENCODED = "application/x-www-form-urlencoded"

# What only the sandbox's Codat API reads; each must get Codat's 400, never a 500.
HOSTILE_JSON = {
    "deep array": "[" * 100_000 + "]" * 100_000,
    "deep object": '{"name": ' * 50_000 + "1" + "}" * 50_000,
    "NUL in values": json.dumps({"name": "a\u0000b", "description": "\u0000", "status": "\u0000"}),
    "NUL in tags": json.dumps({"name": "Acme", "tags": {"k\u0000": "v\u0000"}}),
    "lone surrogate": '{"name": "Acme", "description": "\\ud800", "platformKey": "\\udfff"}',
    "huge integer": '{"name": 1' + "0" * 5000 + "}",
    "NaN": '{"name": NaN, "description": Infinity, "status": -Infinity}',
    "huge float": '{"name": 1e999}',
    "not UTF-8": b'{"name": "\xff\xfe"}',
}


@dataclass(frozen=True)
class World:
    staff_id: int
    sessions: dict[str, str]  # persona: session key, so that no test has to sign anyone in
    values: dict[str, str]
    sandbox_values: dict[str, str]


def _build_world() -> World:
    """An object of every kind a route's id can name, so that ids lead somewhere real."""
    acme = Company.objects.create(name="Acme Ltd")
    owner = make_member("owner@acme.example", company=acme)
    staff = get_user_model().objects.create_superuser(
        username="staff@bank.example", email="staff@bank.example", password=PASSWORD
    )
    # The app's Codat is the in-process sandbox; give Acme a company and a connection there.
    sandbox_company = sandbox_services.company_create(name="Acme Ltd", description="", tags={})
    sandbox_connection = sandbox_services.connection_create(
        company=sandbox_company, integration=get_integration("mqjo")
    )
    sandbox_services.link_authorize(connection=sandbox_connection)
    acme.codat_company_id = sandbox_company.id
    acme.save()
    connection = link(acme, source_type="Accounting", key="mqjo", name="Sandbox")
    connection.codat_connection_id = sandbox_connection.id
    connection.save()
    lending = Product.objects.get(slug="lending")
    owner_client, staff_client = _client(owner), _client(staff)
    grant(owner_client, lending.slug)
    attempt = LinkAttempt.objects.create(
        state_hash=uuid.uuid4().hex,
        user=owner,
        company=acme,
        connection=connection,
        expires_at="2099-01-01T00:00:00Z",
    )
    DataSync.objects.create(
        connection=connection,
        data_type="invoices",
        status=DataSync.Status.COMPLETE,
        last_event_at=attempt.created_at,
    )
    WebhookEvent.objects.store_received(webhook_id="msg_fuzz", body=b'{"eventType": "x"}')
    assert Consent.objects.filter(company=acme).exists()
    dataset = SandboxDataset.objects.filter(company=sandbox_company).first()
    message = SandboxWebhookMessage.objects.first()
    consumer = sandbox_services.webhook_consumer_create(
        url=f"{settings.SITE_URL}/webhooks/codat/", event_types=[]
    )
    return World(
        staff_id=staff.pk,
        sessions={
            persona: client.cookies[settings.SESSION_COOKIE_NAME].value
            for persona, client in [("owner", owner_client), ("staff", staff_client)]
        },
        values={
            "connection_id": str(connection.id),
            "attempt_id": str(attempt.id),
            "platform_key": "gbol",
            "slug": lending.slug,
            "version": "1",
            "digest": "0123456789abcdef",
            "uidb64": "MQ",
            "token": "set-password",
            # The admin's own: a user's password page, the "view on site" redirect, app pages.
            "id": str(owner.pk),
            "content_type_id": str(ContentType.objects.get_for_model(acme).pk),
            "object_id": str(acme.pk),
            # The Lending review, a staff page of ours beside the admin's.
            "company_id": str(acme.pk),
            "app_label": "connections",
            "url": "no-such-page/",
        },
        sandbox_values={
            "company_id": str(sandbox_company.id),
            "connection_id": str(sandbox_connection.id),
            "data_type": "invoices",
            "dataset_id": str(dataset.id if dataset else uuid.uuid4()),
            "platform_key": "mqjo",
            "name": "square.svg",
            "public_id": str(message.public_id if message else uuid.uuid4()),
            "webhook_id": str(consumer.id),
        },
    )


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[World]:
    """Built once for the module, in a transaction rolled back at its end; each test runs in a
    savepoint inside it, so what one route's probes change is undone before the next."""
    # Function-scoped autouse fixtures (plain HTTP, scopes off) do not reach module scope.
    with (
        django_db_blocker.unblock(),
        override_settings(SECURE_SSL_REDIRECT=False),
        scopes_disabled(),
        transaction.atomic(),
    ):
        try:
            yield _build_world()
        finally:
            transaction.set_rollback(True)


def _client(user=None) -> Client:
    # A server error must come back as a response to be counted, not raise in the test.
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def clients(world) -> dict[str, Client]:
    """Fresh clients for each test (a probe may sign its persona out), on the module's sessions."""
    clients = {}
    for persona in PERSONAS:
        clients[persona] = client = _client()
        if persona in world.sessions:
            client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[persona]
    return clients


# --- what each route is sent ---------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    label: str
    method: str
    path: str
    query: str = ""
    body: bytes | str = b""
    content_type: str = "application/octet-stream"
    personas: tuple[str, ...] = PERSONAS
    headers: tuple[tuple[str, str], ...] = ()


def _model_admin(entry: URLPattern):
    # ModelAdmin.get_urls() tags each of its views with the ModelAdmin serving it.
    return getattr(entry.callback, "model_admin", None)


def _filter_parameters(model_admin, staff) -> list[str]:
    """The query parameters the changelist's own filters, search and date drill-down read."""
    request = RequestFactory().get("/")
    request.user = staff
    changelist = model_admin.get_changelist_instance(request)
    names = ["q"]
    for spec in changelist.filter_specs:
        names += spec.expected_parameters()
    if model_admin.date_hierarchy:
        names += [f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")]
    return names


def _date_drill_downs(field: str) -> list[str]:
    """Dates at and past the edges of what Python's datetime holds."""
    return [
        f"{field}__year={year}&{field}__month={month}&{field}__day={day}"
        for year, month, day in [(9999, 12, 31), (9999, 1, 1), (1, 1, 1), (0, 0, 0), (2024, 2, 30)]
    ] + [f"{field}__year=9999", f"{field}__year=9999&{field}__month=12"]


def _values_for(route: str, entry: URLPattern, world: World) -> dict[str, str]:
    values = dict(world.values)
    if route.startswith("sandbox/"):
        values.update(world.sandbox_values)
    model_admin = _model_admin(entry)
    if model_admin is not None:
        obj = model_admin.model._default_manager.order_by("pk").first()
        values["object_id"] = admin_quote(str(obj.pk)) if obj is not None else "1"
    return values


def _huge_sync_settings(world: World) -> str:
    setting = {"dataType": "invoices", "fetchOnFirstLink": True, "isLocked": False}
    numbers = {"syncSchedule": 10**40, "syncOrder": 2**31, "monthsToSync": 10**300}
    return json.dumps(
        {
            "companyId": world.sandbox_values["company_id"],
            "overridesDefaults": True,
            "settings": [{**setting, **numbers}],
        }
    )


def _multipart_not_utf8() -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="agree"\r\n\r\n'.encode()
        + b"\xff\xfe"
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def probes(
    route: str,
    entry: URLPattern,
    path: str,
    *,
    world: World,
    staff,
    json_methods: Iterable[str],
    rotation: int,
) -> Iterator[Probe]:
    """What `route` (at `path`, its ids filled in) is sent."""
    # Query strings: NUL bytes, percent-encoded and raw, in values and names; not UTF-8.
    nul_query = urlencode(dict.fromkeys(QUERY_NAMES, "a\x00")) + "&%00=1&q%00=1&raw=a\x00b"
    yield Probe("NUL", "GET", path, nul_query)
    yield Probe("not UTF-8", "GET", path, "q=%ff%fe&%ff%fe=1&next=%c0%af")
    # Cookies and headers. gunicorn refuses control characters in headers, other servers may
    # not; and a quoted cookie value's octal escape is plain ASCII on the wire, a NUL once parsed.
    session_cookie = f'{settings.SESSION_COOKIE_NAME}="abcdefghij\\000"; csrftoken="\\000"'
    yield Probe("NUL in a cookie", "GET", path, headers=(("HTTP_COOKIE", session_cookie),))
    yield Probe(
        "NUL in headers",
        "POST",
        path,
        body="agree=on&choice=withdraw",
        content_type=URLENCODED,
        headers=(("HTTP_USER_AGENT", "a\x00b"), ("HTTP_REFERER", "/\x00")),
    )
    yield Probe("over-long values", "GET", path, urlencode(dict.fromkeys(QUERY_NAMES, OVER_LONG)))
    yield Probe("100 KB value", "GET", path, urlencode({"q": TOO_LONG, "next": "/"}))
    yield Probe("too many parameters", "GET", path, "&".join(["a=1"] * 1100))
    model_admin = _model_admin(entry)
    if model_admin is not None and entry.name and entry.name.endswith("_changelist"):
        # One at a time: a changelist refuses a parameter it does not know (redirect to ?e=1)
        # before it queries, so a hostile filter value only reaches the database alone.
        for name in _filter_parameters(model_admin, staff):
            for value in ("%00", "%ff%fe", quote(OVER_LONG), "9" * 40):
                yield Probe(f"{name}={value[:6]}", "GET", path, f"{quote(name)}={value}")
        if model_admin.date_hierarchy:
            for query in _date_drill_downs(model_admin.date_hierarchy):
                yield Probe(query, "GET", path, query)

    # Malformed ids in every path parameter.
    names = parameters(route)
    if names:
        for malformed in MALFORMED_IDS:
            yield Probe(
                f"id {malformed[:12]}", "GET", concrete_path(route, dict.fromkeys(names, malformed))
            )
        yield Probe("id POST", "POST", concrete_path(route, dict.fromkeys(names, MALFORMED_IDS[0])))

    # Form bodies.
    yield Probe(
        "NUL in an urlencoded body",
        "POST",
        path,
        body=urlencode({**dict.fromkeys(FORM_NAMES, "a\x00"), "b\x00": "1"}),
        content_type=URLENCODED,
    )
    yield Probe("urlencoded not UTF-8", "POST", path, body="agree=%ff%fe", content_type=URLENCODED)
    yield Probe(
        "NUL in a multipart body",
        "POST",
        path,
        body=encode_multipart(BOUNDARY, {**dict.fromkeys(FORM_NAMES, "a\x00b"), "c\x00": "1"}),
        content_type=MULTIPART_CONTENT,
    )
    yield Probe(
        "multipart not UTF-8",
        "POST",
        path,
        body=_multipart_not_utf8(),
        content_type=MULTIPART_CONTENT,
    )
    yield Probe(
        "multipart, no boundary", "POST", path, body=b"x", content_type="multipart/form-data"
    )
    yield Probe(
        "100 KB form",
        "POST",
        path,
        body=urlencode({**dict.fromkeys(FORM_NAMES, "9" * 1000), "password": TOO_LONG}),
        content_type=URLENCODED,
    )

    hostile_json = {**HOSTILE_JSON, "huge sync settings": _huge_sync_settings(world)}
    for method in json_methods:
        for label, body in hostile_json.items():
            yield Probe(
                f"{label} {method}", method, path, body=body, content_type="application/json"
            )

    # Methods the route may not serve, last: a DELETE may remove what the probes above aim at.
    # Each once, each by another persona, turning from one route to the next so that every
    # persona sends every method somewhere.
    for offset, method in enumerate(WRONG_METHODS):
        persona = PERSONAS[(rotation + offset) % len(PERSONAS)]
        yield Probe(method, method, path, personas=(persona,))


def _headers(route: str) -> dict[str, str]:
    if not route.startswith(SANDBOX_API):
        return {}
    # The API's key: without it every request stops at the key check, before any handler.
    key = base64.b64encode(settings.CODAT_SANDBOX_KEY.encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {key}"}


def _server_errors(probes: Iterator[Probe], clients: dict[str, Client], headers: dict) -> list:
    errors = []
    for probe in probes:
        url = f"{probe.path}?{probe.query}" if probe.query else probe.path
        for persona in probe.personas:
            response = clients[persona].generic(
                probe.method,
                url,
                data=probe.body,
                content_type=probe.content_type,
                **headers,
                **dict(probe.headers),
            )
            if response.status_code >= 500:
                errors.append((persona, probe.method, probe.label, response.status_code))
    return errors


def _json_methods(route: str, path: str, client: Client) -> list[str]:
    """The methods of a sandbox API route that take a JSON body, from its 405's Allow header."""
    if not route.startswith(SANDBOX_API):
        return []
    allow = client.generic("TRACE", path, **_headers(route)).get("Allow", "")
    return [method for method in ("POST", "PUT", "PATCH") if method in allow]


# --- the tests -----------------------------------------------------------------------------


def test_the_probes_cover_the_routes_we_know_of():
    routes = [route for route, _ in ROUTES]
    assert "connections/return/" in routes
    assert "admin/connections/webhookevent/" in routes
    assert "admin/consents/consentevent/<path:object_id>/change/" in routes
    assert "sandbox/^codat/companies/?$" in routes
    assert "sandbox/" in routes
    assert len(routes) > 100


def test_a_server_error_is_counted_not_raised(world, clients, settings):
    settings.ROOT_URLCONF = "tests.companies.error_urls"

    errors = _server_errors(iter([Probe("broken", "GET", "/test-errors/500/")]), clients, {})

    assert [persona for persona, *_ in errors] == ["visitor", "owner", "staff"]


@pytest.mark.parametrize(
    "rotation, route, entry",
    [(index, route, entry) for index, (route, entry) in enumerate(ROUTES)],
    ids=[route for route, _ in ROUTES],
)
def test_hostile_input_never_gets_a_server_error(world, clients, rotation, route, entry):
    staff = get_user_model().objects.get(pk=world.staff_id)
    path = concrete_path(route, _values_for(route, entry, world))
    json_methods = _json_methods(route, path, clients["visitor"])

    errors = _server_errors(
        probes(
            route,
            entry,
            path,
            world=world,
            staff=staff,
            json_methods=json_methods,
            rotation=rotation,
        ),
        clients,
        _headers(route),
    )

    assert not errors, f"{route}: {errors}"
