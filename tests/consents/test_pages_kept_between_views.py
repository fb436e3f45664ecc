"""Customer pages keep what they build between views (companies.page_cache), and a change
shows on the very next view: a grant, a withdrawal, a connection that expires, a sync that
fails, a banking clock that ends. What is kept is the company's, never one person's: each
visitor gets their own CSRF token, a member sees what a member sees, another business none of
it. And a change made while another server builds a page cannot leave that page behind."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection as db
from django.db import transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from companies import page_cache
from companies.models import Membership
from connections.models import Connection, DataSync
from consents.models import Product
from consents.selectors import current_text
from consents.services import RequestMeta, consent_grant
from tests.consents.steps import grant, granted, withdraw
from tests.consents.test_banking_clock import START, at, bank_becomes
from tests.fakes import link_bank, link_xero
from tests.personas import make_member
from tests.webhooks.steps import (
    ACME_CODAT_ID,
    PLAID_CODAT_ID,
    SECRET,
    XERO_CODAT_ID,
    connection_event,
    data_type_entry,
    encode,
    post,
    read_event,
    signed_headers,
)

pytestmark = pytest.mark.django_db

# Every page a signed-in customer of Acme sees, but a connection's own (below).
PAGES = [
    "/",
    "/consents/",
    "/consents/lending/",
    "/consents/receipt/",
    "/connections/",
    "/products/lending/",
    "/privacy/",
    "/help/",
]
# What every signed-in page reads, the trivial one too: the session, the user, the membership.
SIGN_IN_QUERIES = 3


@pytest.fixture(autouse=True)
def _the_cache_alone(settings):
    # What the cache shows on its own, with no fresh build beside it (tests/conftest.py).
    settings.PAGE_CACHE_VERIFY = False


def text(response) -> str:
    assert response.status_code == 200, (response.status_code, response.get("Location"))
    return re.sub(r"\s+", " ", response.content.decode())


def queries(client: Client, path: str) -> int:
    with CaptureQueriesContext(db) as captured:
        assert client.get(path).status_code == 200, path
    return len(captured)


def synced(connection: Connection) -> None:
    """Codat has fetched every type the company's consents read over the connection."""
    from codat.types import source_type_of
    from consents.selectors import allowed_data_types

    for data_type in allowed_data_types(connection.company):
        if source_type_of(data_type) == connection.source_type:
            DataSync.objects.update_or_create(
                connection=connection,
                data_type=data_type,
                defaults={
                    "status": DataSync.Status.COMPLETE,
                    "last_event_at": timezone.now(),
                    "last_success_at": timezone.now(),
                },
            )
    page_cache.facts_changed(connection.company)  # as the read.completed webhook says


@pytest.fixture
def lending_live(acme, lending):
    """Lending agreed, its accounting and bank connections linked at Codat's ids, all synced."""
    acme.codat_company_id = ACME_CODAT_ID
    acme.save()
    xero = link_xero(acme)
    bank = link_bank(acme)
    Connection.objects.filter(pk=xero.pk).update(codat_connection_id=XERO_CODAT_ID)
    Connection.objects.filter(pk=bank.pk).update(codat_connection_id=PLAID_CODAT_ID)
    granted(acme, "lending")
    for connection in (xero, bank):
        connection.refresh_from_db()
        synced(connection)
    return xero, bank


@pytest.fixture
def deliver(client, settings, django_capture_on_commit_callbacks):
    """A signed Codat webhook, processed as after the intake's commit."""
    settings.CODAT_WEBHOOK_SECRETS = [SECRET]

    def deliver(document) -> None:
        body = encode(document)
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, body, signed_headers(body)).status_code == 202

    return deliver


# --- what a view costs once it has been seen ---------------------------------------------------


def test_a_page_seen_again_costs_only_the_sign_in_queries(owner_client, lending_live):
    _, bank = lending_live
    for path in [*PAGES, f"/connections/{bank.id}/"]:
        first = queries(owner_client, path)
        again = queries(owner_client, path)

        assert again == SIGN_IN_QUERIES, path
        assert first >= again, path


def test_a_connection_still_syncing_is_read_afresh_on_every_view(owner_client, acme, lending):
    link_xero(acme)
    bank = link_bank(acme)
    granted(acme, "lending")  # nothing fetched yet

    first = text(owner_client.get(f"/connections/{bank.id}/"))
    again = queries(owner_client, f"/connections/{bank.id}/")

    assert "Fetching your data" in first
    assert again > SIGN_IN_QUERIES  # it follows the sync, so it is never kept


# --- a change shows on the next view -----------------------------------------------------------


def test_a_grant_shows_on_the_next_view_of_every_page(owner_client, acme, lending):
    link_xero(acme)
    link_bank(acme)
    paths = ["/", "/consents/", "/products/lending/", "/consents/receipt/"]
    # Lending is not started, and neither is the other product.
    not_started = {path: text(owner_client.get(path)).count(">Not started<") for path in paths}

    grant(owner_client, "lending")

    for path in paths:
        page = text(owner_client.get(path))
        assert ">Live<" in page, path
        assert page.count(">Not started<") == not_started[path] - 1, path
    assert "<strong>Granted</strong>" in text(owner_client.get("/consents/lending/"))


def test_a_withdrawal_shows_on_the_next_view_of_every_page(owner_client, lending_live):
    for path in PAGES:
        text(owner_client.get(path))
    assert ">Live<" in text(owner_client.get("/products/lending/"))

    withdraw(owner_client, "lending")

    for path in ["/", "/consents/", "/consents/lending/", "/consents/receipt/"]:
        assert ">Withdrawn<" in text(owner_client.get(path)), path
    product = text(owner_client.get("/products/lending/"))
    assert "You withdrew your consent" in product and ">Live<" not in product


def test_a_connection_that_expires_at_codat_shows_on_the_next_view(
    owner_client, lending_live, deliver
):
    _, bank = lending_live
    for path in [*PAGES, f"/connections/{bank.id}/"]:
        assert "Your connection to Plaid has expired." not in text(owner_client.get(path)), path

    deliver(
        connection_event(
            "connection.disconnected",
            timezone.now() + timedelta(minutes=1),
            connection_id=PLAID_CODAT_ID,
            status="Deauthorized",
        )
    )

    for path in PAGES:
        # The banner every page shows, with its reconnect button.
        page = text(owner_client.get(path))
        assert "Your connection to Plaid has expired." in page, path
        assert f'action="/connections/{bank.id}/reconnect/"' in page, path
    assert ">Needs attention<" in text(owner_client.get("/products/lending/"))
    assert "Access has expired" in text(owner_client.get(f"/connections/{bank.id}/"))


def test_a_sync_that_fails_shows_on_the_next_view(owner_client, lending_live, deliver):
    xero, _ = lending_live
    assert "Your data is in" in text(owner_client.get(f"/connections/{xero.id}/"))
    assert ">Live<" in text(owner_client.get("/products/lending/"))

    # Codat's next read of the profit and loss fails, and its webhook says so.
    deliver(
        read_event(
            timezone.now() + timedelta(minutes=1),
            [data_type_entry("profitAndLoss", "FetchError", connection_id=XERO_CODAT_ID)],
        )
    )

    page = text(owner_client.get(f"/connections/{xero.id}/"))
    assert "Some of your data couldn't be fetched" in page
    assert "Not fetched: profit and loss." in page
    product = text(owner_client.get("/products/lending/"))
    assert ">Needs attention<" in product
    assert "Some data couldn&#x27;t be fetched from Xero." in product


def test_a_banking_clock_that_ends_changes_the_pages_with_nothing_recorded(
    owner, owner_client, acme, lending
):
    link_xero(acme)
    bank = link_bank(acme, status=Connection.Status.PENDING_AUTH)
    bank_becomes(bank, "Linked", START)
    with time_machine.travel(START, tick=False):
        grant(owner_client, "lending")

    # Two minutes either side of the clock's end (day 0 + 90 days): within what the pages
    # would keep, had they nothing to say about the clock.
    with time_machine.travel(at(90, minutes=-2), tick=False):
        owner_client.force_login(owner)  # a session of that day
        before = {path: text(owner_client.get(path)) for path in PAGES}
    with time_machine.travel(at(90, minutes=2), tick=False):
        after = {path: text(owner_client.get(path)) for path in PAGES}

    assert "Bank data shared until" in before["/products/lending/"]
    assert "Keep sharing your bank data with Lending?" in before["/help/"]
    assert "Bank data paused since" in after["/products/lending/"]
    assert "Bank data paused since" in after["/consents/"]
    assert "Lending has paused using your bank data." in after["/help/"]


def test_a_page_kept_by_another_server_before_a_change_commits_is_not_shown_after_it(
    owner, owner_client, acme, lending, rf, django_capture_on_commit_callbacks
):
    """Another server builds My consents from what it read before the grant committed, and
    keeps it under the version the grant set as it started: the grant's commit moves the
    version again, so the next view builds the page afresh."""
    link_xero(acme)
    link_bank(acme)
    before_grant = page_cache.render_fragment("consents/_mine.html", {"statuses": []})
    product = Product.objects.get(slug="lending")

    with django_capture_on_commit_callbacks(execute=False) as on_commit, transaction.atomic():
        consent_grant(
            company=acme,
            product=product,
            actor=owner,
            text_shown=current_text(product),
            meta=RequestMeta(surface="test"),
        )
        # The other server, between the grant's start and its commit: it saw no consent.
        other_request = rf.get("/consents/")
        part = page_cache.Part("mine", (1, True), topics=(page_cache.ACCESS, page_cache.USES))
        page_cache.lookup(other_request, acme, part).get(
            part, lambda: page_cache.Built(before_grant)
        )
    for callback in on_commit:
        callback()

    page = text(owner_client.get("/consents/"))
    assert "<strong>Granted</strong>" in page


# --- never one person's page for another ------------------------------------------------------


def test_each_visitor_gets_their_own_csrf_token_in_a_kept_page(owner, acme, lending_live):
    _, bank = lending_live
    Connection.objects.filter(pk=bank.pk).update(status=Connection.Status.DEAUTHORIZED)
    page_cache.facts_changed(acme)
    colleague = make_member("colin@acme.example", company=acme, role=Membership.Role.MEMBER)
    browsers = {}
    for user in (owner, colleague):
        browsers[user] = Client(enforce_csrf_checks=True)
        browsers[user].force_login(user)

    def reconnect_token(user) -> str:
        page = browsers[user].get("/products/lending/").content.decode()
        form = re.search(r'action="/connections/[^"]+/reconnect/".*?</form>', page, re.S)
        assert form, page
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(0)).group(1)

    owners = reconnect_token(owner)  # built and kept
    colleagues = reconnect_token(colleague)  # from what was kept

    # Each token is good for its own visitor's session only (logging out is a checked POST).
    assert (
        browsers[colleague].post("/accounts/logout/", {"csrfmiddlewaretoken": owners}).status_code
        == 403
    )
    assert (
        browsers[owner].post("/accounts/logout/", {"csrfmiddlewaretoken": colleagues}).status_code
        == 403
    )
    assert (
        browsers[colleague]
        .post("/accounts/logout/", {"csrfmiddlewaretoken": colleagues})
        .status_code
        == 302
    )
    assert (
        browsers[owner].post("/accounts/logout/", {"csrfmiddlewaretoken": owners}).status_code
        == 302
    )


def test_what_only_the_owner_sees_is_not_shown_to_another_member(owner_client, acme, lending):
    colleague = make_member("colin@acme.example", company=acme, role=Membership.Role.MEMBER)
    member_client = Client()
    member_client.force_login(colleague)

    owners = text(owner_client.get("/consents/"))
    members = text(member_client.get("/consents/"))
    owners_again = text(owner_client.get("/consents/"))

    assert "Close my account and delete my data" in owners
    assert "Close my account and delete my data" not in members
    assert "Close my account and delete my data" in owners_again


def test_another_business_never_sees_what_acme_kept(owner_client, outsider_client, lending_live):
    _, bank = lending_live
    for path in [*PAGES, f"/connections/{bank.id}/"]:
        text(owner_client.get(path))

    for path in PAGES:
        page = text(outsider_client.get(path, follow=True))
        assert str(bank.id) not in page and "Granted" not in page, path
    for path in ["/", "/consents/", "/products/lending/"]:
        assert ">Live<" not in text(outsider_client.get(path)), path
    # Kept under Acme's name only: for anyone else it is not there at all.
    assert outsider_client.get(f"/connections/{bank.id}/").status_code == 404


def test_pages_kept_by_another_release_are_not_shown(owner_client, lending_live, monkeypatch):
    assert "Lending" in text(owner_client.get("/consents/"))
    monkeypatch.setattr(page_cache, "code_stamp", lambda: "the-next-release")

    assert queries(owner_client, "/consents/") > SIGN_IN_QUERIES


def test_a_cache_that_fails_costs_the_building_but_never_the_page(
    owner_client, lending_live, monkeypatch
):
    def down(*args, **kwargs):
        raise ConnectionError("the cache is down")

    monkeypatch.setattr(page_cache.cache, "get_many", down)
    monkeypatch.setattr(page_cache.cache, "set", down)

    for path in PAGES:
        assert owner_client.get(path).status_code == 200, path
    assert ">Live<" in text(owner_client.get("/products/lending/"))


def test_a_person_renamed_by_staff_is_renamed_in_their_business_history(
    owner_client, staff_client, owner, acme, lending
):
    grant(owner_client, "lending")
    assert "Granted</strong> by Olive Owner" in text(owner_client.get("/consents/"))

    form = staff_client.get(f"/admin/auth/user/{owner.pk}/change/").content.decode()
    joined = re.search(
        r'name="date_joined_0" value="([^"]+)".*?name="date_joined_1" value="([^"]+)"', form, re.S
    )
    response = staff_client.post(
        f"/admin/auth/user/{owner.pk}/change/",
        {
            "username": owner.username,
            "first_name": "Olivia",
            "last_name": "Owner-Smith",
            "email": owner.email,
            "is_active": "on",
            "date_joined_0": joined.group(1),
            "date_joined_1": joined.group(2),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]

    page = text(owner_client.get("/consents/"))
    assert "Granted</strong> by Olivia Owner-Smith" in page
    assert "Olive Owner" not in page
