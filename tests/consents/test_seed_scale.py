"""`manage.py seed_scale`: the large database that measurements at bank scale run on."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from companies.models import Company, Membership
from connections.models import Connection, DataSync
from consents.models import CodatSyncState, Consent, ConsentEvent

pytestmark = pytest.mark.django_db

SIZE = {"companies": 5, "connections": 14, "consents": 9, "events": 40}


def seed(**options) -> None:
    call_command("seed_scale", **{**SIZE, **options}, stdout=None)


def test_seeds_the_counts_asked_for_with_consistent_histories():
    seed()

    assert Company.objects.count() == 5
    assert Connection.objects.count() == 14
    assert Consent.objects.count() == 9
    assert ConsentEvent.objects.count() == 40
    # An owner per company, a second member in every fifth.
    assert Membership.objects.filter(role="owner").count() == 5
    assert Membership.objects.count() == 6
    assert CodatSyncState.objects.count() == 5
    assert DataSync.objects.filter(connection__status="Linked").exists()
    for consent in Consent.objects.all():
        history = list(consent.events.order_by("occurred_at"))
        assert history[0].action == "grant"
        assert history[0].text_sha256 == consent.text.sha256
        # The consent's state is where its history ends.
        assert consent.state == ("withdrawn" if history[-1].action == "withdraw" else "active")


def test_refuses_to_seed_the_same_database_twice():
    seed()

    with pytest.raises(CommandError, match="seeded already"):
        seed()

    assert Company.objects.count() == 5


def test_the_evidence_it_wrote_stays_append_only():
    seed()
    with pytest.raises(Exception, match="append-only"), connection.cursor() as cursor:
        cursor.execute("UPDATE consents_consentevent SET method = 'admin'")


def test_a_seeded_customer_can_log_in_and_see_their_own_pages():
    seed(password="a-long-seeded-password")
    owner = Membership.objects.filter(role="owner").select_related("company", "user").first()
    company = owner.company
    client = Client()
    assert client.login(username=owner.user.email, password="a-long-seeded-password")
    consent = Consent.objects.filter(company=company).select_related("product").first()
    platform = Connection.objects.filter(company=company).current().first().platform_name

    pages = {
        "/": company.name,
        "/consents/": consent.product.name,
        "/connections/": platform,
        f"/products/{consent.product.slug}/": consent.product.purpose[:40],
    }
    for page, shown in pages.items():
        response = client.get(page)
        assert response.status_code == 200, page
        assert shown in response.content.decode(), page


def test_a_seeded_connection_page_renders():
    seed(password="a-long-seeded-password")
    connection_row = Connection.objects.filter(status="Linked").select_related("company").first()
    user = get_user_model().objects.get(
        memberships__company=connection_row.company, memberships__role="owner"
    )
    client = Client()
    client.force_login(user)

    response = client.get(f"/connections/{connection_row.id}/")

    assert response.status_code == 200
    assert connection_row.platform_name in response.content.decode()
