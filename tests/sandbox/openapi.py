"""Check sandbox responses against Codat's own OpenAPI document (Codat-Platform.json).

Each response is matched to the spec's operation by method and templated path, then its body is
validated with OpenAPI 3.1 semantics against that operation's schema for the status code, with
every `$ref` resolved through a `referencing` registry holding the whole document. Codat's
documents are copied into the repository, in tests/contracts/codat/ (SOURCE.md there says from
where), so that the tests never read anything outside it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

API_PREFIX = "/sandbox/codat"
# Codat's published OpenAPI documents, copied unchanged (see SOURCE.md in that folder).
CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts" / "codat"
SPEC_URI = "urn:codat:platform-openapi"
# Every key Codat's error body carries in its examples; the schema requires none of them, so the
# contract check insists on them separately.
ERROR_KEYS = {
    "statusCode",
    "service",
    "error",
    "correlationId",
    "canBeRetried",
    "detailedErrorCode",
}


def _codat_document(path: Path, document: str, checks: str) -> dict[str, Any]:
    if not path.exists():
        pytest.fail(
            f"Codat's {document} is missing: expected it at {path}. The sandbox's {checks} are "
            f"checked against it; restore tests/contracts/codat/{path.name} (see SOURCE.md there)."
        )
    return json.loads(path.read_text(encoding="utf-8"))


def spec_path() -> Path:
    return CONTRACTS_DIR / "Codat-Platform.json"


@cache
def load_spec() -> dict[str, Any]:
    return _codat_document(spec_path(), "OpenAPI document", "responses")


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _resolve_pointer(document: dict[str, Any], pointer: str) -> Any:
    node: Any = document
    for part in pointer.lstrip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


@dataclass
class Exercised:
    method: str
    template: str
    status: int


@dataclass
class OpenApiContract:
    spec: dict[str, Any]
    exercised: list[Exercised] = field(default_factory=list)

    def __post_init__(self) -> None:
        resource = Resource.from_contents(self.spec, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(SPEC_URI, resource)
        # Literal segments beat parameters, so `/integrations/{platformKey}/branding` is never
        # mistaken for something shorter; more literal characters sort first.
        self._templates = sorted(
            self.spec["paths"],
            key=lambda template: -len(re.sub(r"\{[^}]+\}", "", template)),
        )

    def match(self, method: str, path: str) -> tuple[str | None, dict[str, Any] | None]:
        """The spec's template for `path` and its operation for `method` (None when absent)."""
        if not path.startswith(API_PREFIX):
            pytest.fail(f"{path} is not under the sandbox API prefix {API_PREFIX}")
        api_path = path[len(API_PREFIX) :].rstrip("/") or "/"
        for template in self._templates:
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, api_path):
                return template, self.spec["paths"][template].get(method.lower())
        return None, None

    def response_pointer(self, method: str, path: str, status: int) -> tuple[str, str | None]:
        """The spec template and the JSON pointer of the body schema (None: no body)."""
        template, operation = self.match(method, path)
        responses = operation["responses"] if operation else {}
        key = str(status)
        if key in responses:
            pointer = f"/paths/{_escape(template)}/{method.lower()}/responses/{key}"
            response = responses[key]
            if "$ref" in response:
                pointer = response["$ref"].removeprefix("#")
                response = _resolve_pointer(self.spec, pointer)
            content = response.get("content")
            if not content:
                return template, None
            return template, f"{pointer}/content/{_escape('application/json')}/schema"
        if status >= 400:
            # Codat answers undocumented errors (a 400 on create-connection, a 405, an unknown
            # path) with the same ErrorMessage body as the documented ones.
            return template or "(no such path)", "/components/schemas/ErrorMessage"
        if operation is None:
            pytest.fail(
                f"Codat's spec has no {method} {template or path}, yet it answered {status}"
            )
        pytest.fail(f"Codat's spec documents no {status} for {method} {template}")

    def check(self, method: str, path: str, status: int, body: bytes, content_type: str) -> None:
        template, pointer = self.response_pointer(method, path, status)
        self.exercised.append(Exercised(method.upper(), template, status))
        where = f"{method.upper()} {path} -> {status}"
        if pointer is None:
            assert body == b"", (
                f"{where}: Codat sends no body here, the sandbox sent {body[:200]!r}"
            )
            return
        assert content_type.startswith("application/json"), f"{where}: content type {content_type}"
        data = json.loads(body)
        validator = OAS31Validator(
            {"$ref": f"{SPEC_URI}#{pointer}"},
            registry=self.registry,
            format_checker=OAS31Validator.FORMAT_CHECKER,
        )
        errors = sorted(validator.iter_errors(data), key=lambda error: list(error.absolute_path))
        if errors:
            details = "\n".join(
                f"  - at /{'/'.join(map(str, error.absolute_path))}: {error.message}"
                for error in errors[:20]
            )
            pytest.fail(f"{where}: body does not match Codat's schema {pointer}:\n{details}")
        if status >= 400:
            missing = ERROR_KEYS - set(data)
            assert not missing, f"{where}: error body lacks {sorted(missing)}"
            assert data["statusCode"] == status, f"{where}: statusCode says {data['statusCode']}"


# --- webhooks (Webhooks.json) ------------------------------------------------------------------

WEBHOOKS_URI = "urn:codat:webhooks-openapi"


def webhooks_spec_path() -> Path:
    return CONTRACTS_DIR / "Webhooks.json"


@cache
def load_webhooks_spec() -> dict[str, Any]:
    return _codat_document(webhooks_spec_path(), "webhook document", "webhook payloads")


@cache
def _webhooks_registry() -> Registry:
    resource = Resource.from_contents(load_webhooks_spec(), default_specification=DRAFT202012)
    return Registry().with_resource(WEBHOOKS_URI, resource)


def check_webhook_body(body: bytes) -> dict[str, Any]:
    """Validate one webhook body against the schema Webhooks.json gives its `eventType`;
    returns the parsed body."""
    data = json.loads(body)
    event_type = data.get("eventType")
    webhook = load_webhooks_spec()["webhooks"].get(event_type)
    if webhook is None:
        pytest.fail(f"Codat documents no webhook {event_type!r}")
    pointer = (
        f"/webhooks/{_escape(event_type)}/post/requestBody/content/"
        f"{_escape('application/json')}/schema"
    )
    validator = OAS31Validator(
        {"$ref": f"{WEBHOOKS_URI}#{pointer}"},
        registry=_webhooks_registry(),
        format_checker=OAS31Validator.FORMAT_CHECKER,
    )
    errors = sorted(validator.iter_errors(data), key=lambda error: list(error.absolute_path))
    if errors:
        details = "\n".join(
            f"  - at /{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in errors[:20]
        )
        pytest.fail(f"{event_type} webhook does not match Codat's schema:\n{details}")
    return data
