"""Platform logos from our own origin: no third-party images on our pages.

Codat's artwork when `codat_logos_fetch` has stored it (served by `connections:logo`, at a URL
that changes with the image), else our letter monogram from the static files.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from django import template
from django.conf import settings
from django.templatetags.static import static

from connections.logos import logo_url
from connections.selectors import platform_logo_versions

register = template.Library()


@cache
def _monogram_keys() -> frozenset[str]:
    folder = Path(settings.BASE_DIR) / "static" / "img" / "platforms"
    return frozenset(p.stem for p in folder.glob("*.svg"))


def monogram_url(key: str) -> str:
    return static(f"img/platforms/{key if key in _monogram_keys() else 'generic'}.svg")


@register.simple_tag(takes_context=True)
def platform_logo(context: template.Context, key: str) -> str:
    # A page part rendered without its request (companies.page_cache) is handed the logos.
    versions = context.get("platform_logos")
    if versions is None:
        versions = _stored_logos(context.get("request"))
    digest = versions.get(key)
    return logo_url(key, digest) if digest else monogram_url(key)


def _stored_logos(request: Any) -> dict[str, str]:
    """One query per request, however many logos its page shows."""
    if request is None:
        return platform_logo_versions()
    versions = getattr(request, "_platform_logo_versions", None)
    if versions is None:
        versions = platform_logo_versions()
        request._platform_logo_versions = versions
    return versions
