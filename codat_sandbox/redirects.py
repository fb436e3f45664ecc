"""Filling Codat's redirect URL template after a hosted Link session (docs/codat.md §4)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

# Every name Codat reserves. A custom Link URL parameter with one of these names must never
# supply its value: otherwise anyone could send a customer to `linkUrl?statusCode=200`.
RESERVED_PLACEHOLDERS = frozenset(
    {
        "clientId",
        "companyId",
        "connectionId",
        "integrationId",
        "sourceId",
        "platform",
        "platformName",
        "sourceType",
        "statusCode",
        "errorMessage",
        "statusText",
        "data.company.companyName",
    }
)

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def fill_redirect_template(
    template: str, *, reserved: Mapping[str, str], custom: Mapping[str, str]
) -> str:
    """Replace each `{name}` in `template`, URL-encoding the value.

    `reserved` holds the values Codat knows for this flow; a reserved name without a value here
    becomes empty. Any other name is a custom placeholder, filled from `custom` (the Link URL's
    query parameters) or with an empty string when absent, as Codat has no defaults. Names are
    case-sensitive: `{companyid}` is a custom placeholder, not `{companyId}`.
    """

    def value_for(match: re.Match[str]) -> str:
        name = match.group(1)
        source = reserved if name in RESERVED_PLACEHOLDERS else custom
        value = source.get(name, "")
        return quote(value, safe="")

    return _PLACEHOLDER.sub(value_for, template)
