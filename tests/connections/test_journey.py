"""The whole connect journey against the built-in Codat sandbox, through Django's test client.

The app's Codat client reaches the sandbox in-process; the sandbox's Link page is driven the way
a customer would drive it, by submitting its form.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client

from codat_sandbox.models import SandboxCompany, SandboxConnection
from companies.models import Company
from connections.models import Connection, Integration

# The Link page redirects back only once the account has the app's redirect URL.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("codat_account_set_up")]


def sign_up(client: Client, *, business: str = "Brightside Bakery") -> Company:
    """Sign up, then finish with the link mailed to the new address and the password."""
    response = client.post(
        "/accounts/signup/",
        {
            "name": "Bea Baker",
            "email": "bea@brightside.example",
            "business_name": business,
            "password1": "flour and water 2026",
            "password2": "flour and water 2026",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    link = re.search(r"https?://\S+/accounts/signup/confirm/[\w-]+/", mail.outbox[-1].body)
    assert link, mail.outbox[-1].body
    response = client.post(local(link.group(0)), {"password": "flour and water 2026"})
    assert response.status_code == 302, response.content.decode()[:2000]
    return Company.objects.get(name=business)


def local(url: str) -> str:
    """The path and query of an absolute URL, for Django's test client."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def start_link(client: Client, key: str) -> str:
    response = client.post(f"/connect/{key}/")
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


def finish_at_codat(client: Client, link_url: str, outcome: str = "authorize"):
    """Open the sandbox's Link page and press a button; returns the redirect to our return URL."""
    page = client.get(local(link_url))
    assert page.status_code == 200
    action = re.search(r'<form[^>]*action="([^"]+)"', page.content.decode()).group(1)
    response = client.post(action.replace("&amp;", "&"), {"outcome": outcome})
    assert response.status_code == 302
    return response["Location"]


@pytest.mark.parametrize("custom_params", ["drop", "pass"])
def test_a_new_customer_signs_up_connects_and_sees_the_confirmation(
    client, settings, custom_params
):
    # Whether Codat carries our `state` back through a connection's linkUrl is not documented:
    # the journey must hold either way.
    settings.CODAT_SANDBOX_CUSTOM_PARAMS = custom_params
    company = sign_up(client)

    picker = client.get("/connections/new/").content.decode()
    assert "Accounting" in picker and "Banking" in picker and "Commerce" in picker
    assert "Xero" in picker and "Plaid" in picker and "Shopify" in picker

    link_url = start_link(client, "gbol")
    company.refresh_from_db()
    assert company.codat_company_id is not None
    sandbox_company = SandboxCompany.objects.get(pk=company.codat_company_id)
    assert sandbox_company.tags == {"uid": str(company.id)}
    assert "state=" in link_url

    link_page = client.get(local(link_url)).content.decode()
    assert "Xero" in link_page and "Brightside Bakery" in link_page

    back = finish_at_codat(client, link_url)
    assert urlsplit(back).path == "/connections/return/"
    state_came_back = bool(re.search(r"[?&]state=[^&]", back))
    assert state_came_back is (custom_params == "pass")
    confirmed = client.get(local(back))
    assert confirmed.status_code == 303

    page = client.get(confirmed["Location"]).content.decode()
    assert "You're connected" in page
    connection = Connection.objects.get(company=company)
    assert connection.status == Connection.Status.LINKED
    assert connection.platform_name == "Xero"
    assert SandboxConnection.objects.get(pk=connection.codat_connection_id).status == "Linked"


def test_a_second_package_reuses_the_codat_company(client):
    company = sign_up(client)
    finish = finish_at_codat(client, start_link(client, "mqjo"))
    client.get(local(finish))

    finish = finish_at_codat(client, start_link(client, "qhnd"))
    client.get(local(finish))

    assert SandboxCompany.objects.count() == 1
    statuses = dict(
        Connection.objects.filter(company=company).values_list("platform_key", "status")
    )
    assert statuses == {"mqjo": "Linked", "qhnd": "Linked"}
    listing = client.get("/connections/").content.decode()
    assert "Sandbox" in listing and "Banking Sandbox" in listing


def test_double_clicking_connect_makes_one_connection(client):
    sign_up(client)

    first = start_link(client, "gbol")
    second = start_link(client, "gbol")

    assert Connection.objects.count() == 1
    assert SandboxConnection.objects.count() == 1
    assert first.split("?")[0] == second.split("?")[0]  # same connection's Link page
    assert first != second  # each click gets its own single-use state


def test_cancelling_then_connecting_again_reuses_the_pending_connection(client):
    sign_up(client)
    back = finish_at_codat(client, start_link(client, "gbol"), outcome="cancel")
    outcome = client.get(local(back), follow=True).content.decode()
    assert "You cancelled — connect again?" in outcome

    back = finish_at_codat(client, start_link(client, "gbol"))
    client.get(local(back))

    assert Connection.objects.get().status == Connection.Status.LINKED
    assert SandboxConnection.objects.count() == 1


def test_a_simulated_error_is_explained(client):
    sign_up(client)
    back = finish_at_codat(client, start_link(client, "qhyg"), outcome="error")

    page = client.get(local(back), follow=True).content.decode()

    assert "Something went wrong at QuickBooks Online" in page
    assert Connection.objects.get().status == Connection.Status.PENDING_AUTH


def test_a_second_accounting_package_is_refused_while_one_is_linked(client):
    sign_up(client)
    client.get(local(finish_at_codat(client, start_link(client, "gbol"))))

    response = client.post("/connect/qhyg/", follow=True)

    assert "Xero is already connected as your accounting software" in response.content.decode()
    assert Connection.objects.count() == 1


def test_connecting_a_linked_accounting_package_again_goes_to_its_page(client):
    sign_up(client)
    client.get(local(finish_at_codat(client, start_link(client, "gbol"))))
    connection = Connection.objects.get()

    response = client.post("/connect/gbol/")

    assert response["Location"] == f"/connections/{connection.id}/"


def test_disconnecting_deletes_at_the_sandbox_and_keeps_history(client):
    sign_up(client)
    client.get(local(finish_at_codat(client, start_link(client, "gbol"))))
    connection = Connection.objects.get()

    client.post(f"/connections/{connection.id}/disconnect/")

    connection.refresh_from_db()
    assert connection.status == Connection.Status.DELETED
    assert not SandboxConnection.objects.filter(pk=connection.codat_connection_id).exists()
    # With Xero gone, another accounting package may be connected.
    assert client.post("/connect/qhyg/").status_code == 302


def test_the_picker_filters_without_javascript(client):
    sign_up(client)

    by_name = client.get("/connections/new/?q=quick").content.decode()
    by_kind = client.get("/connections/new/?type=Commerce").content.decode()

    assert "QuickBooks Online" in by_name and "Xero" not in by_name
    assert "Shopify" in by_kind and "Xero" not in by_kind and "Plaid" not in by_kind


def test_the_picker_shows_our_own_logos_only(client):
    sign_up(client)

    page = client.get("/connections/new/").content.decode()

    logos = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert logos and all(src.startswith("/static/img/platforms/") for src in logos)


@pytest.mark.parametrize("key", ["zzzz", "GBOL", "gb", "gbol1", "../x"])
def test_an_unknown_platform_key_is_404(client, key):
    sign_up(client)
    client.get("/connections/new/")  # loads the catalogue

    response = client.post(f"/connect/{key}/")

    assert response.status_code == 404
    assert not Connection.objects.exists()


def test_the_catalogue_comes_from_codat(client):
    sign_up(client)
    assert not Integration.objects.exists()

    client.get("/connections/new/")

    assert Integration.objects.filter(enabled=True).count() == 11
    assert Integration.objects.get(key="upvr").source_type == "Banking"
