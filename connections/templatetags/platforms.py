"""Platform logos from our own static files: no third-party images on our pages."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django import template
from django.conf import settings
from django.templatetags.static import static

register = template.Library()


@cache
def _logo_keys() -> frozenset[str]:
    folder = Path(settings.BASE_DIR) / "static" / "img" / "platforms"
    return frozenset(p.stem for p in folder.glob("*.svg"))


@register.simple_tag
def platform_logo(key: str) -> str:
    return static(f"img/platforms/{key if key in _logo_keys() else 'generic'}.svg")
