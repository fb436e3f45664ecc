"""Shared fixtures: personas and their signed-in clients.

Personas: `owner` (signed up, owns Acme Ltd), `colleague` (a member of Acme Ltd),
`outsider` (owns Other Co — a different tenant), `staff` (a superuser for the admin).
"""

from __future__ import annotations

import hashlib
import json
from importlib import import_module

import httpx
import pytest
import respx
from django.contrib.auth import get_user_model
from django.db.models.signals import post_migrate
from django.test import Client

from codat.client import CodatClient
from companies.models import Company, Membership
from connections import services as connection_services
from connections.models import Integration
from consents import services as consent_services
from consents.db import create_triggers, drop_triggers, drop_truncate_guard
from consents.models import ConsentText, Product
from tests.fakes import CODAT
from tests.personas import PASSWORD, make_member


def pytest_configure(config):
    """What the suite changes in the production settings it runs under (pyproject.toml sets the
    environment), before Django is set up and before any request is served."""
    from django.conf import settings

    # Hashing strength is not what the tests measure; PBKDF2 would dominate their run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Static files come straight from the source folders, with no collectstatic manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    # Every page part found in the cache is also built afresh and must be the same
    # (companies.page_cache): a change to the facts that does not say so fails the test that
    # makes it. The tests of the cache itself turn this off, to see what the cache alone shows.
    settings.PAGE_CACHE_VERIFY = True
    # Rate limits use a per-process cache here; production's shared-cache rule is checked by
    # tests/hardening/test_deploy_check.py under real production settings.
    settings.SILENCED_SYSTEM_CHECKS = [
        *settings.SILENCED_SYSTEM_CHECKS,
        "django_ratelimit.E003",
        "django_ratelimit.W001",
    ]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Browser tests first. pytest-django has put the transactional tests last, so that no
    other test meets a flushed database; that is now put back as migrated after every flush
    (`_flushed_database_as_migrated`). The browser tests spend much of their time waiting, for
    the browser and for the sandbox's simulated syncs: under pytest-xdist (the Makefile hands
    out tests one at a time), started first they run beside the rest on every worker instead
    of leaving one worker waiting on them at the end."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is None)


@pytest.fixture(autouse=True)
def _plain_http_in_tests(settings):
    # Production settings redirect every page to HTTPS; the hardening tests turn it back on.
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Rate-limit counters and throttles live in the (per-process) cache: no test inherits
    # another's.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _tenant_scopes_off_in_test_code():
    # Fixtures and assertions read every tenant's rows; requests through the test client still
    # run inside the customer's scope (TenantScopeMiddleware), and tests/hardening checks that
    # queries outside any scope fail.
    from companies.scoping import scopes_disabled

    with scopes_disabled():
        yield


@pytest.fixture(autouse=True)
def _no_webhook_drain_remembered():
    # Each process remembers the webhook drain it queued last (connections.tasks); a test must
    # not skip queueing because an earlier test queued one.
    from connections.tasks import forget_queued_drain

    forget_queued_drain()


def _put_back_what_migrations_made(*, using: str, **kwargs) -> None:
    from django.db import connections

    if not Product.objects.using(using).exists():
        # As 0003 made them, with the retention 0006 read from their wording.
        products = import_module("consents.migrations.0003_products")
        promise_in = import_module("consents.migrations.0007_retention").promise_in
        for spec in products.PRODUCTS:
            spec = dict(spec)
            body = spec.pop("text")
            days, summary = promise_in(body)
            ConsentText.objects.using(using).create(
                product=Product.objects.using(using).create(**spec),
                version=1,
                body=body,
                sha256=hashlib.sha256(body.encode()).hexdigest(),
                retention_days=days,
                retention_summary=summary,
            )
    create_triggers(connections[using])


@pytest.fixture(autouse=True, scope="session")
def _flushed_database_as_migrated():
    """A transactional test ends by flushing every table, and with it what the migrations made:
    the two products (a data migration) and, on SQLite, the append-only triggers (lifted for
    the flush, below). The flush then sends post_migrate, as it does so that apps put back
    their content types and permissions; both are put back the same way here, as the migrations
    make them. Every test then starts from the migrated database, whichever tests ran before it
    in the same process (with pytest-xdist, which tests share a process is not fixed)."""
    from django.apps import apps

    consents = apps.get_app_config("consents")
    post_migrate.connect(_put_back_what_migrations_made, sender=consents)
    yield
    post_migrate.disconnect(_put_back_what_migrations_made, sender=consents)


@pytest.fixture(autouse=True)
def _lift_append_only_triggers_for_flush(request):
    """Consent evidence is protected by database triggers, and a transactional test ends by
    deleting every row (SQLite flushes with DELETE, which the row triggers refuse; PostgreSQL
    uses TRUNCATE, which its statement-level guard refuses). Lift them for that teardown only;
    the next such test restores them, and tests of the protection install it themselves."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if not transactional:
        yield
        return
    from django.db import connection

    # Set up the database first, so that this fixture's teardown runs before its flush.
    request.getfixturevalue("transactional_db")
    create_triggers(connection)
    yield
    if connection.vendor == "sqlite":
        drop_triggers(connection)
    else:
        # Row triggers do not see TRUNCATE, so only the guard needs lifting.
        drop_truncate_guard(connection)


@pytest.fixture
def acme(db) -> Company:
    return Company.objects.create(name="Acme Ltd")


@pytest.fixture
def other_co(db) -> Company:
    return Company.objects.create(name="Other Co")


@pytest.fixture
def owner(acme):
    return make_member("owner@acme.example", company=acme, name="Olive Owner")


@pytest.fixture
def colleague(acme):
    return make_member("colleague@acme.example", company=acme, role=Membership.Role.MEMBER)


@pytest.fixture
def outsider(other_co):
    return make_member("outsider@other.example", company=other_co, name="Oscar Outsider")


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser(
        username="staff@bank.example", email="staff@bank.example", password=PASSWORD
    )


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner) -> Client:
    return _client_for(owner)


@pytest.fixture
def outsider_client(outsider) -> Client:
    return _client_for(outsider)


@pytest.fixture
def staff_client(staff) -> Client:
    return _client_for(staff)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def fake_codat(settings, monkeypatch, sleeps):
    """Codat faked at the transport with respx; retry sleeps recorded, never slept."""
    settings.CODAT_SANDBOX_IN_PROCESS = False
    settings.CODAT_BASE_URL = CODAT

    def client_factory(*, budget: float | None = None, data_type_gate=None) -> CodatClient:
        # The gate is whatever the app hands in (consents.services.codat_client), so a call
        # made without it is refused here as in production.
        return CodatClient(
            api_key="test-key",
            base_url=CODAT,
            sleep=sleeps.append,
            budget=budget or 10.0,
            data_type_gate=data_type_gate,
        )

    monkeypatch.setattr(connection_services, "get_client", client_factory)
    monkeypatch.setattr(consent_services, "get_client", client_factory)
    with respx.mock(base_url=CODAT, assert_all_called=False) as mock:
        # Before every first link the company's sync settings are set (to what is consented),
        # then read back: Codat answers with the last settings it accepted for the company.
        mock.post(path__regex=r"^/companies/[^/]+/syncSettings$", name="sync_settings").respond(204)

        def read_back(request: httpx.Request) -> httpx.Response:
            company_id = request.url.path.split("/")[2]
            for call in reversed(mock.routes["sync_settings"].calls):
                accepted = call.has_response and call.response.status_code == 204
                if accepted and call.request.url.path.split("/")[2] == company_id:
                    return httpx.Response(200, json=json.loads(call.request.content))
            return httpx.Response(
                200, json={"companyId": company_id, "settings": [], "overridesDefaults": False}
            )

        mock.get(path__regex=r"^/companies/[^/]+/syncSettings$", name="sync_settings_read").mock(
            side_effect=read_back
        )
        yield mock


@pytest.fixture
def codat_account_set_up(db):
    """The sandbox's Codat account set up as an operator does before going live
    (`manage.py codat_setup --apply`: redirect URL, the app's webhook consumer, client-wide
    sync settings that fetch nothing), through the same service and the app's own client.
    Tests that drive the Link page or need webhooks ask for it; without it the sandbox is a
    fresh Codat account (no redirect URL, no consumer, Codat's default settings)."""
    from companies.codat_client import get_client
    from connections.codat_setup import codat_setup_apply

    with get_client() as client:
        return codat_setup_apply(client=client)


@pytest.fixture
def insights(db) -> Product:
    return Product.objects.get(slug="business-insights")


@pytest.fixture
def lending(db) -> Product:
    return Product.objects.get(slug="lending")


@pytest.fixture
def catalogue(db):
    """Our copy of the catalogue, fresh, so the picker and connect need no Codat call."""
    rows = [
        ("mqjo", "Sandbox", "Accounting"),
        ("gbol", "Xero", "Accounting"),
        ("qhyg", "QuickBooks Online", "Accounting"),
        ("qhnd", "Banking Sandbox", "Banking"),
        ("suuo", "Plaid", "Banking"),
        ("aiwb", "Commerce Sandbox", "Commerce"),
        ("fztf", "Shopify", "Commerce"),
    ]
    return {
        key: Integration.objects.create(key=key, name=name, source_type=source_type)
        for key, name, source_type in rows
    }
