"""The staff admin for companies and memberships stays fast as the customer list grows."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from companies.models import Company, Membership
from tests.personas import make_member

COMPANY_CHANGELIST = "/admin/companies/company/"
MEMBERSHIP_CHANGELIST = "/admin/companies/membership/"


def add_companies(count: int, *, start: int) -> None:
    for number in range(start, start + count):
        company = Company.objects.create(name=f"Business {number:02d}")
        make_member(f"owner{number}@business.example", company=company)
        make_member(
            f"staffer{number}@business.example", company=company, role=Membership.Role.MEMBER
        )


def queries_to_load(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("url", [COMPANY_CHANGELIST, MEMBERSHIP_CHANGELIST])
def test_changelist_query_count_is_the_same_for_1_and_20_companies(staff_client, url):
    add_companies(1, start=1)
    queries_to_load(staff_client, url)  # warm up: session and content types
    with_one = queries_to_load(staff_client, url)

    add_companies(19, start=2)
    with_twenty = queries_to_load(staff_client, url)

    assert with_twenty == with_one


def test_company_changelist_shows_codat_id_and_member_count(staff_client, owner, colleague):
    acme = owner.memberships.get().company
    Company.objects.filter(pk=acme.pk).update(codat_company_id=uuid.UUID(int=7))

    response = staff_client.get(COMPANY_CHANGELIST)

    assert "Acme Ltd" in response.text
    assert "00000000-0000-0000-0000-000000000007" in response.text
    assert response.context["cl"].result_list.get(pk=acme.pk)._member_count == 2


def test_staff_find_a_company_by_a_members_email(staff_client, owner, outsider):
    response = staff_client.get(COMPANY_CHANGELIST, {"q": "outsider@other"})

    names = [company.name for company in response.context["cl"].result_list]
    assert names == ["Other Co"]


def test_staff_find_a_company_by_its_codat_id(staff_client, acme, other_co):
    codat_id = uuid.uuid4()
    Company.objects.filter(pk=other_co.pk).update(codat_company_id=codat_id)

    response = staff_client.get(COMPANY_CHANGELIST, {"q": str(codat_id)})

    assert [company.name for company in response.context["cl"].result_list] == ["Other Co"]


def test_a_company_page_lists_its_members_inline(staff_client, owner, colleague):
    acme = owner.memberships.get().company

    response = staff_client.get(f"/admin/companies/company/{acme.pk}/change/")

    assert response.status_code == 200
    assert "Memberships" in response.text
    assert f'value="{owner.pk}"' in response.text
    assert f'value="{colleague.pk}"' in response.text


def test_each_input_of_the_membership_inline_is_named_for_a_screen_reader(
    staff_client, owner, colleague
):
    # The inline's column headings are not tied to its inputs; each input carries its name.
    acme = owner.memberships.get().company

    page = staff_client.get(f"/admin/companies/company/{acme.pk}/change/").text

    for row in (1, 2):
        for field in ("User", "Role", "Delete"):
            assert f'aria-label="{field}, row {row}"' in page, (field, row)
    assert 'aria-label="Role, new row"' in page  # the blank row "Add another" copies


def test_membership_changelist_shows_email_company_and_role_and_filters_by_role(
    staff_client, owner, colleague
):
    response = staff_client.get(MEMBERSHIP_CHANGELIST, {"role__exact": "member"})

    assert response.status_code == 200
    assert "colleague@acme.example" in response.text
    assert "owner@acme.example" not in response.text


def test_each_rows_checkbox_is_the_one_django_renders(staff_client, db):
    from django.contrib import admin

    from companies.admin import CompanyAdmin

    company = Company.objects.create(name='Fish & "Chips" <Ltd>')
    model_admin = CompanyAdmin(Company, admin.site)

    assert model_admin.action_checkbox(company) == admin.ModelAdmin.action_checkbox(
        model_admin, company
    )
