"""Who is asking: the client's address, for consent evidence and for rate limits, and the
account a form names, for per-account rate limits."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest

from companies.services import normalise_email


def client_ip(request: HttpRequest) -> str | None:
    """The customer's address. Behind a proxy, the header it sets is trusted only when
    configured (TRUSTED_PROXY_IP_HEADER), and then its right-most entry: the one our own proxy
    added, which a client cannot forge. Garbage in the header falls back to the peer."""
    header = settings.TRUSTED_PROXY_IP_HEADER
    candidates = []
    if header:
        hops = [hop.strip() for hop in request.META.get(header, "").split(",") if hop.strip()]
        candidates += hops[-1:]
    candidates.append(request.META.get("REMOTE_ADDR", ""))
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def account_named_in(field: str) -> Callable[[str, HttpRequest], str]:
    """A django-ratelimit key: the account the POSTed email `field` names (L4).

    Spelled exactly as login looks the account up (normalise_email), so `Owner@Acme.example`
    and ` owner@acme.example ` count against one allowance, not one each.
    """

    def key(group: str, request: HttpRequest) -> str:
        return normalise_email(request.POST.get(field, ""))

    return key
