"""The production server refuses to start without a usable webhook signing secret (W3)."""

from __future__ import annotations

import subprocess

from tests.hardening.startup import run_fresh
from tests.hardening.test_deploy_check import production_environment


def boot(env: dict[str, str], *, show: str = "") -> subprocess.CompletedProcess[str]:
    """Load the WSGI app as gunicorn would, in a process of its own that starts from `env`;
    `show` runs afterwards (e.g. to print settings)."""
    return run_fresh(
        env, code="import consent_portal.wsgi\nfrom django.conf import settings\n" + show
    )


def test_the_wsgi_app_loads_with_a_valid_secret():
    result = boot(production_environment())

    assert result.returncode == 0, result.stderr


def test_the_wsgi_app_refuses_to_load_without_a_webhook_secret():
    env = production_environment()
    env["CODAT_WEBHOOK_SECRET"] = ""

    result = boot(env)

    assert result.returncode != 0
    assert "No Codat webhook signing secret is configured" in result.stderr
