"""`manage.py codat_setup`: what going live needs in the Codat account, checked and applied with
the app's own client. Here against the in-process sandbox, which starts as a fresh Codat account
(no redirect URL, no webhook consumer, Codat's default sync settings that fetch everything)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from codat.webhook_events import HANDLED_EVENT_TYPES
from codat_sandbox import services as sandbox
from codat_sandbox.integrations import get_integration as sandbox_integration
from codat_sandbox.models import SandboxProfile, SandboxWebhookConsumer
from codat_sandbox.timeline import client_sync_settings
from companies.codat_client import get_client
from connections.codat_setup import codat_setup_apply, codat_setup_check

pytestmark = pytest.mark.django_db

WEBHOOK_URL = f"{settings.SITE_URL}/webhooks/codat/"


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("codat_setup", *args, stdout=out)
    return out.getvalue()


def check() -> list[str]:
    with get_client() as client:
        return codat_setup_check(client=client)


def apply():
    with get_client() as client:
        return codat_setup_apply(client=client)


def test_check_fails_on_a_fresh_account_and_says_what_is_missing():
    with pytest.raises(CommandError, match="3 problem"):
        run("--check")

    problems = check()
    assert "The redirect URL is 'not set'" in problems[0]
    assert problems[1] == f"No webhook consumer sends to {WEBHOOK_URL}."
    assert "fetch 43 data type(s)" in problems[2]
    # --check changed nothing.
    assert not SandboxProfile.objects.exists()
    assert not SandboxWebhookConsumer.objects.exists()


def test_apply_sets_up_the_account_and_check_then_passes():
    output = run("--apply")

    assert "The Codat account is set up as the app needs." in output
    assert "sandbox signs with the first CODAT_WEBHOOK_SECRET" in output
    assert sandbox.profile_get().redirect_url == settings.CODAT_REDIRECT_URL_TEMPLATE
    [consumer] = SandboxWebhookConsumer.objects.all()
    assert consumer.url == WEBHOOK_URL
    assert set(consumer.event_types) == HANDLED_EVENT_TYPES
    assert not consumer.disabled and consumer.company_tags == []
    assert not any(s.fetch_on_first_link or s.sync_schedule for s in client_sync_settings())
    assert "The Codat account is set up" in run("--check")


def test_after_apply_link_sends_the_customer_back_to_the_apps_return_page(client, settings):
    settings.CODAT_SANDBOX_CUSTOM_PARAMS = "pass"
    apply()
    company = sandbox.company_create(name="Bramble Bakery")
    connection = sandbox.connection_create(company=company, integration=sandbox_integration("mqjo"))

    response = client.post(
        f"/sandbox/link/companies/{company.id}/connections/{connection.id}/start?state=abc",
        {"outcome": "authorize"},
    )

    assert response["Location"] == (
        f"{settings.SITE_URL}/connections/return/?state=abc&companyId={company.id}"
        f"&connectionId={connection.id}&platform=mqjo&statusCode=200&errorMessage=&statusText="
    )


def test_a_second_apply_changes_nothing():
    apply()
    consumer = SandboxWebhookConsumer.objects.get()

    again = apply()

    assert again.changes == [] and not again.new_consumer
    assert "Nothing to change." in run("--apply")
    assert list(SandboxWebhookConsumer.objects.all()) == [consumer]


def test_the_webhook_consumer_covers_every_event_the_app_handles():
    # docs/codat.md §8.3: the events the app acts on.
    assert {
        "connection.created",
        "connection.connected",
        "connection.failed",
        "connection.disconnected",
        "connection.reconnected",
        "connection.deleted",
        "company.deleted",
        "read.completed",
        "read.completed.initial",
    } == HANDLED_EVENT_TYPES


def test_a_right_consumer_already_there_is_kept_not_duplicated():
    existing = sandbox.webhook_consumer_create(
        url=WEBHOOK_URL, event_types=sorted(HANDLED_EVENT_TYPES)
    )

    applied = apply()

    assert not applied.new_consumer
    assert list(SandboxWebhookConsumer.objects.all()) == [existing]


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"event_types": ["connection.connected"]}, "missing company.deleted"),
        ({"event_types": sorted(HANDLED_EVENT_TYPES), "disabled": True}, "disabled"),
        (
            {"event_types": sorted(HANDLED_EVENT_TYPES), "company_tags": ["region:uk"]},
            "only for companies tagged region:uk",
        ),
        ({"event_types": []}, "every event type"),
    ],
)
def test_a_wrong_consumer_for_our_url_is_replaced_new_one_first(options, reason):
    wrong = sandbox.webhook_consumer_create(url=WEBHOOK_URL, **options)
    assert any(reason in problem for problem in check())

    applied = apply()

    [kept] = SandboxWebhookConsumer.objects.all()
    assert kept.pk != wrong.pk
    assert set(kept.event_types) == HANDLED_EVENT_TYPES and not kept.disabled
    assert applied.new_consumer
    assert applied.changes[0].startswith("Set the redirect URL")
    assert applied.changes[1].startswith("Registered webhook consumer")
    assert applied.changes[2].startswith(f"Deleted webhook consumer {wrong.pk}")
    assert check() == []


def test_duplicate_consumers_for_our_url_become_one():
    first = sandbox.webhook_consumer_create(
        url=WEBHOOK_URL, event_types=sorted(HANDLED_EVENT_TYPES)
    )
    sandbox.webhook_consumer_create(url=WEBHOOK_URL, event_types=sorted(HANDLED_EVENT_TYPES))
    assert f"2 webhook consumers send to {WEBHOOK_URL}; there must be one." in check()

    apply()

    assert list(SandboxWebhookConsumer.objects.all()) == [first]


def test_consumers_for_other_urls_are_left_alone():
    other = sandbox.webhook_consumer_create(url="https://crm.example/codat", event_types=[])

    apply()

    assert SandboxWebhookConsumer.objects.filter(pk=other.pk).exists()
    assert SandboxWebhookConsumer.objects.count() == 2


def test_the_rest_of_the_profile_is_kept():
    sandbox.profile_replace(
        name="Bramble Bank",
        redirect_url="https://old.example/{companyId}",
        logo_url="https://bank.example/logo.png",
        white_list_urls=["https://bank.example"],
    )

    apply()

    profile = sandbox.profile_get()
    assert profile.redirect_url == settings.CODAT_REDIRECT_URL_TEMPLATE
    assert (profile.name, profile.logo_url, profile.white_list_urls) == (
        "Bramble Bank",
        "https://bank.example/logo.png",
        ["https://bank.example"],
    )


def test_a_client_wide_setting_switched_back_on_is_found_and_switched_off():
    from codat_sandbox import syncs

    apply()
    syncs.client_sync_settings_replace(
        settings=[syncs.SyncSettingInput("banking-transactions", False, 24, 0)],
        overrides_defaults=True,
    )

    problems = check()
    # Left out of the client-wide settings, the other types are back on Codat's default too.
    assert "fetch 43 data type(s)" in problems[0]
    apply()
    assert check() == []


def test_with_real_codat_it_says_where_the_signing_secret_is(settings, monkeypatch):
    from connections import codat_setup
    from connections.management.commands import codat_setup as command

    settings.CODAT_SANDBOX_ENABLED = False
    # Codat itself is still the sandbox here: only the wording for real Codat is checked.
    monkeypatch.setattr(command, "get_client", get_client_for_sandbox)
    assert codat_setup.codat_setup_wanted().webhook_url == WEBHOOK_URL

    output = run("--apply")

    assert "The webhook consumer is new, so its signing secret is new." in output
    assert f"Monitor > Webhooks, select the consumer for {WEBHOOK_URL}" in output
    assert "CODAT_WEBHOOK_SECRET" in output


def test_make_runs_setup_leaves_a_real_codat_account_alone(settings, monkeypatch):
    from connections.management.commands import codat_setup as command

    settings.CODAT_SANDBOX_ENABLED = False
    calls = []
    monkeypatch.setattr(command, "get_client", lambda **kwargs: calls.append(kwargs))

    output = run("--apply", "--sandbox-only")

    assert "real Codat account: left as it is" in output
    assert calls == []


def test_make_runs_setup_sets_up_the_sandbox():
    output = run("--apply", "--sandbox-only")

    assert "The Codat account is set up as the app needs." in output
    assert check() == []


def get_client_for_sandbox(api_key: str | None = None, **kwargs):
    import httpx

    from codat.client import CodatClient
    from codat_sandbox.inprocess import wsgi_app

    return CodatClient(
        api_key=api_key or settings.CODAT_SANDBOX_KEY,
        base_url="http://testserver/sandbox/codat",
        transport=httpx.WSGITransport(app=wsgi_app),
    )


def test_a_codat_failure_is_a_clear_command_error(monkeypatch):
    from connections.management.commands import codat_setup as command

    monkeypatch.setattr(
        command, "get_client", lambda **kwargs: get_client_for_sandbox(api_key="wrong-key")
    )

    with pytest.raises(CommandError, match="Codat failed: Unauthorized"):
        run("--check")
