"""D1: Django's deployment checklist passes under production settings."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess

from consent_portal import settings as project_settings
from tests.hardening.startup import run_fresh


def production_environment(**overrides: str) -> dict[str, str]:
    # Start from a clean slate for our own variables, so a developer's shell (DJANGO_DEBUG=true,
    # a sandbox key…) cannot make the check pass or fail by accident.
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(
            ("DJANGO_", "CODAT_", "SITE_URL", "LINK_STATE_", "CACHE_URL", "EMAIL_URL")
        )
    }
    webhook_secret = base64.b64encode(secrets.token_bytes(32)).decode()
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "consent_portal.settings",
        "DJANGO_DEBUG": "false",
        # …nor a developer's .env file.
        "DJANGO_READ_DOT_ENV": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(45),  # 60 characters
        "DJANGO_ALLOWED_HOSTS": "portal.example",
        "SITE_URL": "https://portal.example",
        "CODAT_API_KEY": "test-key",
        "CODAT_WEBHOOK_SECRET": f"whsec_{webhook_secret}",
        # Rate limits need a cache every server shares; the check only reads the setting.
        "CACHE_URL": "redis://127.0.0.1:6379/1",
        # Mail that really leaves the server; the check only reads the setting.
        "EMAIL_URL": "smtp+tls://portal:password@smtp.example.com:587",
        **overrides,
    }


def run_deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # A process of its own: this test process has imported settings in test mode already.
    return run_fresh(
        env, script="manage.py", args=("check", "--deploy", "--fail-level", "WARNING"), timeout=120
    )


def test_the_deploy_check_passes_under_production_settings():
    env = production_environment()
    assert len(env["DJANGO_SECRET_KEY"]) == 60

    result = run_deploy_check(env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_insecure_development_secret_key_fails_the_deploy_check():
    result = run_deploy_check(
        production_environment(DJANGO_SECRET_KEY=project_settings._DEV_SECRET_KEY)
    )

    assert result.returncode != 0
    assert "security.W009" in result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = production_environment()
    del env["DJANGO_SECRET_KEY"]

    result = run_deploy_check(env)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_a_per_process_cache_fails_the_deploy_check():
    env = production_environment()
    del env["CACHE_URL"]

    result = run_deploy_check(env)

    assert result.returncode != 0
    assert "django_ratelimit.E003" in result.stdout + result.stderr
