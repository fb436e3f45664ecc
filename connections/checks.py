"""System checks: the app refuses to start without a usable webhook signing secret (W3, L2)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.conf import settings
from django.core import checks
from standardwebhooks import Webhook


@checks.register(checks.Tags.security)
def codat_webhook_secrets_check(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Every configured secret must build a verifier; messages name a secret by position only."""
    secrets = getattr(settings, "CODAT_WEBHOOK_SECRETS", None)
    if isinstance(secrets, str) or not isinstance(secrets, list | tuple):
        return [
            checks.Error(
                "CODAT_WEBHOOK_SECRETS must be a list of whsec_ secrets.",
                id="connections.E003",
            )
        ]
    if not secrets:
        return [
            checks.Error(
                "No Codat webhook signing secret is configured, so no webhook can be verified.",
                hint="Set CODAT_WEBHOOK_SECRET to the whsec_ secret from Codat's portal "
                "(several, space-separated, while rotating).",
                id="connections.E001",
            )
        ]
    errors: list[checks.CheckMessage] = []
    for position, secret in enumerate(secrets, start=1):
        try:
            Webhook(secret)
        except Exception as exc:  # EmptyWebhookSecretError, binascii.Error, TypeError…
            errors.append(
                checks.Error(
                    f"Codat webhook signing secret #{position} of {len(secrets)} is not "
                    f"usable ({type(exc).__name__}).",
                    hint="Copy the whsec_ secret from Codat's portal again.",
                    id="connections.E002",
                )
            )
            continue
        if secret_key_length(secret) < MIN_SECRET_BYTES:
            errors.append(
                checks.Error(
                    f"Codat webhook signing secret #{position} of {len(secrets)} is too short: "
                    f"a signing key must be at least {MIN_SECRET_BYTES} random bytes.",
                    hint="Copy the whsec_ secret from Codat's portal again.",
                    id="connections.E004",
                )
            )
    return errors


# Standard Webhooks signing keys are 24 to 64 random bytes; anything shorter can be guessed.
MIN_SECRET_BYTES = 24


def secret_key_length(secret: str) -> int:
    """How many bytes of key a whsec_ secret carries, decoded the way the verifier decodes it."""
    encoded = secret.removeprefix("whsec_")
    try:
        return len(base64.b64decode(encoded + "=="))
    except (binascii.Error, ValueError):
        return 0
