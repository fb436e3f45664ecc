"""The company's admin page: one timeline, newest first, of every kind of record (consent
decisions, connection changes, Link attempts, webhooks, deletions at Codat), bounded and at a
fixed number of queries; the evidence read-only and no way to delete the company."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import time_machine
from django.db import connection as db
from django.test import Client
from django.test.utils import CaptureQueriesContext

from connections.models import ConnectionEvent, LinkAttempt, WebhookEvent
from consents.models import ConsentEvent, DeletionRecord, DeletionTarget, ScheduledDeletion
from tests.consents.steps import granted
from tests.consents.test_pages_and_admin import add_events
from tests.fakes import link_xero

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def day(n: int) -> datetime:
    return DAY + timedelta(days=n)


def page_of(client: Client, company) -> str:
    response = client.get(f"/admin/companies/company/{company.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def timeline_rows(html: str) -> list[str]:
    table = html.split('<table class="company-timeline">', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    return [
        unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))).strip()
        for row in body.split("</tr>")
        if "<tr" in row
    ]


@pytest.fixture
def story(acme, owner, other_co, outsider):
    """Day 1 Lending agreed, day 2 Xero's Link trip, day 3 Xero linked, day 4 a webhook, day 5
    a deletion scheduled, day 6 a deletion done. Other Co has records of its own."""
    with time_machine.travel(day(1), tick=False):
        consent = granted(acme, "lending")
    xero = link_xero(acme)
    LinkAttempt.objects.create(
        state_hash="b" * 64,
        user=owner,
        company=acme,
        connection=xero,
        created_at=day(2),
        expires_at=day(2) + timedelta(minutes=15),
        used_at=day(2) + timedelta(minutes=3),
        status_code="200",
    )
    ConnectionEvent.objects.create(
        company=acme, connection=xero, kind=ConnectionEvent.Kind.LINKED, occurred_at=day(3)
    )
    WebhookEvent.objects.create(
        webhook_id="msg_acme_timeline",
        event_type="read.completed",
        body=b"{}",
        company=acme,
        received_at=day(4),
        status=WebhookEvent.Status.PROCESSED,
    )
    ScheduledDeletion.objects.create(
        company=acme,
        target=DeletionTarget.CONNECTION,
        connection=xero,
        codat_company_id=acme.codat_company_id,
        delete_after=day(40),
        reason="Lending's retention period",
        scheduled_at=day(5),
    )
    DeletionRecord.objects.create(
        company=acme,
        target=DeletionTarget.COMPANY,
        codat_company_id=acme.codat_company_id,
        cause=DeletionRecord.Cause.CUSTOMER,
        reason="Closed the account",
        deleted_at=day(6),
    )
    with time_machine.travel(day(7), tick=False):
        granted(other_co, "lending")
    WebhookEvent.objects.create(
        webhook_id="msg_other_timeline", event_type="other.event", body=b"{}", company=other_co
    )
    return consent


def test_one_timeline_of_every_kind_newest_first(staff_client, acme, story):
    rows = timeline_rows(page_of(staff_client, acme))

    assert [row.split(" ")[4] for row in rows] == [
        "Deletion",
        "Scheduled",
        "Webhook",
        "Connection",
        "Link",
        "Consent",
    ]
    assert "Deleted at Codat: the Codat company" in rows[0]
    assert "Deletion at Codat scheduled: Xero, due after 10 Apr 2026" in rows[1]
    assert "read.completed: Processed" in rows[2] and "Codat" in rows[2]
    assert "Xero (accounting): Connected" in rows[3]
    assert "Xero: sent to Codat's Link page; came back, Codat said 200" in rows[4]
    assert "Lending: Granted" in rows[5] and "owner@acme.example" in rows[5]
    assert not any("other.event" in row for row in rows)


def test_each_line_links_to_its_record(staff_client, acme, story):
    html = page_of(staff_client, acme)
    event = ConsentEvent.objects.get(company=acme)
    xero = acme.connections.get()

    assert f'href="/admin/consents/consentevent/{event.pk}/change/"' in html
    assert f'href="/admin/connections/connection/{xero.pk}/change/"' in html
    for model in ("linkattempt", "webhookevent"):
        assert f'href="/admin/connections/{model}/' in html
    for model in ("deletionrecord", "scheduleddeletion"):
        assert f'href="/admin/consents/{model}/' in html


def test_a_long_history_is_capped_with_links_to_everything_at_the_same_query_count(
    staff_client, acme, story
):
    page_of(staff_client, acme)  # per-process caches (content types, the session) warm
    with CaptureQueriesContext(db) as few:
        page_of(staff_client, acme)
    add_events(story, 120)

    with CaptureQueriesContext(db) as many:
        html = page_of(staff_client, acme)

    assert len(few) == len(many)
    assert len(timeline_rows(html)) == 50
    assert "Showing the newest 50" in html
    assert f'href="/admin/consents/consentevent/?company={acme.pk}"' in html
    full_list = staff_client.get(f"/admin/consents/consentevent/?company={acme.pk}")
    assert full_list.status_code == 200 and "121 consent events" in full_list.content.decode()


def test_a_staff_withdrawal_shows_the_reason_and_the_staff_member(staff_client, staff, acme, story):
    staff_client.post(
        "/admin/consents/consent/",
        {
            "action": "withdraw_on_behalf",
            "_selected_action": [str(story.pk)],
            "confirm": "yes",
            "reason": "Asked by phone",
        },
    )

    rows = timeline_rows(page_of(staff_client, acme))

    staff_row = next(row for row in rows if "Withdrawn by staff" in row)
    assert "(Asked by phone)" in staff_row and staff.email in staff_row


def test_the_company_cannot_be_deleted_and_its_evidence_is_not_a_form(staff_client, acme, story):
    html = page_of(staff_client, acme)

    assert "deletelink" not in html
    assert f"/admin/companies/company/{acme.pk}/delete/" not in html
    assert staff_client.get(f"/admin/companies/company/{acme.pk}/delete/").status_code == 403
    assert staff_client.post(f"/admin/companies/company/{acme.pk}/delete/").status_code == 403
    assert "consentevent_set" not in html and "consent_events-" not in html
    # Only the members are a form; consents and connections are shown, not fields.
    editable = re.findall(
        r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*name="([a-z_]+)-\d', html
    )
    assert set(editable) <= {"memberships"}
    # The subject access export is still linked.
    assert f"/admin/companies/company/{acme.pk}/export/" in html


def test_customers_cannot_see_a_company_page(owner_client, acme, story):
    response = owner_client.get(f"/admin/companies/company/{acme.pk}/change/")

    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_a_new_company_has_an_empty_timeline(staff_client, acme):
    assert "Nothing yet." in page_of(staff_client, acme)
