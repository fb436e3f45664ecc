"""Admin changelists that answer an impossible date drill-down like any other bad filter.

Django's `date_hierarchy` builds a datetime from `?<field>__year=…&__month=…&__day=…` and only
catches ValueError there: a year too big for a C long raises OverflowError, and year 9999 fails
a step later, when the drill-down adds a year, outside that `try`. Both were 500s. Here they
become IncorrectLookupParameters, which the changelist answers with its "?e=1" redirect.
"""

from __future__ import annotations

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
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
