"""Paging, `query`, `orderBy` and the companies `tags` filter, as Codat's list endpoints do them.

The sandbox holds few rows, so filters run in Python over already-serialised results: the
semantics stay in one readable place instead of being split between SQL and JSON lookups.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from django.http import HttpRequest

from .errors import CodatApiError, malformed_query

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 5000
# Codat refuses queries of 2048 characters or more (docs: using-the-api/querying).
MAX_QUERY_LENGTH = 2047

Record = Mapping[str, Any]
# Filtering and ordering hand back the records they were given, of whatever type.
_R = TypeVar("_R", bound=Record)

# `property op value`; the property is a plain (possibly dotted) name, the operators are the
# string ones Codat supports: equals, not equals, contains.
_QUERY_CLAUSE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_.]*)\s*(!=|=|~)\s*(.*?)\s*$", re.DOTALL)
# Tag keys may hold almost anything (1–27 characters) but never an operator character.
_TAG_CLAUSE = re.compile(r"^\s*([^=!~]{1,27}?)\s*(!=|=|~)\s*(.*?)\s*$", re.DOTALL)


@dataclass(frozen=True)
class Paging:
    page: int
    page_size: int


@dataclass(frozen=True)
class Clause:
    field: str
    operator: str
    value: str


def parse_paging(request: HttpRequest) -> Paging:
    return Paging(
        page=_positive_int(request.GET.get("page"), "page", default=1, maximum=None),
        page_size=_positive_int(
            request.GET.get("pageSize"),
            "pageSize",
            default=DEFAULT_PAGE_SIZE,
            maximum=MAX_PAGE_SIZE,
        ),
    )


def _positive_int(raw: str | None, name: str, *, default: int, maximum: int | None) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise CodatApiError(
            400, f"Error processing request - {name} must be a whole number."
        ) from None
    if value < 1 or (maximum is not None and value > maximum):
        limit = f" and {maximum} or less" if maximum is not None else ""
        raise CodatApiError(400, f"Error processing request - {name} must be 1 or more{limit}.")
    return value


def paged_body(
    request: HttpRequest, *, self_href: str, results: Sequence[Record], paging: Paging
) -> dict[str, Any]:
    """Codat's paged envelope for `results` (already filtered and ordered, not yet sliced).

    `_links.self` is the resource path alone; `current`, `next` and `previous` repeat every
    query parameter the caller sent, with `page` and `pageSize` made explicit (docs: paging).
    Paths are relative to the API root, as Codat's are, so a client joins them to its base URL.
    """
    total = len(results)
    start = (paging.page - 1) * paging.page_size
    page_results = list(results[start : start + paging.page_size])

    def href(page: int) -> str:
        params = [("page", str(page)), ("pageSize", str(paging.page_size))]
        params += [
            (name, value)
            for name, values in request.GET.lists()
            if name not in ("page", "pageSize")
            for value in values
        ]
        return f"{self_href}?{urlencode(params, quote_via=quote)}"

    links: dict[str, dict[str, str]] = {
        "self": {"href": self_href},
        "current": {"href": href(paging.page)},
    }
    if paging.page * paging.page_size < total:
        links["next"] = {"href": href(paging.page + 1)}
    if paging.page > 1:
        links["previous"] = {"href": href(paging.page - 1)}
    return {
        "results": page_results,
        "pageNumber": paging.page,
        "pageSize": paging.page_size,
        "totalResults": total,
        "_links": links,
    }


# --- query ---------------------------------------------------------------------------------

FieldGetter = Callable[[Record], Any]


def parse_query(
    text: str, *, resource: str, fields: Mapping[str, FieldGetter]
) -> list[list[Clause]]:
    """Parse Codat's query language into OR-groups of AND-ed clauses.

    Supports `=`, `!=` and `~` joined by `&&` and `||` (`&&` binds tighter); braces and the
    numeric comparisons are not needed by any list the sandbox serves and are refused as
    malformed. Property names match case-insensitively; unknown ones are refused the way Codat
    words it ("Could not resolve property …").
    """
    if len(text) > MAX_QUERY_LENGTH:
        raise malformed_query("Query is too long.")
    if "{" in text or "}" in text:
        raise malformed_query()
    known = {name.lower(): name for name in fields}
    groups: list[list[Clause]] = []
    for group_text in text.split("||"):
        group: list[Clause] = []
        for clause_text in group_text.split("&&"):
            match = _QUERY_CLAUSE.match(clause_text)
            if match is None:
                raise malformed_query()
            name, operator, value = match.groups()
            canonical = known.get(name.lower())
            if canonical is None:
                raise malformed_query(f"Could not resolve property {name} on {resource}")
            group.append(Clause(canonical, operator, value))
        groups.append(group)
    return groups


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def apply_query(
    records: Sequence[_R], groups: list[list[Clause]], fields: Mapping[str, FieldGetter]
) -> list[_R]:
    """Keep the records matching any group; values compare case-insensitively."""

    def clause_holds(record: Record, clause: Clause) -> bool:
        actual = _as_text(fields[clause.field](record)).casefold()
        wanted = clause.value.casefold()
        if clause.operator == "=":
            return actual == wanted
        if clause.operator == "!=":
            return actual != wanted
        return wanted in actual

    return [
        record
        for record in records
        if any(all(clause_holds(record, clause) for clause in group) for group in groups)
    ]


def apply_order_by(
    records: Sequence[_R], order_by: str, *, resource: str, fields: Mapping[str, FieldGetter]
) -> list[_R]:
    """`orderBy=name` or `orderBy=-created`; one property, `-` for descending."""
    descending = order_by.startswith("-")
    name = order_by.lstrip("-").strip()
    canonical = {field.lower(): field for field in fields}.get(name.lower())
    if canonical is None:
        raise CodatApiError(
            400, f"Error parsing orderBy - Could not resolve property {name} on {resource}"
        )
    getter = fields[canonical]
    return sorted(
        records, key=lambda record: _as_text(getter(record)).casefold(), reverse=descending
    )


def filter_and_order(
    request: HttpRequest,
    records: Sequence[_R],
    *,
    resource: str,
    fields: Mapping[str, FieldGetter],
) -> list[_R]:
    result = list(records)
    query = request.GET.get("query", "")
    if query.strip():
        result = apply_query(result, parse_query(query, resource=resource, fields=fields), fields)
    order_by = request.GET.get("orderBy", "")
    if order_by.strip():
        result = apply_order_by(result, order_by, resource=resource, fields=fields)
    return result


# --- tags ----------------------------------------------------------------------------------


def parse_tags_filter(text: str) -> list[Clause]:
    """`region=uk && team~invoice`: clauses joined by `&&`, all of which must hold."""
    if len(text) > MAX_QUERY_LENGTH:
        raise malformed_query("Query is too long.")
    clauses = []
    for clause_text in text.split("&&"):
        match = _TAG_CLAUSE.match(clause_text)
        if match is None:
            raise malformed_query()
        key, operator, value = match.groups()
        clauses.append(Clause(key, operator, value))
    return clauses


def tags_match(tags: Mapping[str, str], clauses: list[Clause]) -> bool:
    """Whether a company's tags satisfy every clause.

    Tags are identifiers (our own customer ids go in them), so keys and values compare exactly.
    A company without the key is "not equal" to any value and "contains" nothing.
    """
    for clause in clauses:
        actual = tags.get(clause.field)
        if clause.operator == "=":
            holds = actual == clause.value
        elif clause.operator == "!=":
            holds = actual != clause.value
        else:
            holds = actual is not None and clause.value in actual
        if not holds:
            return False
    return True
