"""Staff search the admin as Django's admin searches (every word must match one of the fields,
a quoted phrase is one word), and on PostgreSQL the search can start from trigram indexes
instead of reading every row (companies/admin_changelist.py, the search trigram migrations)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from companies.admin import CompanyAdmin
from companies.models import Company
from tests.personas import make_member

pytestmark = pytest.mark.django_db

COMPANY_CHANGELIST = "/admin/companies/company/"
TRIGRAM_INDEXES = {
    "company_name_trgm",
    "company_codat_id_trgm",
    "user_email_trgm",
    "user_first_name_trgm",
    "connection_codat_id_trgm",
    "datasync_data_type_trgm",
}


def found(staff_client, search: str) -> list[str]:
    response = staff_client.get(COMPANY_CHANGELIST, {"q": search})
    assert response.status_code == 200
    return sorted(company.name for company in response.context["cl"].result_list)


@pytest.fixture
def businesses(owner, outsider):
    """Acme Ltd (owner@acme.example) and Other Co (outsider@other.example), and a third."""
    bakery = Company.objects.create(name="Acme Bakery")
    make_member("baker@bakery.example", company=bakery)


def test_each_word_may_match_a_different_field(staff_client, businesses):
    assert found(staff_client, "acme owner@") == ["Acme Ltd"]
    assert found(staff_client, "acme baker@") == ["Acme Bakery"]
    assert found(staff_client, "acme") == ["Acme Bakery", "Acme Ltd"]


def test_every_word_must_match(staff_client, businesses):
    assert found(staff_client, "acme outsider@") == []
    assert found(staff_client, "other nobody") == []


def test_a_quoted_phrase_is_one_word(staff_client, businesses):
    assert found(staff_client, '"Acme Ltd"') == ["Acme Ltd"]
    assert found(staff_client, '"Ltd Acme"') == []


def test_a_search_of_many_words_finds_the_same_a_word_at_a_time(
    staff_client, businesses, monkeypatch
):
    monkeypatch.setattr(CompanyAdmin, "search_branches", 1)

    assert found(staff_client, "acme owner@") == ["Acme Ltd"]
    assert found(staff_client, "acme outsider@") == []


def trigram_indexes() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%%_trgm'")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        return {name for (name,) in cursor.fetchall()} & TRIGRAM_INDEXES


def test_the_search_trigram_indexes_exist_on_postgresql_and_nothing_on_sqlite():
    expected = TRIGRAM_INDEXES if connection.vendor == "postgresql" else set()
    assert trigram_indexes() == expected


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm is PostgreSQL's")
def test_a_search_by_name_or_email_can_start_from_the_trigram_indexes(rf, staff, businesses):
    from django.contrib import admin

    request = rf.get(COMPANY_CHANGELIST, {"q": "acme"})
    request.user = staff
    model_admin = CompanyAdmin(Company, admin.site)
    results, _ = model_admin.get_search_results(request, Company.objects.all(), "acme")
    with connection.cursor() as cursor:
        # On a table this small a scan is cheapest; forbid it to see what the indexes serve.
        cursor.execute("SET LOCAL enable_seqscan = off")

    plan = results.explain()

    assert "company_name_trgm" in plan
    # The members' emails: how the planner joins three tiny tables varies with their
    # statistics, so the email's own condition, as the search writes it, is asked alone, with
    # every other way to read the table forbidden: only its trigram index can serve it.
    emails = get_user_model().objects.filter(email__icontains="acme").values("pk")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_indexonlyscan = off")
    condition = re.compile(r'UPPER\([^ ]+\."email"::text\) LIKE UPPER\(%acme%\)')
    assert condition.search(str(emails.query))
    assert condition.search(str(results.query))  # the search asks the same of its members
    assert "user_email_trgm" in emails.explain()
