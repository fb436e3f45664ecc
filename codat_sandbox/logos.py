"""The sandbox's branding artwork, served the way Codat serves its official logos.

Codat's get-integrations-branding answer points at images on its own static host, fetched
without the API key. The sandbox draws its own, from the platform key alone, so the same key
always gives the same bytes: a square SVG badge and a wide PNG banner. They are deliberately
unlike the app's letter monograms (a ring around the initials, a striped banner), so that a
page showing fetched artwork can be told from one showing the fallback. No brand's real
artwork is copied.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.http import require_GET

from .integrations import Integration, get_integration

SQUARE = "square.svg"
FULL = "full.png"


def logo_url(integration: Integration, name: str) -> str:
    """Absolute, as Codat's image URLs are."""
    path = reverse("codat_sandbox:assets_logo", args=[integration.key, name])
    return f"{settings.SITE_URL}{path}"


def _colour(key: str) -> tuple[int, int, int]:
    # Dark enough that white initials on it keep a 4.5:1 contrast.
    digest = hashlib.sha256(key.encode()).digest()
    return (digest[0] % 96 + 16, digest[1] % 96 + 16, digest[2] % 96 + 16)


def _initials(name: str) -> str:
    words = [word for word in name.split() if word[:1].isalnum()]
    return "".join(word[0] for word in words[:2]).upper() or "?"


def square_svg(integration: Integration) -> bytes:
    red, green, blue = _colour(integration.key)
    name = escape(integration.name)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" role="img" '
        f'aria-label="{name}"><title>{name}</title>'
        f'<circle cx="32" cy="32" r="32" fill="rgb({red},{green},{blue})"/>'
        '<circle cx="32" cy="32" r="24" fill="none" stroke="#ffffff" stroke-width="3"/>'
        '<text x="32" y="32" dy="0.35em" text-anchor="middle" font-family="system-ui, Arial, '
        'sans-serif" font-size="18" font-weight="700" fill="#ffffff">'
        f"{escape(_initials(integration.name))}</text></svg>"
    ).encode()


def full_png(integration: Integration, *, width: int = 160, height: int = 48) -> bytes:
    """A banner in the platform's colour with lighter diagonal stripes: a valid 8-bit RGB PNG
    built by hand, since the sandbox needs no imaging library for so little."""
    colour = bytes(_colour(integration.key))
    light = bytes(min(255, channel + 80) for channel in colour)
    rows = b"".join(
        b"\x00"  # filter type None for each scanline
        + b"".join(light if (x + y) // 12 % 2 else colour for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


@require_GET
def logo(request: HttpRequest, platform_key: str, name: str) -> HttpResponse:
    """Public, like Codat's static host: no API key needed."""
    integration = get_integration(platform_key)
    if integration is None or name not in (SQUARE, FULL):
        raise Http404("No such logo")
    if name == SQUARE:
        response = HttpResponse(square_svg(integration), content_type="image/svg+xml")
    else:
        response = HttpResponse(full_png(integration), content_type="image/png")
    response["Cache-Control"] = "public, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response
