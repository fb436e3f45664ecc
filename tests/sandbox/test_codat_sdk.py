"""Codat's own Python SDK (codat-platform) reads back what `codat_setup --apply` wrote to the
sandbox: the profile's redirect URL, the webhook consumer and the client-wide sync settings.
If the sandbox's answers differ in shape from Codat's, the SDK's models refuse them."""

from __future__ import annotations

import httpx
import pytest
from django.conf import settings

from codat.types import DATA_TYPES
from codat.webhook_events import HANDLED_EVENT_TYPES
from codat_sandbox.inprocess import wsgi_app

from .steps import AUTH

codat_platform = pytest.importorskip("codat_platform")
shared = pytest.importorskip("codat_platform.models.shared")

SERVER = "http://testserver/sandbox/codat"


@pytest.fixture
def sdk(db):
    """The SDK, talking to the in-process sandbox through its own httpx client."""
    with httpx.Client(transport=httpx.WSGITransport(app=wsgi_app), base_url=SERVER) as http:
        yield codat_platform.CodatPlatform(
            security=shared.Security(auth_header=AUTH), server_url=SERVER, client=http
        )


def test_the_sdk_reads_a_fresh_account_as_codat_has_it(sdk):
    assert sdk.settings.get_profile().redirect_url == ""
    assert not sdk.webhooks.list_consumers().results
    defaults = sdk.settings.get_sync_settings()
    assert {s.data_type for s in defaults.settings} == set(DATA_TYPES)
    assert all(s.fetch_on_first_link and s.sync_schedule == 24 for s in defaults.settings)


def test_the_sdk_reads_back_what_codat_setup_wrote(sdk, codat_account_set_up):
    profile = sdk.settings.get_profile()
    [consumer] = sdk.webhooks.list_consumers().results
    client_wide = sdk.settings.get_sync_settings()

    assert profile.redirect_url == settings.CODAT_REDIRECT_URL_TEMPLATE
    assert consumer.url == f"{settings.SITE_URL}/webhooks/codat/"
    assert set(consumer.event_types) == HANDLED_EVENT_TYPES
    assert consumer.disabled is False
    assert client_wide.overrides_defaults is True
    assert {s.data_type for s in client_wide.settings} == set(DATA_TYPES)
    assert not any(s.fetch_on_first_link or s.sync_schedule for s in client_wide.settings)
