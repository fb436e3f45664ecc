"""The Lending review in the admin: an applicant's key figures only from data its live Lending
consent covers, read under the staff member's name; without one, it says so and reads nothing."""

from __future__ import annotations

import re
import uuid

import pytest
from django.utils import timezone

from codat_sandbox.books import books_for
from consents.models import DataUse
from tests.insights.steps import agree, let_syncs_finish, pounds

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def review(staff_client, company):
    return staff_client.get(f"/admin/lending-review/{company.pk}/")


def test_without_a_lending_consent_the_review_says_so_and_reads_nothing(staff_client, synced):
    # Business insights' consent covers profit and loss and the balance sheet, and Codat holds
    # them: Lending still may not use them.
    response = review(staff_client, synced)

    assert response.status_code == 200
    assert "has no live Lending consent" in text(response)
    assert "Nothing was read" in text(response)
    assert not DataUse.objects.filter(company=synced, product__slug="lending").exists()


def test_with_a_live_lending_consent_staff_see_the_figures_and_are_named_in_the_log(
    client, staff_client, staff, synced, time_machine, django_capture_on_commit_callbacks
):
    agree(client, "lending", django_capture_on_commit_callbacks)
    let_syncs_finish(time_machine, django_capture_on_commit_callbacks)

    response = review(staff_client, synced)

    page = text(response)
    books = books_for(uuid.UUID(str(synced.codat_company_id)), today=timezone.localdate())
    year = books.months[-12:]
    assert pounds(sum(m.sales for m in year)) in page
    assert pounds(sum(m.net_profit for m in year)) in page
    assert pounds(books.months[-1].cash) in page  # cash, from the balance sheet
    assert "Average bank balance" in page
    use = DataUse.objects.get(company=synced, product__slug="lending")
    assert use.reader == staff
    assert use.reader_kind == DataUse.Reader.STAFF
    assert use.reader_name == (staff.get_full_name() or staff.get_username())
    assert set(use.data_types) == {
        "profitAndLoss",
        "balanceSheet",
        "banking-accounts",
        "banking-transactions",
    }
    assert use.refused_data_types == []


def test_customers_cannot_open_the_review(client, synced):
    response = client.get(f"/admin/lending-review/{synced.pk}/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert not DataUse.objects.filter(product__slug="lending").exists()


def test_the_company_page_links_to_the_review_and_shows_the_data_use_log(
    staff_client, synced, client
):
    client.get("/insights/")

    page = text(staff_client.get(f"/admin/companies/company/{synced.pk}/change/"))

    assert f"/admin/lending-review/{synced.pk}/" in page
    assert "How the data was used" in page
    assert "Show the Business insights dashboard" in page
