"""Platform logos: Codat's branding artwork, downloaded, checked and kept in our database.

Pages may show images from our own origin only (the CSP's `img-src 'self'`), so Codat's images
are never linked to: `platform_logos_fetch` (run by `manage.py codat_logos_fetch`) asks Codat
for each platform's branding, downloads the square logo (else the full one) through the Codat
client, checks it and stores it as a `PlatformLogo`; `connections:logo` serves it. A platform
with no stored logo shows its letter monogram from our static files.

What is kept: PNG, JPEG and SVG up to the client's size limit, whose bytes are what their type
says. An SVG is refused, not cleaned, unless it is plain drawing: no script, no event handler,
no DOCTYPE or entity, no processing instruction, no link or style that reaches outside the
file, nothing outside a list of drawing elements. Browsers run no script in an SVG shown by
`<img>` anyway; the check and the strict policy the view sends with every SVG also cover
someone opening the logo's URL directly.
"""

from __future__ import annotations

import hashlib
import logging
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from codat.client import CodatClient
from codat.errors import CodatError, CodatNotFound, ImageRefused
from companies import page_cache
from connections.models import Integration, PlatformLogo
from connections.services import integrations_refresh

logger = logging.getLogger("connections")

# An unchanged branding URL is taken to be an unchanged image for this long; then the image
# is downloaded again, in case Codat replaced it in place.
LOGO_RECHECK_AGE = timedelta(days=7)

# The part of a logo's digest in its URL.
LOGO_VERSION_LENGTH = 16

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
XLINK_NAMESPACE = "http://www.w3.org/1999/xlink"
# Drawing, text and paint servers; no script, foreignObject, animation (which can rewrite a
# link) or anything that embeds another document.
SVG_ELEMENTS = frozenset(
    {
        "svg", "g", "defs", "symbol", "use", "title", "desc", "metadata",
        "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
        "text", "tspan", "textPath",
        "linearGradient", "radialGradient", "stop", "pattern", "clipPath", "mask",
        "filter", "feGaussianBlur", "feOffset", "feBlend", "feColorMatrix", "feFlood",
        "feComposite", "feMerge", "feMergeNode",
        "image", "style",
    }
)  # fmt: skip
# A raster embedded in the SVG is allowed as data, never as a link to fetch.
_EMBEDDED_RASTER = re.compile(r"^data:image/(png|jpeg);base64,[A-Za-z0-9+/=\s]*$")
# `url(#id)` points inside the file; any other url() reaches out.
_OUTSIDE_URL = re.compile(r"url\(\s*['\"]?(?!#)", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([^\"']+)")
_PROCESSING_INSTRUCTION = re.compile(rb"<\?(?!xml[\s?])", re.IGNORECASE)


def logo_problem(content: bytes, content_type: str) -> str | None:
    """Why these bytes cannot be served as a logo of that type, or None when they can."""
    if not content:
        return "empty"
    if content_type == "image/png":
        return None if content.startswith(b"\x89PNG\r\n\x1a\n") else "not a PNG"
    if content_type == "image/jpeg":
        return None if content.startswith(b"\xff\xd8\xff") else "not a JPEG"
    if content_type == "image/svg+xml":
        return svg_problem(content)
    return f"type {content_type} is not kept"


def svg_problem(content: bytes) -> str | None:
    # UTF-8 only, so that the byte checks below see what the parser will see.
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return "SVG not in UTF-8"
    declared = _DECLARED_ENCODING.search(content)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        return "SVG not in UTF-8"
    lowered = content.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        return "SVG with a DOCTYPE or entity"
    if _PROCESSING_INSTRUCTION.search(content):
        return "SVG with a processing instruction"
    try:
        # Safe without defusedxml: what it defends against (entity expansion, external
        # entities and DTDs) needs a DOCTYPE, refused above.
        root = ElementTree.fromstring(content)  # noqa: S314
    except ElementTree.ParseError:
        return "not well-formed SVG"
    if root.tag != f"{{{SVG_NAMESPACE}}}svg":
        return "not an SVG document"
    for element in root.iter():
        namespace, _, name = element.tag.rpartition("}")
        if namespace != f"{{{SVG_NAMESPACE}" or name not in SVG_ELEMENTS:
            return f"SVG element {name!r} is not allowed"
        if name == "style" and _reaches_out(element.text or ""):
            return "SVG style that reaches outside the file"
        for attribute, value in element.attrib.items():
            attribute_name = attribute.rpartition("}")[2]
            if attribute_name.lower().startswith("on"):
                return f"SVG event handler {attribute_name!r}"
            if attribute_name == "href":
                if not (
                    value.startswith("#") or (name == "image" and _EMBEDDED_RASTER.match(value))
                ):
                    return "SVG link that reaches outside the file"
            elif _reaches_out(value):
                return f"SVG attribute {attribute_name!r} reaches outside the file"
    return None


def _reaches_out(text: str) -> bool:
    squeezed = re.sub(r"\s+", "", text).lower()
    return "javascript:" in squeezed or "@import" in squeezed or bool(_OUTSIDE_URL.search(text))


def logo_url(platform_key: str, digest: str) -> str:
    """Where `connections:logo` serves a stored logo: a new image is a new URL."""
    return reverse("connections:logo", args=[platform_key, digest[:LOGO_VERSION_LENGTH]])


@dataclass(frozen=True)
class LogoOutcome:
    platform_key: str
    outcome: str  # stored | unchanged | none | refused | failed
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.platform_key}: {self.outcome}" + (f" ({self.detail})" if self.detail else "")


def platform_logos_fetch(*, client: CodatClient, force: bool = False) -> list[LogoOutcome]:
    """Bring every known platform's stored logo up to date with Codat's branding.

    Safe to run at any time and as often as wanted: an image already kept from the same URL
    is not downloaded again for LOGO_RECHECK_AGE (unless `force`), and one whose bytes have not
    changed is not rewritten. A failure leaves the logo kept so far, if any, in place.
    """
    try:
        integrations_refresh(client=client)
    except CodatError as exc:
        # The catalogue we have still names the platforms; its refresh is not this job's.
        logger.warning("Integration catalogue refresh failed before fetching logos: %s", exc)
    keys = Integration.objects.order_by("key").values_list("key", flat=True)
    return [_platform_logo_fetch(client=client, platform_key=key, force=force) for key in keys]


def _platform_logo_fetch(*, client: CodatClient, platform_key: str, force: bool) -> LogoOutcome:
    try:
        branding = client.get_integration_branding(platform_key)
    except CodatNotFound:
        return LogoOutcome(platform_key, "none", "Codat has no branding for it")
    except CodatError as exc:
        return LogoOutcome(platform_key, "failed", f"branding: {exc}")
    image = branding.logo_square or branding.logo_full
    if image is None:
        return LogoOutcome(platform_key, "none", "Codat's branding has no logo")

    now = timezone.now()
    kept = PlatformLogo.objects.filter(platform_key=platform_key).first()
    if (
        kept is not None
        and not force
        and kept.source_url == image.src
        and now - kept.checked_at < LOGO_RECHECK_AGE
    ):
        return LogoOutcome(platform_key, "unchanged")

    try:
        downloaded = client.download_image(image.src)
    except ImageRefused as exc:
        return LogoOutcome(platform_key, "refused", exc.message)
    except CodatError as exc:
        return LogoOutcome(platform_key, "failed", f"image: {exc}")
    problem = logo_problem(downloaded.content, downloaded.content_type)
    if problem is not None:
        logger.warning("Refused the logo of %s from %s: %s", platform_key, image.src, problem)
        return LogoOutcome(platform_key, "refused", problem)

    digest = hashlib.sha256(downloaded.content).hexdigest()
    with transaction.atomic():
        if kept is not None and kept.digest == digest:
            PlatformLogo.objects.filter(pk=kept.pk).update(source_url=image.src, checked_at=now)
            return LogoOutcome(platform_key, "unchanged")
        logo = kept or PlatformLogo(platform_key=platform_key)
        logo.content = downloaded.content
        logo.content_type = downloaded.content_type
        logo.digest = digest
        logo.source_url = image.src
        logo.fetched_at = logo.checked_at = now
        logo.full_clean()
        logo.save()
    page_cache.catalogue_changed()  # pages that show this platform show its new logo
    return LogoOutcome(platform_key, "stored", downloaded.content_type)
