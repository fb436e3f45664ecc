"""Request-body checks for the sandbox API, with Codat's rules and 400 error bodies."""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import HttpRequest

from .errors import CodatApiError, validation_item

# Codat's name pattern is `^[A-Za-z0-9\s\-',&@.,?!\s]+$`; characters outside it are removed, not
# refused: "Company (Codat[1])" is stored as "Company Codat1".
_FORBIDDEN_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9\s\-',&@.?!]")
_NAME_MAX_LENGTH = 255  # the sandbox's column size; Codat documents no limit
_TAGS_MAX_COUNT = 10
_TAG_KEY_MAX_LENGTH = 27
_TAG_VALUE_MAX_LENGTH = 100
_PLATFORM_KEY = re.compile(r"^[a-z]{4}$")


def read_json_object(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CodatApiError(400, "Error processing request - the body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise CodatApiError(400, "Error processing request - the body must be a JSON object.")
    return data


def _invalid(item: str, message: str, validator: str) -> CodatApiError:
    return CodatApiError(
        400, message, validation_errors=[validation_item(item, message, validator)]
    )


def clean_company_name(value: Any, *, validator: str) -> str:
    if value is None:
        raise _invalid("name", "Company name is required.", validator)
    if not isinstance(value, str):
        raise _invalid("name", "Company name must be a string.", validator)
    cleaned = _FORBIDDEN_NAME_CHARACTERS.sub("", value).strip()
    if not cleaned:
        raise _invalid(
            "name",
            "Company name must contain at least one letter, digit or allowed punctuation.",
            validator,
        )
    if len(cleaned) > _NAME_MAX_LENGTH:
        raise _invalid(
            "name", f"Company name must be {_NAME_MAX_LENGTH} characters or fewer.", validator
        )
    return cleaned


def clean_description(value: Any, *, validator: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid("description", "Description must be a string.", validator)
    return value


def clean_tags(value: Any, *, validator: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid("tags", "Tags must be an object of string keys and values.", validator)
    if len(value) > _TAGS_MAX_COUNT:
        raise _invalid("tags", f"A company can have at most {_TAGS_MAX_COUNT} tags.", validator)
    for key, tag_value in value.items():
        if not 1 <= len(key) <= _TAG_KEY_MAX_LENGTH:
            raise _invalid(
                "tags",
                f"Tag keys must be 1 to {_TAG_KEY_MAX_LENGTH} characters long; "
                f"{key!r} is {len(key)}.",
                validator,
            )
        if not isinstance(tag_value, str):
            raise _invalid("tags", f"The value of tag {key!r} must be a string.", validator)
        if len(tag_value) > _TAG_VALUE_MAX_LENGTH:
            raise _invalid(
                "tags",
                f"The value of tag {key!r} must be {_TAG_VALUE_MAX_LENGTH} characters or fewer.",
                validator,
            )
    return dict(value)


def clean_platform_key(value: Any) -> str:
    if value is None:
        raise _invalid("platformKey", "platformKey is required.", "CreateConnection")
    if not isinstance(value, str) or not _PLATFORM_KEY.match(value):
        raise _invalid(
            "platformKey",
            "platformKey must be a four-letter lower-case platform key, such as gbol.",
            "CreateConnection",
        )
    return value
