"""Request-body checks for the sandbox API, with Codat's rules and 400 error bodies."""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import HttpRequest
from django.utils.dateparse import parse_date, parse_datetime

from .errors import CodatApiError, validation_item
from .integrations import ALL_DATA_TYPES
from .syncs import SyncSettingInput

# Codat's name pattern is `^[A-Za-z0-9\s\-',&@.,?!\s]+$`; characters outside it are removed, not
# refused: "Company (Codat[1])" is stored as "Company Codat1".
_FORBIDDEN_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9\s\-',&@.?!]")
_NAME_MAX_LENGTH = 255  # the sandbox's column size; Codat documents no limit
_TAGS_MAX_COUNT = 10
_TAG_KEY_MAX_LENGTH = 27
_TAG_VALUE_MAX_LENGTH = 100
_PLATFORM_KEY = re.compile(r"^[a-z]{4}$")


def _refuse_constant(name: str) -> Any:
    # Python's parser accepts NaN and Infinity; JSON (and Codat) do not.
    raise ValueError(f"{name} is not JSON")


def read_json_object(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object, or Codat's 400 for anything hostile: every way the parser
    can fail must end as a client error, never the 500 the API answers for its own faults."""
    try:
        data = json.loads(request.body or b"", parse_constant=_refuse_constant)
    except RecursionError:  # `[[[[…` nested deeper than the interpreter's stack allows
        raise CodatApiError(
            400, "Error processing request - the body is nested too deeply."
        ) from None
    # JSONDecodeError and UnicodeDecodeError are ValueErrors, and so is an integer of more
    # digits than Python will convert (4300).
    except ValueError:
        raise CodatApiError(400, "Error processing request - the body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise CodatApiError(400, "Error processing request - the body must be a JSON object.")
    if problem := _unstorable_text(data):
        raise CodatApiError(400, f"Error processing request - the body contains {problem}.")
    return data


def _unstorable_text(data: Any) -> str | None:
    """What in the parsed body no database column can hold: JSON's `\\u` escapes can spell a
    NUL (PostgreSQL refuses it in text and jsonb) or a lone surrogate (not encodable as UTF-8).

    Walked with a list, not recursion: the parser allows nesting nearly as deep as the stack.
    """
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return "a NUL character"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "an unpaired surrogate"
    return None


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


# --- sync settings and refreshes -----------------------------------------------------------

_SYNC_SETTINGS_VALIDATOR = "SyncSettings"


def _sync_settings_invalid(item: str, message: str) -> CodatApiError:
    # Codat prefixes sync-settings refusals with the exception name (docs/codat.md §6.2: the 402
    # "SyncSettingsValidationException: Sync schedule not allowed").
    return CodatApiError(
        400,
        f"SyncSettingsValidationException: {message}",
        validation_errors=[validation_item(item, message, _SYNC_SETTINGS_VALIDATOR)],
    )


def clean_data_type(value: Any) -> str:
    """A data type key from a path or body; anything else is a 400, as Codat's enum binding."""
    if not isinstance(value, str) or value not in ALL_DATA_TYPES:
        shown = value if isinstance(value, str) else json.dumps(value)
        raise CodatApiError(
            400,
            f"Error processing request - {shown!r} is not a valid data type. Valid data types "
            "are listed at https://docs.codat.io/core-concepts/data-type-settings.",
        )
    return value


def _is_int(value: Any) -> bool:
    # JSON true/false arrive as bool, which Python counts as int; Codat's integers are not.
    return isinstance(value, int) and not isinstance(value, bool)


# The columns are PostgreSQL integers; a larger number would fail the save, not the request.
_INT_MAX = 2**31 - 1


def _non_negative_int(entry: dict[str, Any], key: str, where: str) -> int:
    value = _optional_non_negative_int(entry, key, where)
    if value is None:
        raise _sync_settings_invalid(where, f"{where}: {key} is required.")
    return value


def _optional_non_negative_int(entry: dict[str, Any], key: str, where: str) -> int | None:
    value = entry.get(key)
    if value is None:
        return None
    if not _is_int(value) or not 0 <= value <= _INT_MAX:
        raise _sync_settings_invalid(
            where, f"{where}: {key} must be a whole number from 0 to {_INT_MAX}."
        )
    return value


def _is_date_time(value: Any) -> bool:
    """Codat's `DateTime`: ISO 8601 date-time (with or without a zone) or a plain date."""
    if not isinstance(value, str):
        return False
    try:
        return parse_datetime(value) is not None or parse_date(value) is not None
    except ValueError:  # well-formed but impossible, such as month 13
        return False


def _sync_setting(entry: Any, index: int) -> SyncSettingInput:
    where = f"settings[{index}]"
    if not isinstance(entry, dict):
        raise _sync_settings_invalid(where, f"{where} must be an object.")
    data_type = entry.get("dataType")
    if data_type is None:
        raise _sync_settings_invalid(where, f"{where}: dataType is required.")
    if not isinstance(data_type, str) or data_type not in ALL_DATA_TYPES:
        raise _sync_settings_invalid(where, f"{where}: {data_type!r} is not a valid data type.")
    fetch_on_first_link = entry.get("fetchOnFirstLink")
    if not isinstance(fetch_on_first_link, bool):
        raise _sync_settings_invalid(
            where, f"{where}: fetchOnFirstLink is required and must be true or false."
        )
    sync_from_utc = entry.get("syncFromUtc")
    if sync_from_utc is not None and not _is_date_time(sync_from_utc):
        raise _sync_settings_invalid(
            where,
            f"{where}: syncFromUtc must be an ISO 8601 date-time such as 2024-01-01T00:00:00Z.",
        )
    is_locked = entry.get("isLocked")
    if is_locked is not None and not isinstance(is_locked, bool):
        raise _sync_settings_invalid(where, f"{where}: isLocked must be true or false.")
    return SyncSettingInput(
        data_type=data_type,
        fetch_on_first_link=fetch_on_first_link,
        sync_schedule=_non_negative_int(entry, "syncSchedule", where),
        sync_order=_non_negative_int(entry, "syncOrder", where),
        sync_from_utc=sync_from_utc or "",
        sync_from_window=_optional_non_negative_int(entry, "syncFromWindow", where),
        months_to_sync=_optional_non_negative_int(entry, "monthsToSync", where),
        is_locked=is_locked,
    )


def clean_sync_settings_body(
    body: dict[str, Any], *, company_id: str
) -> tuple[list[SyncSettingInput], bool]:
    """The spec's `set-company-syncSettings` body: `companyId`, `settings`, `overridesDefaults`,
    all required; `companyId` must be the company in the path; each type at most once."""
    return _clean_settings_body(body, owner_key="companyId", owner_id=company_id)


def clean_client_sync_settings_body(
    body: dict[str, Any], *, client_id: str
) -> tuple[list[SyncSettingInput], bool]:
    """The spec's `update-profile-syncSettings` body: `clientId` (this client's), `settings`,
    `overridesDefaults`, all required; each type at most once."""
    return _clean_settings_body(body, owner_key="clientId", owner_id=client_id)


def _clean_settings_body(
    body: dict[str, Any], *, owner_key: str, owner_id: str
) -> tuple[list[SyncSettingInput], bool]:
    missing = [key for key in (owner_key, "settings", "overridesDefaults") if key not in body]
    if missing:
        raise _sync_settings_invalid(missing[0], f"{', '.join(missing)} required.")
    if str(body[owner_key]) != owner_id:
        what = "company in the path" if owner_key == "companyId" else "your client's id"
        raise _sync_settings_invalid(
            owner_key, f"{owner_key} in the body does not match the {what}."
        )
    if not isinstance(body["overridesDefaults"], bool):
        raise _sync_settings_invalid(
            "overridesDefaults", "overridesDefaults must be true or false."
        )
    if not isinstance(body["settings"], list):
        raise _sync_settings_invalid("settings", "settings must be an array.")
    settings = [_sync_setting(entry, index) for index, entry in enumerate(body["settings"])]
    seen: set[str] = set()
    for setting in settings:
        if setting.data_type in seen:
            raise _sync_settings_invalid(
                "settings", f"{setting.data_type} appears more than once in settings."
            )
        seen.add(setting.data_type)
    return settings, body["overridesDefaults"]


# --- the profile and webhook consumers -----------------------------------------------------

_URL = re.compile(r"^https?://[^\s/?#]+", re.IGNORECASE)
_URL_MAX_LENGTH = 2000
_CONSUMER_TAGS_MAX_COUNT = 10
_CONSUMER_TAG_MAX_LENGTH = 128


def _url(
    value: Any, item: str, validator: str, *, required: bool, allow_empty: bool = False
) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _invalid(item, f"{item} is required and must be a string.", validator)
    if value == "" and allow_empty:
        return value
    if len(value) > _URL_MAX_LENGTH or not _URL.match(value):
        raise _invalid(item, f"{item} must be an absolute http(s) URL.", validator)
    return value


def _optional_text(body: dict[str, Any], key: str, validator: str) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > _URL_MAX_LENGTH:
        raise _invalid(key, f"{key} must be a string.", validator)
    return value


def clean_profile_body(body: dict[str, Any]) -> dict[str, Any]:
    """The spec's `Profile` for `PUT /profile`: `name` and `redirectUrl` required (an empty
    `redirectUrl` means none: Link then ends on Codat's own page). `apiKey`, deprecated and
    read-only here, is ignored."""
    validator = "UpdateProfile"
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise _invalid("name", "name is required: the name of your Codat instance.", validator)
    white_list = body.get("whiteListUrls")
    if white_list is None:
        white_list = []
    if not isinstance(white_list, list):
        raise _invalid("whiteListUrls", "whiteListUrls must be an array of URLs.", validator)
    confirm = body.get("confirmCompanyName")
    if confirm is not None and not isinstance(confirm, bool):
        raise _invalid("confirmCompanyName", "confirmCompanyName must be true or false.", validator)
    return {
        "name": name,
        "redirect_url": _url(
            body.get("redirectUrl"), "redirectUrl", validator, required=True, allow_empty=True
        ),
        "logo_url": _optional_text(body, "logoUrl", validator),
        "icon_url": _optional_text(body, "iconUrl", validator),
        "white_list_urls": [
            _url(url, "whiteListUrls", validator, required=True) for url in white_list
        ],
        "confirm_company_name": confirm,
    }


def clean_webhook_consumer_body(body: dict[str, Any]) -> dict[str, Any]:
    """The spec's `webhookConsumerPrototype`: `url`, `eventTypes`, `disabled`, `companyTags`
    (at most 10, each `tagKey:tagValue` of up to 128 characters)."""
    validator = "CreateWebhookConsumer"
    event_types = body.get("eventTypes")
    if event_types is None:
        event_types = []
    if not isinstance(event_types, list) or not all(
        isinstance(item, str) and 0 < len(item) <= 100 for item in event_types
    ):
        raise _invalid("eventTypes", "eventTypes must be an array of event type names.", validator)
    disabled = body.get("disabled")
    if disabled is not None and not isinstance(disabled, bool):
        raise _invalid("disabled", "disabled must be true or false.", validator)
    tags = body.get("companyTags")
    if tags is None:
        tags = []
    if (
        not isinstance(tags, list)
        or len(tags) > _CONSUMER_TAGS_MAX_COUNT
        or not all(
            isinstance(tag, str) and ":" in tag and len(tag) <= _CONSUMER_TAG_MAX_LENGTH
            for tag in tags
        )
    ):
        raise _invalid(
            "companyTags",
            f"companyTags must be at most {_CONSUMER_TAGS_MAX_COUNT} tags written "
            f"tagKey:tagValue, each up to {_CONSUMER_TAG_MAX_LENGTH} characters.",
            validator,
        )
    return {
        "url": _url(body.get("url"), "url", validator, required=True),
        "event_types": list(dict.fromkeys(event_types)),
        "disabled": bool(disabled),
        "company_tags": tags,
    }
