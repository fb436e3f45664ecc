"""My consents, the receipt, query counts, and the staff view in Django admin."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from companies import page_cache
from companies.scoping import scope_only
from consents.models import Consent, ConsentEvent, ConsentText
from consents.selectors import current_text
from tests.consents.steps import grant, granted, withdraw
from tests.fakes import link_bank, link_xero

pytestmark = pytest.mark.django_db


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def add_events(consent: Consent, n: int) -> None:
    ConsentEvent.objects.bulk_create(
        ConsentEvent(
            consent=consent,
            company=consent.company,
            product=consent.product,
            action="reconfirm",
            actor=consent.granted_by,
            occurred_at=timezone.now(),
            text=consent.text,
            text_sha256=consent.text.sha256,
            data_types=consent.data_types,
            method="web",
        )
        for _ in range(n)
    )
    # Written in bulk, past the services: say what they would have said.
    page_cache.facts_changed(consent.company)


@pytest.mark.parametrize("url", ["/", "/consents/"])
def test_home_and_my_consents_cost_the_same_queries_for_2_and_100_events(
    owner_client, url, lending, insights
):
    grant(owner_client, "lending")
    grant(owner_client, "business-insights")
    few = count_queries(owner_client, url)
    add_events(Consent.objects.get(product=lending), 98)
    assert ConsentEvent.objects.count() == 100

    many = count_queries(owner_client, url)

    assert few == many
    print(f"\n{url} queries with 2 products: 2 events={few}, 100 events={many}")


def test_my_consents_shows_state_and_full_history(owner_client, lending):
    grant(owner_client, "lending")
    withdraw(owner_client, "lending")

    page = owner_client.get("/consents/").content.decode()

    assert "Lending" in page and "Withdrawn" in page
    history = page.split("<h2>History</h2>")[1]
    assert history.index("Granted") < history.index("Withdrawn")
    assert "wording version 1" in history


def test_the_product_page_follows_the_lifecycle(owner_client, acme, lending):
    def state() -> str:
        return owner_client.get("/products/lending/").content.decode()

    assert "Not started" in state() and "Get started" in state()
    grant(owner_client, "lending")
    assert "Waiting for a connection" in state()
    link_xero(acme)
    assert "Waiting for a connection" in state()  # Lending also needs a bank
    link_bank(acme)
    assert "Live" in state()
    withdraw(owner_client, "lending")
    assert "Withdrawn" in state() and "Share again" in state()


def test_connect_more_packages_shows_the_kinds_the_product_still_needs(owner_client, acme, lending):
    from connections.models import Integration

    for key, name, kind in [("gbol", "Xero", "Accounting"), ("suuo", "Plaid", "Banking")]:
        Integration.objects.create(key=key, name=name, source_type=kind)
    Integration.objects.create(key="fztf", name="Shopify", source_type="Commerce")
    link_xero(acme)

    page = owner_client.get("/connections/new/?product=lending").content.decode()

    assert "Plaid" in page and "Shopify" in page  # banking still needed; commerce optional
    assert "Xero" not in page


def test_a_connection_page_names_the_products_it_serves(owner_client, acme, lending, insights):
    xero = link_xero(acme)
    grant(owner_client, "business-insights")

    page = owner_client.get(f"/connections/{xero.id}/").content.decode()

    assert "Products using this connection" in page
    assert "Business insights dashboard" in page and "Live" in page


def test_staff_see_consents_and_events_with_filters_and_search(owner_client, staff_client, lending):
    grant(owner_client, "lending")

    consents = staff_client.get("/admin/consents/consent/?q=acme")
    events = staff_client.get("/admin/consents/consentevent/?action__exact=grant")

    assert consents.status_code == 200 and "Acme Ltd" in consents.content.decode()
    assert events.status_code == 200 and "Granted" in events.content.decode()


def test_consent_events_are_read_only_even_for_superusers(owner_client, staff_client, lending):
    grant(owner_client, "lending")
    event = ConsentEvent.objects.get()

    change = staff_client.get(f"/admin/consents/consentevent/{event.pk}/change/")
    delete = staff_client.post(f"/admin/consents/consentevent/{event.pk}/delete/", {"post": "yes"})
    add = staff_client.get("/admin/consents/consentevent/add/")

    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert delete.status_code == 403 and add.status_code == 403
    assert ConsentEvent.objects.filter(pk=event.pk).exists()


def test_staff_export_events_as_csv(owner_client, staff_client, lending):
    grant(owner_client, "lending")
    event = ConsentEvent.objects.get()

    response = staff_client.post(
        "/admin/consents/consentevent/",
        {"action": "export_csv", "_selected_action": [str(event.pk)]},
    )

    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(response.getvalue().decode())))
    assert rows[0]["action"] == "grant" and rows[0]["product"] == "lending"
    assert rows[0]["text_sha256"] == event.text_sha256


def test_a_large_event_export_streams_row_by_row_with_spreadsheet_formulas_defused(
    staff_client, acme, owner, lending
):
    consent = granted(acme, "lending")
    first = ConsentEvent.objects.get()
    ConsentEvent.objects.bulk_create(
        ConsentEvent(
            consent=consent,
            company=acme,
            product=lending,
            action=ConsentEvent.Action.RECONFIRM,
            actor=owner,
            data_types=first.data_types,
            text=first.text,
            text_sha256=first.text_sha256,
            user_agent='=HYPERLINK("http://evil.example")' if n == 0 else "Firefox",
            method=first.method,
            surface=first.surface,
            request_id=f"bulk-{n}",
        )
        for n in range(2500)
    )

    response = staff_client.post(
        "/admin/consents/consentevent/",
        {"action": "export_csv", "select_across": "1", "index": "0", "_selected_action": [""]},
    )

    assert response.streaming
    # Read after the view has returned and outside any tenant scope, as a server does.
    with scope_only():
        chunks = list(response.streaming_content)
    assert len(chunks) == 1 + 2501  # the header, then a chunk per row
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert len(rows) == 2501 and {r["company"] for r in rows} == {"Acme Ltd"}
    assert sum(r["user_agent"].startswith("'=HYPERLINK") for r in rows) == 1


def test_staff_export_consents_as_csv(owner_client, staff_client, lending):
    grant(owner_client, "lending")
    consent = Consent.objects.get()

    response = staff_client.post(
        "/admin/consents/consent/",
        {"action": "export_csv", "_selected_action": [str(consent.pk)]},
    )

    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(response.getvalue().decode())))
    assert rows[0]["company"] == "Acme Ltd" and rows[0]["state"] == "active"


def test_the_company_page_shows_connections_consents_and_events(
    owner_client, staff_client, acme, lending
):
    link_xero(acme)
    grant(owner_client, "lending")
    withdraw(owner_client, "lending")

    page = staff_client.get(f"/admin/companies/company/{acme.pk}/change/").content.decode()

    assert "Xero" in page and "Lending" in page
    # The company's timeline is newest first (tests/companies/test_company_timeline.py).
    timeline = page.split('<table class="company-timeline">', 1)[1]
    assert timeline.index("Lending: Withdrawn") < timeline.index("Lending: Granted")


def test_editing_wording_in_admin_publishes_a_new_version(staff_client, lending):
    old = current_text(lending)

    response = staff_client.post(
        "/admin/consents/consenttext/add/",
        {"product": lending.pk, "body": "Lending, version two."},
    )

    assert response.status_code == 302
    new = current_text(lending)
    assert new.version == old.version + 1 and new.body == "Lending, version two."
    assert ConsentText.objects.get(pk=old.pk).body == old.body
    edit = staff_client.get(f"/admin/consents/consenttext/{old.pk}/change/")
    assert 'name="_save"' not in edit.content.decode()


def test_staff_can_withdraw_on_a_customers_behalf_and_it_is_recorded_as_theirs(
    owner_client, staff_client, staff, acme, lending, django_capture_on_commit_callbacks
):
    from django.core import mail

    from consents.selectors import allowed_data_types

    grant(owner_client, "lending")
    consent = Consent.objects.get()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            "/admin/consents/consent/",
            {
                "action": "withdraw_on_behalf",
                "_selected_action": [str(consent.pk)],
                "confirm": "yes",
                "reason": "Asked by phone",
            },
            follow=True,
        )

    assert "recorded as a staff action" in response.content.decode()
    consent.refresh_from_db()
    assert consent.state == "withdrawn" and consent.withdrawn_by == staff
    event = ConsentEvent.objects.get(action="staff")
    assert event.actor == staff and event.method == "admin"
    assert event.details["effect"] == "withdraw"
    assert "invoices" not in allowed_data_types(acme)
    history = owner_client.get("/consents/").content.decode().split("<h2>History</h2>")[1]
    assert "Withdrawn by your bank</strong>: Asked by phone" in history
    assert "staff@bank.example" not in history
    assert [m.to for m in mail.outbox] == [[acme.memberships.get().user.email]]
    assert "on your behalf" in mail.outbox[0].body
