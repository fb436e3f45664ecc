"""The admin's lists at a bank's scale (issue 13): searches across members' emails find each
row once without a SELECT DISTINCT over every column, the consent list is one query however
many rows it shows, and the evidence list's method filter is a fixed list, not a table scan.
`bench/admin_pages.py` times them on a seeded database."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from companies.admin_changelist import EstimatedCountPaginator
from consents.models import ConsentEvent
from tests.consents.steps import granted
from tests.personas import make_member

pytestmark = pytest.mark.django_db


def test_a_search_through_members_emails_finds_each_event_once_without_distinct(
    staff_client, acme, owner
):
    granted(acme, "lending")  # made by the owner: one event
    make_member("colleague@acme.example", company=acme, role="member")  # two members match

    with CaptureQueriesContext(connection) as queries:
        page = staff_client.get("/admin/consents/consentevent/?q=acme.example")

    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    assert not [q for q in queries.captured_queries if "DISTINCT" in q["sql"].upper()]


def test_the_consent_list_is_one_query_for_its_rows_however_many(staff_client, db):
    from companies.models import Company

    def consents_list_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get("/admin/consents/consent/").status_code == 200
        return len(queries.captured_queries)

    for n in range(2):
        company = Company.objects.create(name=f"Business {n}")
        make_member(f"owner{n}@business.example", company=company)
        granted(company, "lending")
    few = consents_list_queries()
    for n in range(2, 12):
        company = Company.objects.create(name=f"Business {n}")
        make_member(f"owner{n}@business.example", company=company)
        granted(company, "lending")

    assert consents_list_queries() == few


def test_the_evidence_list_filters_by_method_from_a_fixed_list(staff_client, acme, owner):
    granted(acme, "lending")
    method = ConsentEvent.objects.get().method

    with CaptureQueriesContext(connection) as queries:
        shown = staff_client.get(f"/admin/consents/consentevent/?method={method}")
    other = "system" if method != "system" else "web"
    hidden = staff_client.get(f"/admin/consents/consentevent/?method={other}")

    assert shown.context["cl"].result_count == 1
    assert hidden.context["cl"].result_count == 0
    assert not [
        q for q in queries.captured_queries if 'DISTINCT "consents_consentevent"' in q["sql"]
    ]


def test_a_short_list_is_counted_exactly(staff_client, acme, owner):
    granted(acme, "lending")

    page = staff_client.get("/admin/consents/consentevent/")

    assert page.context["cl"].result_count == 1
    assert "1 consent event" in page.text and "about" not in page.text


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the estimate is PostgreSQL's")
def test_a_long_list_says_about_how_many_and_a_filtered_one_is_counted(
    staff_client, acme, owner, monkeypatch
):
    granted(acme, "lending")
    # Every list counts as long here: more than none.
    monkeypatch.setattr(EstimatedCountPaginator, "exact_up_to", 0)

    whole = staff_client.get("/admin/consents/consentevent/")
    filtered = staff_client.get("/admin/consents/consentevent/?action__exact=staff")

    assert whole.context["cl"].paginator.estimated
    assert f"about {whole.context['cl'].result_count} consent events" in whole.text
    assert "an estimate" in whole.text
    assert whole.context["selection_note_all"].startswith("All (about ")
    # The planner may think there are some; counted up to the limit, there are none.
    assert filtered.context["cl"].result_count == 0
    assert "0 consent events" in filtered.text and "about" not in filtered.text
