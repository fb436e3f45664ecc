"""Branding and image downloads: the client reads Codat's branding and fetches its images
without the API key, from Codat's image host only, and only what is a small PNG, JPEG or SVG."""

from __future__ import annotations

import httpx
import pytest

from codat.errors import CodatNotFound, ImageRefused
from codat.types import BrandingImage
from tests.codat import BASE_URL, make_client

pytestmark = pytest.mark.respx(assert_all_called=False)

LOGO = "https://static.codat.io/public/officialLogos/Square/xero.png"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

# The example in Codat's spec for get-integrations-branding.
BRANDING = {
    "logo": {
        "full": {"image": {"src": "https://static.codat.io/full.png", "alt": "xero full icon"}},
        "square": {"image": {"src": LOGO, "alt": "xero square icon"}},
    },
    "button": {},
    "sourceId": "35b92968-9851-4095-ad60-395c95cbcba4",
}


def test_branding_gives_the_square_and_full_logos(respx_mock):
    respx_mock.get(f"{BASE_URL}/integrations/gbol/branding").respond(200, json=BRANDING)

    branding = make_client().get_integration_branding("gbol")

    assert branding.logo_square == BrandingImage(src=LOGO, alt="xero square icon")
    assert branding.logo_full == BrandingImage(
        src="https://static.codat.io/full.png", alt="xero full icon"
    )
    assert branding.source_id == "35b92968-9851-4095-ad60-395c95cbcba4"


def test_branding_without_images_has_no_logo(respx_mock):
    respx_mock.get(f"{BASE_URL}/integrations/gbol/branding").respond(
        200, json={"logo": {"square": {"image": {"alt": "no src"}}}, "button": {}}
    )

    branding = make_client().get_integration_branding("gbol")

    assert branding.logo_square is None and branding.logo_full is None


def test_an_image_is_downloaded_without_the_api_key(respx_mock):
    route = respx_mock.get(LOGO).respond(200, content=PNG, headers={"Content-Type": "image/png"})

    image = make_client().download_image(LOGO)

    assert image.content == PNG
    assert image.content_type == "image/png"
    assert "Authorization" not in route.calls.last.request.headers


def test_an_image_on_the_apis_own_origin_is_downloaded(respx_mock):
    # Where the sandbox serves its artwork.
    url = f"{BASE_URL}/assets/logo.svg"
    respx_mock.get(url).respond(200, content=b"<svg/>", headers={"Content-Type": "image/svg+xml"})

    assert make_client().download_image(url).content_type == "image/svg+xml"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/logo.png",
        "http://static.codat.io/logo.png",  # not over TLS
        "https://user:pw@static.codat.io/logo.png",
        "https://static.codat.io.evil.example/logo.png",
        "file:///etc/passwd",
        "not a url",
    ],
)
def test_an_image_anywhere_else_is_not_even_asked_for(respx_mock, url):
    route = respx_mock.route().respond(200, content=PNG, headers={"Content-Type": "image/png"})

    with pytest.raises(ImageRefused):
        make_client().download_image(url)

    assert not route.called


@pytest.mark.parametrize("content_type", ["text/html", "image/gif", "application/octet-stream", ""])
def test_only_png_jpeg_and_svg_are_kept(respx_mock, content_type):
    respx_mock.get(LOGO).respond(200, content=PNG, headers={"Content-Type": content_type})

    with pytest.raises(ImageRefused, match="Not an image we keep"):
        make_client().download_image(LOGO)


def test_an_image_larger_than_the_limit_is_refused_by_its_length(respx_mock):
    respx_mock.get(LOGO).respond(200, content=PNG * 10, headers={"Content-Type": "image/png"})

    with pytest.raises(ImageRefused, match="larger than 100 bytes"):
        make_client().download_image(LOGO, max_bytes=100)


def test_an_image_larger_than_the_limit_is_refused_while_it_streams(respx_mock):
    # No Content-Length to go by: the bytes are counted as they come.
    respx_mock.get(LOGO).mock(
        return_value=httpx.Response(200, headers={"Content-Type": "image/png"}, stream=_Stream())
    )

    with pytest.raises(ImageRefused, match="larger than"):
        make_client().download_image(LOGO, max_bytes=10_000)


class _Stream(httpx.SyncByteStream):
    """100 KiB in chunks, with no length announced."""

    def __iter__(self):
        for _ in range(100):
            yield b"x" * 1024


def test_a_missing_image_is_not_found(respx_mock):
    respx_mock.get(LOGO).respond(404)

    with pytest.raises(CodatNotFound):
        make_client().download_image(LOGO)
