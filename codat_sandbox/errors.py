"""Codat's error body (`ErrorMessage`) and the exception the API views raise to send one."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import JsonResponse

# Codat names the service that refused the request; these are the ones its docs show for the
# endpoints the sandbox serves (docs/codat.md §7).
PUBLIC_API = "PublicApi"
CLIENTS_API = "ClientsApi"
PULL_API = "PullApi"


def error_body(
    status_code: int,
    error: str,
    *,
    service: str = PUBLIC_API,
    validation_errors: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "statusCode": status_code,
        "service": service,
        "error": error,
        # Codat's correlation ids are 32 hex characters; clients log and quote them.
        "correlationId": uuid.uuid4().hex,
        # A string, not a boolean, in every Codat example.
        "canBeRetried": "Unknown",
        "detailedErrorCode": 0,
    }
    # `validation` is only sent when there is something in it: the spec types it as an object,
    # and an explicit null would not validate under OpenAPI 3.1.
    if validation_errors:
        body["validation"] = {"errors": validation_errors, "warnings": []}
    return body


class SandboxRuleError(Exception):
    """A request Codat would refuse for a business rule (not a malformed request).

    Services raise it; the API answers with Codat's error body (400 unless told otherwise).
    """

    def __init__(self, message: str, *, status_code: int = 400, service: str = PUBLIC_API) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.service = service


class CodatApiError(Exception):
    """Raised inside an API view; the endpoint wrapper turns it into Codat's error response."""

    def __init__(
        self,
        status_code: int,
        error: str,
        *,
        service: str = PUBLIC_API,
        validation_errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status_code = status_code
        self.error = error
        self.service = service
        self.validation_errors = validation_errors
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        response = JsonResponse(
            error_body(
                self.status_code,
                self.error,
                service=self.service,
                validation_errors=self.validation_errors,
            ),
            status=self.status_code,
        )
        for name, value in self.headers.items():
            response[name] = value
        return response


def validation_item(item_id: str, message: str, validator: str) -> dict[str, str]:
    return {"itemId": item_id, "message": message, "validatorName": validator}


def company_not_found(company_id: str) -> CodatApiError:
    return CodatApiError(404, f"No company was found with ID {company_id}", service=CLIENTS_API)


def connection_not_found(connection_id: str) -> CodatApiError:
    return CodatApiError(404, f"Data connection {connection_id} not found")


def integration_not_found(platform_key: str) -> CodatApiError:
    return CodatApiError(404, f"No integration was found with key {platform_key}")


def malformed_query(detail: str = "Malformed query.") -> CodatApiError:
    return CodatApiError(400, f"Error parsing query - {detail}", service=CLIENTS_API)


def dataset_not_found(dataset_id: str) -> CodatApiError:
    return CodatApiError(404, f"No dataset was found with ID {dataset_id}", service=PULL_API)
