"""Platform logos: Codat's branding artwork, fetched by `manage.py codat_logos_fetch`, kept in
our database and shown from our own origin; the letter monogram until then, or when Codat's
image cannot be kept."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from codat_sandbox.faults import MAX_CALLS, fault_add
from codat_sandbox.integrations import get_integration as sandbox_integration
from codat_sandbox.logos import square_svg
from codat_sandbox.models import SandboxFault
from connections.logos import platform_logos_fetch
from connections.models import PlatformLogo
from tests.codat import BASE_URL, make_client
from tests.fakes import link_xero, page

pytestmark = pytest.mark.django_db

LOGO_SRC = re.compile(r'<img class="logo" src="([^"]+)" alt="">')
SANDBOX_PLATFORMS = 11


def fetch_logos(*args: str) -> str:
    out = StringIO()
    call_command("codat_logos_fetch", *args, stdout=out)
    return out.getvalue()


def picker_logos(client) -> tuple[list[str], str]:
    response = client.get("/connections/new/")
    return LOGO_SRC.findall(response.content.decode()), response["Content-Security-Policy"]


# --- against the in-process sandbox ----------------------------------------------------------


def test_the_command_keeps_each_platforms_logo_as_codat_brands_it():
    output = fetch_logos()

    assert f"Logos of {SANDBOX_PLATFORMS} platforms: {SANDBOX_PLATFORMS} stored" in output
    xero = PlatformLogo.objects.get(platform_key="gbol")
    assert xero.content_type == "image/svg+xml"
    assert bytes(xero.content) == square_svg(sandbox_integration("gbol"))
    assert xero.source_url.endswith("/sandbox/assets/logos/gbol/square.svg")


def test_the_picker_shows_the_kept_logos_from_our_own_origin(owner_client):
    _, policy_before = picker_logos(owner_client)
    fetch_logos()

    sources, policy = picker_logos(owner_client)

    assert sources and all(re.fullmatch(r"/logos/[a-z]{4}/[0-9a-f]{16}", s) for s in sources)
    assert "img-src 'self' data:" in policy
    assert policy == policy_before
    xero = next(s for s in sources if s.startswith("/logos/gbol/"))
    image = owner_client.get(xero)
    assert image.status_code == 200
    assert image.content == square_svg(sandbox_integration("gbol"))
    assert image["Content-Type"] == "image/svg+xml"
    assert image["Cache-Control"] == "public, max-age=31536000, immutable"
    assert image["X-Content-Type-Options"] == "nosniff"
    # Opened directly rather than as an <img>, an SVG still runs and loads nothing.
    assert (
        image["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    )


def test_every_logo_page_uses_the_kept_logo(owner_client, acme):
    fetch_logos()
    link_xero(acme)

    page_html = owner_client.get("/connections/").content.decode()

    assert re.search(r'<img class="logo-sm" src="/logos/gbol/[0-9a-f]{16}" alt="">', page_html)


def test_without_a_kept_logo_the_monogram_shows(owner_client, catalogue):
    sources, _ = picker_logos(owner_client)

    assert "/static/img/platforms/gbol.svg" in sources
    assert not any(s.startswith("/logos/") for s in sources)


def test_the_second_run_downloads_and_writes_nothing():
    fetch_logos()
    first = {
        logo.platform_key: (logo.fetched_at, logo.checked_at) for logo in PlatformLogo.objects.all()
    }

    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        output = fetch_logos()

    assert f"0 stored, {SANDBOX_PLATFORMS} unchanged" in output
    assert {
        logo.platform_key: (logo.fetched_at, logo.checked_at) for logo in PlatformLogo.objects.all()
    } == first


def test_a_week_on_the_image_is_checked_again_but_not_rewritten():
    fetch_logos()
    fetched = PlatformLogo.objects.get(platform_key="gbol").fetched_at

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        output = fetch_logos()

    xero = PlatformLogo.objects.get(platform_key="gbol")
    assert f"0 stored, {SANDBOX_PLATFORMS} unchanged" in output
    assert xero.fetched_at == fetched
    assert xero.checked_at > fetched


def test_an_old_logo_url_leads_to_the_current_one(client):
    fetch_logos()
    xero = PlatformLogo.objects.get(platform_key="gbol")

    response = client.get("/logos/gbol/0123456789abcdef")

    assert response.status_code == 302
    assert response["Location"] == f"/logos/gbol/{xero.digest[:16]}"
    assert response["Cache-Control"] == "no-cache"


def test_a_platform_without_a_kept_logo_has_no_logo_url(client):
    assert client.get("/logos/gbol/0123456789abcdef").status_code == 404


# --- against a faked Codat: what is refused --------------------------------------------------

IMAGE = "https://static.codat.io/public/officialLogos/Square/xero.svg"
GOOD_SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
    b'viewBox="0 0 10 10"><defs><linearGradient id="g"><stop offset="0"/></linearGradient>'
    b'</defs><rect width="10" height="10" fill="url(#g)"/><use xlink:href="#g"/></svg>'
)

HOSTILE_SVGS = {
    "script": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "event handler": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    "javascript link": (
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        b'<a xlink:href="javascript:alert(1)"><rect width="1" height="1"/></a></svg>'
    ),
    "outside link": (
        b'<svg xmlns="http://www.w3.org/2000/svg"><use href="https://evil.example/x.svg#a"/></svg>'
    ),
    "foreign object": (
        b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><div xmlns='
        b'"http://www.w3.org/1999/xhtml">hi</div></foreignObject></svg>'
    ),
    "entity expansion": (
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><svg xmlns="http://www.w3.org/2000/svg">'
        b"<text>&b;</text></svg>"
    ),
    "stylesheet instruction": (
        b'<?xml-stylesheet href="https://evil.example/x.css"?>'
        b'<svg xmlns="http://www.w3.org/2000/svg"/>'
    ),
    "style import": (
        b'<svg xmlns="http://www.w3.org/2000/svg"><style>@import "https://evil.example/x.css";'
        b"</style></svg>"
    ),
    "outside paint": (
        b'<svg xmlns="http://www.w3.org/2000/svg"><rect fill="url(https://evil.example/p)"/></svg>'
    ),
    "animation": (
        b'<svg xmlns="http://www.w3.org/2000/svg"><a><set attributeName="href" '
        b'to="javascript:alert(1)"/></a></svg>'
    ),
    "not svg": b'<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
    "not utf-8": '<svg xmlns="http://www.w3.org/2000/svg"/>'.encode("utf-16"),
    "broken": b"<svg xmlns='http://www.w3.org/2000/svg'><g></svg>",
}


@pytest.fixture
def codat(respx_mock):
    respx_mock.get(f"{BASE_URL}/integrations").respond(
        200,
        json=page(
            [
                {
                    "key": "gbol",
                    "name": "Xero",
                    "logoUrl": IMAGE,
                    "enabled": True,
                    "sourceType": "Accounting",
                }
            ],
            "/integrations",
        ),
    )
    respx_mock.get(f"{BASE_URL}/integrations/gbol/branding").respond(
        200, json={"logo": {"square": {"image": {"src": IMAGE, "alt": "Xero"}}}, "button": {}}
    )
    return respx_mock


def serve(codat, content: bytes, content_type: str = "image/svg+xml"):
    return codat.get(IMAGE).respond(200, content=content, headers={"Content-Type": content_type})


def test_a_plain_svg_from_codats_image_host_is_kept(codat, owner_client):
    serve(codat, GOOD_SVG)

    (outcome,) = platform_logos_fetch(client=make_client())

    assert outcome.outcome == "stored"
    assert bytes(PlatformLogo.objects.get(platform_key="gbol").content) == GOOD_SVG


@pytest.mark.parametrize("hostile", HOSTILE_SVGS.values(), ids=HOSTILE_SVGS.keys())
def test_an_svg_that_could_run_or_load_anything_is_refused(codat, owner_client, hostile):
    serve(codat, hostile)

    (outcome,) = platform_logos_fetch(client=make_client())

    assert outcome.outcome == "refused"
    assert not PlatformLogo.objects.exists()
    sources, _ = picker_logos(owner_client)
    assert sources == ["/static/img/platforms/gbol.svg"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png"),  # not what it says
        (b"GIF89a", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n", "text/html"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 300 * 1024, "image/png"),  # over 256 KiB
    ],
    ids=["svg as png", "gif as jpeg", "html", "oversized"],
)
def test_an_image_that_is_not_what_it_says_or_too_large_is_refused(codat, content, content_type):
    serve(codat, content, content_type)

    (outcome,) = platform_logos_fetch(client=make_client())

    assert outcome.outcome == "refused"
    assert not PlatformLogo.objects.exists()


def test_branding_that_points_elsewhere_is_not_followed(codat):
    codat.get(f"{BASE_URL}/integrations/gbol/branding").respond(
        200, json={"logo": {"square": {"image": {"src": "https://evil.example/x.png"}}}}
    )
    elsewhere = codat.get("https://evil.example/x.png").respond(200, content=b"")

    (outcome,) = platform_logos_fetch(client=make_client())

    assert outcome.outcome == "refused"
    assert not elsewhere.called


def test_when_codat_fails_the_logo_kept_so_far_stays(codat, owner_client):
    serve(codat, GOOD_SVG)
    platform_logos_fetch(client=make_client())
    codat.get(f"{BASE_URL}/integrations/gbol/branding").respond(503)

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        (outcome,) = platform_logos_fetch(client=make_client(max_attempts=1))

    assert outcome.outcome == "failed"
    sources, _ = picker_logos(owner_client)
    assert sources[0].startswith("/logos/gbol/")


def test_a_new_image_replaces_the_old_under_a_new_url(codat, owner_client):
    serve(codat, GOOD_SVG)
    platform_logos_fetch(client=make_client())
    (old,) = picker_logos(owner_client)[0]
    serve(codat, GOOD_SVG.replace(b'height="10"', b'height="9"'))

    (outcome,) = platform_logos_fetch(client=make_client(), force=True)

    (new,) = picker_logos(owner_client)[0]
    assert outcome.outcome == "stored"
    assert new != old
    assert owner_client.get(old)["Location"] == new


def test_the_command_fails_loudly_when_codat_fails_so_cron_reports_it(catalogue, sleeps):
    fault_add(kind=SandboxFault.Kind.UNAVAILABLE, calls=MAX_CALLS)

    with pytest.raises(CommandError, match=f"{len(catalogue)} logo"):
        fetch_logos()

    assert not PlatformLogo.objects.exists()


def test_without_a_square_logo_the_full_one_is_kept(codat, owner_client):
    full = "https://static.codat.io/public/officialLogos/Full/xero.png"
    codat.get(f"{BASE_URL}/integrations/gbol/branding").respond(
        200, json={"logo": {"full": {"image": {"src": full, "alt": "Xero"}}}, "button": {}}
    )
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    codat.get(full).respond(200, content=png, headers={"Content-Type": "image/png"})

    (outcome,) = platform_logos_fetch(client=make_client())

    (source,) = picker_logos(owner_client)[0]
    image = owner_client.get(source)
    assert outcome.outcome == "stored"
    assert image.content == png
    assert image["Content-Type"] == "image/png"


def test_branding_without_any_logo_keeps_the_monogram(codat, owner_client):
    codat.get(f"{BASE_URL}/integrations/gbol/branding").respond(200, json={"button": {}})

    (outcome,) = platform_logos_fetch(client=make_client())

    assert outcome.outcome == "none"
    assert picker_logos(owner_client)[0] == ["/static/img/platforms/gbol.svg"]
