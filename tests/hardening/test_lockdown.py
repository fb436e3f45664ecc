"""Production never runs an open sandbox (L1, L2, L3), and nothing permissive is on by default.

Each start-up case loads the WSGI app (or runs `check --deploy`) in a process of its own that
starts from a clean environment and has never loaded the project, as gunicorn or an operator
would (forked from a zygote that holds only Django's own modules: tests/hardening/startup.py).
"""

from __future__ import annotations

import base64
import secrets

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from codat_sandbox.models import SandboxWebhookMessage
from tests.hardening.test_deploy_check import production_environment, run_deploy_check
from tests.hardening.test_wsgi_boot import boot
from tests.sandbox.steps import connect, link_path

NAMES_BOTH = ("CODAT_API_KEY", "CODAT_SANDBOX")


def demo_environment(**overrides: str) -> dict[str, str]:
    """A demo deployment: DEBUG off, the sandbox named on purpose, its own key and secret."""
    env = production_environment(
        **{"CODAT_SANDBOX": "true", "CODAT_SANDBOX_KEY": secrets.token_urlsafe(32), **overrides}
    )
    del env["CODAT_API_KEY"]
    return env


# --- L1: the sandbox is a deliberate choice ---------------------------------------------------


def test_with_debug_off_and_neither_a_key_nor_the_sandbox_named_nothing_starts():
    env = production_environment()
    del env["CODAT_API_KEY"]

    booted = boot(env)
    checked = run_deploy_check(env)

    for result in (booted, checked):
        assert result.returncode != 0
        assert "ImproperlyConfigured" in result.stderr
        assert all(name in result.stderr for name in NAMES_BOTH), result.stderr
    assert "there is no Codat to talk to" in booted.stderr


def test_a_codat_key_and_the_sandbox_together_are_refused():
    env = production_environment(CODAT_SANDBOX="true")  # keeps CODAT_API_KEY

    booted = boot(env)
    checked = run_deploy_check(env)

    for result in (booted, checked):
        assert result.returncode != 0
        assert "Both CODAT_API_KEY and CODAT_SANDBOX=true are set" in result.stderr


def test_a_garbled_sandbox_flag_is_refused_rather_than_guessed():
    result = boot(demo_environment(CODAT_SANDBOX="yes please"))

    assert result.returncode != 0
    assert "CODAT_SANDBOX must be true or false" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("CODAT_SANDBOX_CUSTOM_PARAMS", "keep", "must be one of"),
        ("CODAT_SANDBOX_READ_WEBHOOKS", "1", "must be one of"),
        ("CODAT_SANDBOX_SYNC_SPEED", "0", "must be between 1 and 20"),
    ],
)
def test_a_garbled_sandbox_behaviour_switch_is_refused(name, value, says):
    result = boot(demo_environment(**{name: value}))

    assert result.returncode != 0
    assert f"{name} {says}" in result.stderr


def test_the_sandbox_drops_custom_link_parameters_unless_told_to_pass_them():
    env = demo_environment()
    env.pop("CODAT_SANDBOX_CUSTOM_PARAMS", None)

    result = boot(
        env,
        show="print(settings.CODAT_SANDBOX_CUSTOM_PARAMS, settings.CODAT_SANDBOX_READ_WEBHOOKS)",
    )

    assert result.stdout.split() == ["drop", "on"], result.stderr


def test_a_real_key_means_real_codat_and_no_sandbox():
    result = boot(
        production_environment(),
        show="print(settings.CODAT_SANDBOX_ENABLED, settings.CODAT_BASE_URL, "
        "'codat_sandbox' in settings.INSTALLED_APPS)",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "https://api.codat.io", "False"]


def test_local_development_gets_the_sandbox_with_no_settings_at_all():
    env = production_environment(DJANGO_DEBUG="true")
    for name in ("CODAT_API_KEY", "CODAT_WEBHOOK_SECRET", "DJANGO_SECRET_KEY", "EMAIL_URL"):
        del env[name]

    result = boot(
        env,
        show="print(settings.CODAT_SANDBOX_ENABLED, settings.CODAT_SANDBOX_KEY, "
        "settings.EMAIL_BACKEND.rsplit('.', 2)[1])",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "sandbox", "console"]


def test_a_demo_deployment_starts_and_passes_the_deploy_check():
    env = demo_environment()

    booted = boot(env, show="print(settings.CODAT_SANDBOX_ENABLED, settings.CODAT_BASE_URL)")
    checked = run_deploy_check(env)

    assert booted.returncode == 0, booted.stderr
    assert booted.stdout.split() == ["True", "https://portal.example/sandbox/codat"]
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- L2: no committed secret outside DEBUG ----------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "sandbox", "x" * 31])
def test_a_demo_deployment_needs_its_own_long_sandbox_key(key):
    env = demo_environment()
    if key is None:
        del env["CODAT_SANDBOX_KEY"]
    else:
        env["CODAT_SANDBOX_KEY"] = key

    result = boot(env)

    assert result.returncode != 0
    assert "needs CODAT_SANDBOX_KEY set to a random value of at least 32 characters" in (
        result.stderr
    )


def test_a_demo_deployment_gets_no_built_in_webhook_secret():
    env = demo_environment()
    del env["CODAT_WEBHOOK_SECRET"]

    result = boot(env)

    assert result.returncode != 0
    assert "No Codat webhook signing secret is configured" in result.stderr


@pytest.mark.parametrize("length", [1, 16, 23])
def test_a_webhook_secret_shorter_than_24_bytes_is_refused_at_start_up(length):
    short = "whsec_" + base64.b64encode(secrets.token_bytes(length)).decode()

    result = boot(production_environment(CODAT_WEBHOOK_SECRET=short))

    assert result.returncode != 0
    assert "is too short: a signing key must be at least 24 random bytes" in result.stderr


def test_the_one_byte_secret_from_the_review_is_refused_and_24_bytes_are_enough():
    one_byte = boot(production_environment(CODAT_WEBHOOK_SECRET="whsec_AA=="))
    enough = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    just_enough = boot(production_environment(CODAT_WEBHOOK_SECRET=enough))

    assert one_byte.returncode != 0 and "too short" in one_byte.stderr
    assert just_enough.returncode == 0, just_enough.stderr


# --- Mail outside DEBUG -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "email_url", ["consolemail://", "memorymail://", "dummymail://", "filemail:///tmp/mail"]
)
def test_mail_that_never_leaves_the_server_fails_the_deploy_check(email_url):
    result = run_deploy_check(production_environment(EMAIL_URL=email_url))

    assert result.returncode != 0
    assert "companies.W001" in result.stderr


def test_with_debug_off_and_no_email_url_mail_goes_to_smtp_not_the_log():
    env = production_environment()
    del env["EMAIL_URL"]

    result = boot(env, show="print(settings.EMAIL_BACKEND)")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.core.mail.backends.smtp.EmailBackend"


# --- L3: the console is for staff -------------------------------------------------------------


def _sandbox_routes() -> list[tuple[str, object]]:
    [sandbox] = [
        entry
        for entry in get_resolver().url_patterns
        if isinstance(entry, URLResolver) and entry.namespace == "codat_sandbox"
    ]
    return [
        (pattern.name, pattern.callback)
        for pattern in sandbox.url_patterns
        if isinstance(pattern, URLPattern)
    ]


CONSOLE_ROUTES = [name for name, view in _sandbox_routes() if getattr(view, "sandbox_console", 0)]


def test_every_sandbox_page_that_is_not_codats_api_or_link_page_is_a_guarded_console_page():
    # Codat's own surfaces (the key-protected API, the Link page, the public host its
    # branding images are on) stay as Codat has them; everything else is the console and must
    # carry its guard.
    unguarded = [
        name
        for name, view in _sandbox_routes()
        if not name.startswith(("api_", "link_", "assets_"))
        and not getattr(view, "sandbox_console", 0)
    ]

    assert unguarded == []
    assert len(CONSOLE_ROUTES) == 9


def _console_requests(bank, message) -> list[tuple[str, str]]:
    """One request for every console route, aimed at real rows (so staff get past the guard)."""
    targets = {
        "console": ("get", "/sandbox/"),
        "console_expire": ("post", f"/sandbox/console/connections/{bank.id}/expire"),
        "console_fail_next_sync": (
            "post",
            f"/sandbox/console/connections/{bank.id}/fail-next-sync",
        ),
        "console_replay": ("post", f"/sandbox/console/webhooks/{message.public_id}/replay"),
        "console_reorder": ("post", "/sandbox/console/webhooks/reorder"),
        "console_hold": ("post", "/sandbox/console/webhooks/hold"),
        "console_deliver": ("post", "/sandbox/console/webhooks/deliver"),
        "console_add_fault": ("post", "/sandbox/console/faults"),
        "console_clear_faults": ("post", "/sandbox/console/faults/clear"),
    }
    assert set(targets) == set(CONSOLE_ROUTES)
    return list(targets.values())


@pytest.fixture
def sandbox_rows(db):
    from codat_sandbox import services

    company = services.company_create(name="Tenant A", description="a", tags={"uid": "a"})
    bank = connect(company, "qhnd", linked=True)
    message = SandboxWebhookMessage.objects.filter(event_type="company.created").get()
    return company, bank, message


def test_anonymous_visitors_are_sent_to_log_in_by_every_console_route(sandbox_rows):
    _company, bank, message = sandbox_rows
    anonymous = Client()

    for method, path in _console_requests(bank, message):
        response = getattr(anonymous, method)(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/accounts/login/?next="), path
    bank.refresh_from_db()
    assert bank.status == "Linked"
    assert not SandboxWebhookMessage.objects.filter(replay_of=message).exists()


def test_customers_get_403_from_every_console_route(sandbox_rows, owner_client):
    _company, bank, message = sandbox_rows

    for method, path in _console_requests(bank, message):
        response = getattr(owner_client, method)(path)
        assert response.status_code == 403, path
        assert "Tenant A" not in response.content.decode()
    bank.refresh_from_db()
    assert bank.status == "Linked"


def test_staff_use_the_console(sandbox_rows, staff_client):
    _company, bank, message = sandbox_rows

    page = staff_client.get("/sandbox/")
    expired = staff_client.post(f"/sandbox/console/connections/{bank.id}/expire")

    assert page.status_code == 200 and "Tenant A" in page.content.decode()
    assert expired.status_code == 302
    bank.refresh_from_db()
    assert bank.status == "Deauthorized"


def test_with_debug_on_the_console_is_open_for_local_work(sandbox_rows, settings):
    settings.DEBUG = True

    assert Client().get("/sandbox/").status_code == 200


def test_the_link_page_stays_open_to_whoever_holds_the_link_url(sandbox_rows):
    company, _bank, _message = sandbox_rows
    pending = connect(company, "gbol")

    assert Client().get(link_path(pending)).status_code == 200
