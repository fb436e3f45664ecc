"""Which Codat the app talks to, decided once when settings load, and refused when unsafe.

Real Codat needs `CODAT_API_KEY`. The built-in sandbox plays Codat for local work (DEBUG on, no
key: `make run`, the tests) and for a demo deployment that names it with `CODAT_SANDBOX=true`.
Anything else is refused at start-up rather than guessed: a production server with no key must
not quietly serve an open, fake Codat to the internet (docs/promises.md, L1 and L2).

Plain functions of their inputs, so that settings, the deploy checks and the tests share them.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

# The sandbox's key for local work only; a demo deployment must set its own (L2).
DEV_SANDBOX_KEY = "sandbox"
DEMO_SANDBOX_KEY_MIN_LENGTH = 32
# A fixed signing secret for local work only (the sandbox signs its webhooks with it).
DEV_WEBHOOK_SECRET = "whsec_Y29uc2VudC1wb3J0YWwtc2FuZGJveC13ZWJob29rcw=="

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}

HOW_TO_CHOOSE = (
    "Set CODAT_API_KEY to use the real Codat, or CODAT_SANDBOX=true to run the built-in "
    "sandbox on purpose (a demo deployment), never both."
)


def _flag(raw: str) -> bool | None:
    value = raw.strip().lower()
    if not value:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"CODAT_SANDBOX must be true or false, not {raw!r}.")


def sandbox_enabled(*, debug: bool, api_key: str, sandbox: str) -> bool:
    """True when the built-in sandbox plays Codat; raises when the choice is unsafe or unclear.

    - a key and CODAT_SANDBOX=true together: which one was meant? Refused.
    - a key: real Codat.
    - CODAT_SANDBOX=true: the sandbox, DEBUG or not.
    - neither, with DEBUG on: the sandbox (local work); with DEBUG off: refused.
    """
    wanted = _flag(sandbox)
    if api_key and wanted:
        raise ImproperlyConfigured(
            "Both CODAT_API_KEY and CODAT_SANDBOX=true are set. " + HOW_TO_CHOOSE
        )
    if api_key:
        return False
    if wanted:
        return True
    if debug and wanted is None:
        return True
    raise ImproperlyConfigured(
        "Neither CODAT_API_KEY nor CODAT_SANDBOX=true is set, so there is no Codat to talk to. "
        + HOW_TO_CHOOSE
    )


def require_demo_sandbox_key(key: str) -> None:
    """A sandbox reachable with DEBUG off must not open to the public development key."""
    if key == DEV_SANDBOX_KEY or len(key) < DEMO_SANDBOX_KEY_MIN_LENGTH:
        raise ImproperlyConfigured(
            "CODAT_SANDBOX=true with DJANGO_DEBUG off needs CODAT_SANDBOX_KEY set to a random "
            f"value of at least {DEMO_SANDBOX_KEY_MIN_LENGTH} characters (the sandbox API "
            "key); the development key is refused."
        )
