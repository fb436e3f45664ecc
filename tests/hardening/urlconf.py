"""The project's routes, read from the URLconf, for the matrices in tests/hardening: a route
added to the app is in every matrix without anyone listing it."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from django.urls import URLPattern, URLResolver, get_resolver


def walk(resolver: URLResolver | None = None, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    """Every route as (its patterns' text joined, e.g. "connections/<uuid:connection_id>/",
    the URLPattern that serves it)."""
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")
# Regex syntax that is not part of any path: anchors, an optional trailing slash, the sandbox
# API's optional tail.
_REGEX_SYNTAX = re.compile(r"\^|\$|/\?|\(\?:/\.\*\)\?")


def concrete_path(route: str, values: Mapping[str, str]) -> str:
    """The path for `route` with each parameter (path converter or named regex group) set to
    `values[name]`; a KeyError names a parameter the caller has no value for."""
    path = _REGEX_SYNTAX.sub("", route)
    path = _NAMED_GROUP.sub(lambda match: values[match.group(1)], path)
    path = _CONVERTER.sub(lambda match: values[match.group(1)], path)
    return "/" + path


def parameters(route: str) -> list[str]:
    """The names of the route's parameters, in order."""
    return [match.group(1) for match in _CONVERTER.finditer(route)] + [
        match.group(1) for match in _NAMED_GROUP.finditer(route)
    ]
