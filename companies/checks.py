"""Deploy checks for the accounts side: mail must really leave the server outside DEBUG."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

# Backends that keep mail on the server: password-reset links would end up in a log, a file or
# nowhere, instead of in the customer's inbox.
_LOCAL_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}


@checks.register(checks.Tags.security, deploy=True)
def email_backend_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.DEBUG or settings.EMAIL_BACKEND not in _LOCAL_EMAIL_BACKENDS:
        return []
    return [
        checks.Warning(
            f"Outgoing mail uses {settings.EMAIL_BACKEND} with DEBUG off: password-reset links "
            "and consent receipts would never reach customers (and may land in a log).",
            hint="Set EMAIL_URL to your mail service, e.g. smtp+tls://user:password@host:587.",
            id="companies.W001",
        )
    ]
