"""One vocabulary: every status word a customer meets is defined in Help, in the same words
the badges use; no "package" jargon; no raw messages from Codat."""

from __future__ import annotations

import re

import pytest

from connections.models import Connection
from consents.selectors import ProductStatus
from tests.consents.steps import granted
from tests.fakes import link, link_bank, link_xero

pytestmark = pytest.mark.django_db


def text_of(html: str) -> str:
    main = html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))


def test_help_defines_every_status_word_the_badges_use(client):
    page = client.get("/help/").content.decode()

    for status in Connection.Status:
        assert f">{status.label}</span></dt>" in page
        assert Connection.STATUS_MEANINGS[status].replace("'", "&#x27;") in page
    for state, label in ProductStatus.LABELS.items():
        assert f">{label}</span></dt>" in page
        assert ProductStatus.MEANINGS[state].replace("'", "&#x27;") in page
    assert "no longer authorised" not in page.lower()
    assert "We no longer have access and read nothing new" in page  # what "Paused" means


def test_the_connections_page_points_to_the_glossary(owner_client, acme):
    link_xero(acme, status=Connection.Status.UNLINKED)

    page = owner_client.get("/connections/").content.decode()

    assert ">Paused<" in page
    assert 'href="/help/#connection-statuses"' in page


def test_one_word_for_expired_access_wherever_it_shows(owner_client, client, acme):
    link_bank(acme, status=Connection.Status.DEAUTHORIZED)

    for url in ("/connections/", "/help/"):
        page = (owner_client if url != "/help/" else client).get(url).content.decode()
        assert "Access expired" in page
        assert "no longer authorised" not in page.lower()


def test_no_page_a_customer_sees_says_package(owner_client, acme, catalogue):
    xero = link_xero(acme)
    link(acme, source_type="Commerce", key="fztf", name="Shopify", status="Unlinked")
    granted(acme, "lending")
    pages = [
        "/",
        "/connections/",
        "/connections/new/",
        "/connections/new/?product=lending",
        f"/connections/{xero.id}/",
        "/products/lending/",
        "/products/business-insights/",
        "/consents/",
        "/help/",
        "/privacy/",
    ]
    for url in pages:
        response = owner_client.get(url)
        assert response.status_code == 200, url
        assert "package" not in text_of(response.content.decode()).lower(), url


def test_help_answers_third_parties_not_listed_and_how_to_log_in(client):
    page = client.get("/help/").content.decode()

    for anchor, question in [
        ("third-parties", "Will you share my data with any third parties?"),
        ("how-to-log-in", "How do I log in to my software or bank?"),
        ("not-listed", "What if my accounting software isn't listed?"),
    ]:
        assert f'<a href="#{anchor}">{question}</a>' in page
        assert f'id="{anchor}-title">{question}</h2>' in page
    # Sign-in help names each provider the picker offers by name.
    for provider in ("Xero", "QuickBooks Online", "Sage Accounting", "Plaid or TrueLayer"):
        assert provider in page.split('id="how-to-log-in"')[1].split("</section>")[0]


def test_the_picker_links_to_sign_in_help_and_to_what_if_yours_is_missing(owner_client, catalogue):
    page = owner_client.get("/connections/new/").content.decode()

    assert 'href="/help/#how-to-log-in"' in page
    assert 'href="/help/#not-listed"' in page
