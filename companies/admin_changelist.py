"""Admin changelists that answer an impossible date drill-down like any other bad filter, and
that stay fast at a bank's scale (BankScaleAdminMixin).

Django's `date_hierarchy` builds a datetime from `?<field>__year=…&__month=…&__day=…` and only
catches ValueError there: a year too big for a C long raises OverflowError, and year 9999 fails
a step later, when the drill-down adds a year, outside that `try`. Both were 500s. Here they
become IncorrectLookupParameters, which the changelist answers with its "?e=1" redirect.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, ClassVar

from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import smart_split, unescape_string_literal
from django.utils.translation import gettext as _


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


class EstimatedCountPaginator(Paginator):
    """Exact counts up to `exact_up_to` rows; beyond that, on PostgreSQL, the planner's
    estimate (`estimated` is then True, and the admin's pagination says "about").

    A COUNT(*) reads every row it counts: about 25 ms for 300,000 consent events, most of the
    list's cost, and all to print a number nobody needs to the unit. PostgreSQL's planner
    already estimates it, from the table's statistics, in a fraction of a millisecond. That
    estimate can be far off for a filtered list, so a filtered list the planner thinks is large
    is first counted up to the limit (a bounded cost): under it, that count is exact and shown.
    Other databases always count."""

    exact_up_to = 50_000

    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        estimate = planner_estimate(queryset)
        if estimate is None or estimate <= self.exact_up_to:
            return super().count
        assert isinstance(queryset, QuerySet)  # planner_estimate estimates nothing else
        if queryset.query.where:
            counted = queryset.order_by()[: self.exact_up_to + 1].count()
            if counted <= self.exact_up_to:
                return counted
        self.estimated = True
        return max(estimate, self.exact_up_to + 1)


def planner_estimate(queryset: object) -> int | None:
    """How many rows PostgreSQL's planner expects `queryset` to return (EXPLAIN, nothing run);
    None on another database, or for anything but a whole, unsliced queryset."""
    if not isinstance(queryset, QuerySet):
        return None
    database = connections[queryset.db]
    if database.vendor != "postgresql" or queryset.query.is_sliced:
        return None
    compiler = queryset.order_by().values("pk").query.get_compiler(using=queryset.db)
    try:
        sql, params = compiler.as_sql()
    except (EmptyResultSet, FullResultSet):
        return None  # a filter Django answers without SQL (e.g. no such id can exist)
    with database.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return round(plan[0]["Plan"]["Plan Rows"])


def _search_lookups(search_fields) -> dict[str, list[str]]:
    """The lookups Django's admin searches `search_fields` with, grouped by the relation each
    reads (the model's own columns under ""): one subquery a relation."""
    groups: dict[str, list[str]] = {}
    for field in map(str, search_fields):
        lookup = "icontains"
        for prefix, prefixed in (("^", "istartswith"), ("=", "iexact"), ("@", "search")):
            if field.startswith(prefix):
                field, lookup = field.removeprefix(prefix), prefixed
        relation = field.rpartition(LOOKUP_SEP)[0]
        groups.setdefault(relation, []).append(f"{field}{LOOKUP_SEP}{lookup}")
    return groups


def search_matches(every_row: QuerySet, groups: list[list[str]], words: list[str], *, limit: int):
    """The primary keys of the rows where each word matches one of the lookups, as Django's
    admin search has it, written for PostgreSQL's indexes: a UNION ALL of one subquery for each
    way of giving each word to one table (`groups`: the lookups of one table each), each
    subquery with every condition on its own tables, so it starts from whichever of its
    indexes finds the fewest rows. "Trading 00042" over the company's name and the members'
    emails is four subqueries (name and name, name and email, email and name, email and
    email): the first starts from the one company whose name has 00042, never from the
    10,000 with "Trading". Past `limit` ways (many words over many tables) it is one UNION per
    word instead, each matching by itself, which costs a broad word a read of every row."""

    def matching(word: str, lookups: list[str]) -> Q:
        return Q(*((lookup, word) for lookup in lookups), _connector=Q.OR)

    if len(groups) ** len(words) <= limit:
        subqueries = [
            every_row.filter(
                Q(*(matching(word, lookups) for word, lookups in zip(words, pick, strict=True)))
            )
            for pick in itertools.product(groups, repeat=len(words))
        ]
        first, *others = (subquery.order_by().values("pk") for subquery in subqueries)
        return first.union(*others, all=True) if others else first
    narrowed = every_row
    for word in words:
        first, *others = (
            every_row.filter(matching(word, lookups)).order_by().values("pk") for lookups in groups
        )
        narrowed = narrowed.filter(pk__in=first.union(*others, all=True) if others else first)
    return narrowed.order_by().values("pk")


class BankScaleAdminMixin:
    """Changelists that stay fast with a bank's worth of rows (tens of thousands of companies,
    hundreds of thousands of events; `bench/admin_pages.py` measures them):

    - no second COUNT(*) of the whole table when a filter or search is on
      (`show_full_result_count`), and on PostgreSQL no full count of a list of more than
      50,000 rows: "about" the planner's estimate instead (EstimatedCountPaginator);
    - a search is one subquery per table it reads (the model's own columns, the company's
      name and Codat id, the members' emails, …), joined by UNION ALL, rather than Django's one
      WHERE with an OR across every field of every joined table. Each subquery can then start
      from its table's indexes (on PostgreSQL the trigram indexes on names, emails and Codat
      ids: the `*_search_trigram_indexes` migrations) and reach the rows by their foreign key;
      an OR across joined tables can use no index and reads every row of every table it joins.
      A search across a to-many relation (a company's members' emails) finds each row once,
      with no SELECT DISTINCT. As in Django, each word of the search must match one of the
      fields (`"quoted words"` are one word), and the `^` (starts with), `=` (exactly) and `@`
      prefixes of `search_fields` keep their meaning.
    """

    show_full_result_count = False
    paginator: ClassVar[type] = EstimatedCountPaginator

    # A search of several words reads at most this many subqueries (see search_matches).
    search_branches = 32

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        search_fields = self.get_search_fields(request)  # type: ignore[attr-defined]
        words = [
            unescape_string_literal(word)
            if word.startswith(('"', "'")) and word[0] == word[-1]
            else word
            for word in smart_split(search_term)
        ]
        if not search_fields or not words:
            return queryset, False
        matches = search_matches(
            queryset.model._default_manager.all(),
            list(_search_lookups(search_fields).values()),
            words,
            limit=self.search_branches,
        )
        return queryset.filter(pk__in=matches), False

    def action_checkbox(self, obj: Any) -> SafeString:
        """Django's row checkbox, the same HTML, written out: Django renders a CheckboxInput
        through the form templates for each row, about a third of a list's rendering time."""
        label = format_html(_("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            label,
        )

    def changelist_view(self, request: HttpRequest, extra_context=None):
        response = super().changelist_view(request, extra_context)  # type: ignore[misc]
        context = getattr(response, "context_data", None)
        if isinstance(response, TemplateResponse) and context and "cl" in context:
            cl = context["cl"]
            if getattr(cl.paginator, "estimated", False):
                # Django's "Select all 300,123" would state the estimate as a count.
                context["selection_note_all"] = f"All (about {cl.result_count}) selected"
        return response
