"""Named Codat errors. Views turn each into a clear message; logs carry the correlation id.

`CodatError` and its kinds are failed API calls; `UnprocessableWebhook` is a webhook we cannot
use, which is no failure to talk to Codat and so not a CodatError.
"""

from __future__ import annotations


class CodatError(Exception):
    """Any failure talking to Codat.

    `status_code` is the HTTP status (None when no answer came back), `correlation_id` is
    Codat's own id for the request (quote it to Codat support), `message` is Codat's `error`.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        correlation_id: str | None = None,
        may_have_been_applied: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.correlation_id = correlation_id
        # True when the request may have reached Codat and changed something there (a read
        # timeout after sending a POST, a 5xx on a create). Callers reconcile before retrying.
        self.may_have_been_applied = may_have_been_applied

    def __str__(self) -> str:
        parts = [self.message]
        if self.status_code is not None:
            parts.append(f"status={self.status_code}")
        if self.correlation_id:
            parts.append(f"correlationId={self.correlation_id}")
        return " ".join(parts)


class CodatUnavailable(CodatError):
    """Codat did not answer usefully: refused, timed out, 5xx, or a body that is not JSON."""


class CodatRateLimited(CodatError):
    """429 whose Retry-After did not fit the request's budget."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class CodatNotFound(CodatError):
    """404: the company, connection or integration does not exist at Codat (any more)."""


class CodatRejected(CodatError):
    """Codat refused the request: 400 validation, 401/403 key problems, 402 plan limits, 409."""

    def __init__(self, message: str, *, validation: list[str] | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.validation = validation or []


class DatasetAlreadyInProgress(CodatRejected):
    """Codat refused to queue a data type whose previous sync is still running.

    Nothing is wrong: the data is already on its way. Codat's text names the running dataset
    (`DatasetAlreadyInProgressException: Cannot queue … as previous sync <id> is still in
    progress`); its HTTP status is not documented, so the text is what identifies it.
    """


class ImageRefused(CodatError):
    """An image URL Codat gave us was not fetched, or its answer not kept: a host we do not
    download from, a type that is not PNG, JPEG or SVG, or more bytes than the limit."""


class DataTypeNotConsented(CodatError):
    """The consent gate refused a refresh or read of a data type no active consent covers.

    Raised before any request is sent, so nothing reached Codat. `data_type` is the first type
    refused and `company_id` the Codat company asked about.
    """

    def __init__(
        self,
        message: str,
        *,
        data_type: str | None = None,
        company_id: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(message, **kwargs)
        self.data_type = data_type
        self.company_id = company_id


class UnprocessableWebhook(Exception):
    """An authentic webhook that cannot be applied: not JSON, a legacy or unknown event type, a
    missing or malformed field (B3). `reason` says which, for the operator."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
