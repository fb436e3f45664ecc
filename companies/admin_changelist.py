"""Admin changelists that answer an impossible date drill-down like any other bad filter, and
that stay fast at a bank's scale (BankScaleAdminMixin).

Django's `date_hierarchy` builds a datetime from `?<field>__year=…&__month=…&__day=…` and only
catches ValueError there: a year too big for a C long raises OverflowError, and year 9999 fails
a step later, when the drill-down adds a year, outside that `try`. Both were 500s. Here they
become IncorrectLookupParameters, which the changelist answers with its "?e=1" redirect.
"""

from __future__ import annotations

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet, Subquery
from django.http import HttpRequest


class DateSafeChangeList(ChangeList):
    def get_filters(self, request: HttpRequest):
        try:
            return super().get_filters(request)
        except (OverflowError, ValueError) as error:
            raise IncorrectLookupParameters(error) from error


class DateSafeChangeListMixin:
    """For every ModelAdmin with a `date_hierarchy`."""

    def get_changelist(self, request: HttpRequest, **kwargs):
        return DateSafeChangeList


class BankScaleAdminMixin:
    """Changelists that stay fast with a bank's worth of rows (tens of thousands of companies,
    hundreds of thousands of events; `bench/admin_pages.py` measures them):

    - no second COUNT(*) of the whole table when a filter or search is on
      (`show_full_result_count`);
    - a search across a to-many relation (a company's members' emails) does not make Django
      wrap the whole changelist in SELECT DISTINCT over every column, then count and date-drill
      that: the matching rows are found by id in a subquery instead, and nothing is repeated.
    """

    show_full_result_count = False

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        results, may_have_duplicates = super().get_search_results(  # type: ignore[misc]
            request, queryset, search_term
        )
        if not may_have_duplicates:
            return results, False
        return queryset.filter(pk__in=Subquery(results.values("pk"))), False
