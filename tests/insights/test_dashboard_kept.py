"""The dashboard keeps what it showed for the company and the month (insights.views): a view
served from it costs no Codat call and no figure work, only the sign-in and its log row, and is
logged as the customer's use all the same; a new pull Codat announces (read.completed) or a
withdrawal shows on the next view."""

from __future__ import annotations

import re

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from codat_sandbox.models import SandboxCompany
from codat_sandbox.syncs import queue_data_type
from consents import data_use
from consents.models import DataUse
from tests.consents.steps import withdraw
from tests.insights.steps import let_syncs_finish

pytestmark = pytest.mark.django_db

# The session, the user, the membership; and the row that logs the view (P3).
SIGN_IN_AND_LOG_QUERIES = 4


@pytest.fixture(autouse=True)
def _the_cache_alone(settings):
    # What the cache shows on its own, with no fresh build beside it (tests/conftest.py).
    settings.PAGE_CACHE_VERIFY = False


def page(client) -> str:
    response = client.get("/insights/")
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.content.decode())


def dashboard(page: str) -> str:
    """The dashboard itself, without the page around it (CSRF token, messages)."""
    return page[page.index('<section class="page-intro">') : page.index("</main>")]


def newest_use(company) -> DataUse:
    use = DataUse.objects.filter(company=company).first()
    assert use is not None
    return use


def test_a_view_of_the_kept_dashboard_costs_the_sign_in_and_its_log_row(
    client, synced, time_machine
):
    first = page(client)
    time_machine.shift(60)
    with CaptureQueriesContext(db) as captured:
        again = page(client)

    assert len(captured) == SIGN_IN_AND_LOG_QUERIES
    assert dashboard(again) == dashboard(first)
    assert again.count('<svg class="chart"') == 4
    # Logged as the customer's use, from our copy, with what it showed.
    read, shown = DataUse.objects.filter(company=synced)[1], newest_use(synced)
    assert shown.reader == read.reader and shown.reader_kind == DataUse.Reader.CUSTOMER
    assert shown.codat_calls == 0 and shown.outcome == DataUse.Outcome.READ
    assert shown.data_types == read.data_types
    # And My consents says so at once.
    mine = re.sub(r"\s+", " ", client.get("/consents/").content.decode())
    assert mine.count("(from the copy we keep, no new request to Codat)") >= 1


def test_a_new_pull_announced_by_codat_makes_the_next_view_read_it(
    client, synced, time_machine, django_capture_on_commit_callbacks
):
    page(client)
    time_machine.shift(60)
    page(client)
    assert newest_use(synced).codat_calls == 0

    # Codat fetches the profit and loss again and says so with read.completed.
    queue_data_type(
        company=SandboxCompany.objects.get(pk=synced.codat_company_id),
        data_type="profitAndLoss",
    )
    let_syncs_finish(time_machine, django_capture_on_commit_callbacks)
    page(client)

    assert newest_use(synced).codat_calls == 1  # the profit and loss; the rest from our copy


def test_after_a_withdrawal_the_next_view_shows_the_dashboard_stopped(client, synced):
    assert '<svg class="chart"' in page(client)
    page(client)

    withdraw(client, "business-insights")

    stopped = page(client)
    assert "This dashboard has stopped" in stopped
    assert "<svg" not in stopped


def test_a_view_whose_log_row_cannot_be_written_shows_no_data(client, synced, monkeypatch):
    # The row is sent while the page renders; the page is answered only once it is written.
    page(client)
    made = data_use._row

    def refused(**row):
        use = made(**row)
        use.codat_calls = -1  # the column's CHECK refuses it
        return use

    monkeypatch.setattr(data_use, "_row", refused)
    client.raise_request_exception = False
    response = client.get("/insights/")

    assert response.status_code == 500
    assert b'<svg class="chart"' not in response.content
