"""The production server refuses to start without a usable webhook signing secret (W3)."""

from __future__ import annotations

import subprocess
import sys

from django.conf import settings

from tests.hardening.test_deploy_check import production_environment


def boot(env: dict[str, str], *, show: str = "") -> subprocess.CompletedProcess[str]:
    """Load the WSGI app as gunicorn would, in a fresh interpreter; `show` runs afterwards
    (e.g. to print settings)."""
    code = "import consent_portal.wsgi\nfrom django.conf import settings\n" + show
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
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
