"""Codat webhook intake: verify, store, acknowledge (docs/architecture.md §6; W1–W5, B1–B3).

Order matters. Everything cheap and unauthenticated is refused first (method, content type,
size, headers) without reading more than we must; the Standard Webhooks signature is then
checked on the raw bytes, before any parsing; only a verified message is stored, keyed by its
`webhook-id` so Codat's retries count once; processing is handed to a task after the row
commits, one task for however many events arrive before it runs. No Codat call is made here,
so Codat gets its 2xx well inside its 15 s budget. Deliveries reach this view straight from the
top of the middleware stack (consent_portal.middleware.WebhookFastPathMiddleware): they need
no session, user, CSRF token or tenant, and were the busiest requests paying for them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from connections.models import WebhookEvent
from connections.tasks import webhook_drain_request
from connections.webhook_processing import intake_columns

logger = logging.getLogger("connections.webhooks")
security_log = logging.getLogger("consent_portal.security")

# Codat's largest documented payloads are a few KiB; a quarter MiB leaves room for a
# read.completed listing every data type while keeping a flood cheap to refuse.
DEFAULT_MAX_BODY_BYTES = 256 * 1024
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
# Codat sends through Svix, which may name the same three headers `svix-*` (docs/codat.md §8.2).
SVIX_HEADERS = ("svix-id", "svix-timestamp", "svix-signature")
# The spec says integer seconds; the library would also take floats ("1614265330.9"), NaN or
# 1e30 and sign the floored value, so we insist on digits ourselves (W2).
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# Stored as the idempotency key: printable ASCII that fits the column. Codat's are `msg_…`.
_WEBHOOK_ID = re.compile(r"[\x21-\x7e]{1,255}")


class WebhookRefused(Exception):
    """The request is not a verified Codat webhook; nothing is stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def verify_signature(body: bytes, headers: dict[str, str], secrets: Sequence[str]) -> None:
    """Standard Webhooks verification of `body` against any of `secrets` (rotation, W3).

    Raises WebhookRefused: 401 when no secret's signature matches or the timestamp is outside
    the library's ±5 minutes, 400 when the headers or body are malformed, 503 when no secret is
    configured. Messages never include the secret, the signature or the body.
    """
    if not _TIMESTAMP.fullmatch(headers["webhook-timestamp"]):
        raise WebhookRefused(400, "timestamp is not integer seconds")
    verifiers = []
    for position, secret in enumerate(secrets, start=1):
        try:
            verifiers.append(Webhook(secret))
        except Exception as exc:
            # The system check refuses to start with such a secret; name it by position only.
            logger.error("Codat webhook secret #%d is unusable (%s)", position, type(exc).__name__)
    if not verifiers:
        raise WebhookRefused(503, "no usable CODAT_WEBHOOK_SECRET is configured")
    failure = "no matching signature"
    for verifier in verifiers:
        try:
            verifier.verify(body, headers, json_parse=False)
        except WebhookVerificationError as exc:
            failure = str(exc)  # the library's fixed wording, e.g. "Message timestamp too old"
            continue
        # standardwebhooks 1.1.0 raises ValueError on a malformed signature header ("v1,a,b",
        # bad base64) and UnicodeDecodeError on a non-UTF-8 body; anything else it raises on
        # hostile input is a refusal too, never a 500 (B1).
        except Exception as exc:
            raise WebhookRefused(400, f"malformed message ({type(exc).__name__})") from None
        return
    raise WebhookRefused(401, failure)


def _read_body(request: HttpRequest) -> bytes:
    content_type = request.content_type.lower() if request.content_type else ""
    if content_type != "application/json":
        raise WebhookRefused(415, "Content-Type is not application/json")
    limit = getattr(settings, "CODAT_WEBHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)
    try:
        declared = int(request.headers.get("content-length") or 0)
    except ValueError:
        declared = -1
    if declared < 0:
        raise WebhookRefused(400, "Content-Length is not a number")
    if declared > limit:
        raise WebhookRefused(413, f"body of {declared} bytes is over {limit}")
    try:
        body = request.body
    except RequestDataTooBig:
        raise WebhookRefused(413, "body is over DATA_UPLOAD_MAX_MEMORY_SIZE") from None
    if len(body) > limit:
        raise WebhookRefused(413, f"body of {len(body)} bytes is over {limit}")
    return body


def _signature_headers(request: HttpRequest) -> dict[str, str]:
    """The three signature headers under their Standard Webhooks names, from either naming.

    Both namings carry the same values and are verified the same way. A request may carry both
    (then they must be identical); any other mixture is ambiguous about what was signed, so it
    is refused rather than guessed at.
    """
    standard = {name: request.headers.get(name, "") for name in SIGNATURE_HEADERS}
    svix = {
        name: request.headers.get(alias, "")
        for name, alias in zip(SIGNATURE_HEADERS, SVIX_HEADERS, strict=True)
    }
    if any(svix.values()):
        if any(standard.values()) and standard != svix:
            raise WebhookRefused(400, "webhook-* and svix-* headers disagree")
        naming, headers = ("svix-*" if not any(standard.values()) else "both"), svix
    else:
        naming, headers = "webhook-*", standard
    logger.debug("Codat webhook signature headers named %s", naming)
    missing = [name for name, value in headers.items() if not value]
    if missing:
        raise WebhookRefused(400, f"missing {', '.join(missing)}")
    if not _WEBHOOK_ID.fullmatch(headers["webhook-id"]):
        raise WebhookRefused(400, "webhook-id is malformed")
    return headers


def _message_id_for_log(request: HttpRequest) -> str:
    return (request.headers.get("webhook-id") or request.headers.get("svix-id") or "")[:80]


def webhook_event_receive(*, webhook_id: str, body: bytes) -> bool:
    """Store a verified message once; True if it is new and processing was requested.

    The unique `webhook_id` decides between concurrent deliveries of one message: the later
    insert waits for the earlier one's commit, then stores nothing and is answered as a
    duplicate (W4). The row is one INSERT, so outside a transaction it commits on its own, with
    no BEGIN or COMMIT round trip. Only after the commit is a drain requested
    (`connections.tasks`), so a worker or the immediate backend only ever sees committed rows.
    If that request fails, the row stays `received` for the next drain or
    `codat_process_webhooks`.
    """
    columns = intake_columns(body)
    # Debug lines only: the row is the record of every delivery (the admin finds it by its
    # webhook-id), and at Codat's rates a line per delivery cost a measurable share of the
    # intake's time. Refusals, failures and what processing changes are still logged.
    if not WebhookEvent.objects.store_received(webhook_id=webhook_id, body=body, **columns):
        logger.debug("Codat webhook %s is a duplicate delivery; acknowledged", webhook_id)
        return False
    event_type = columns["event_type"] or "no event type"
    logger.debug("Codat webhook %s stored (%s)", webhook_id, event_type)
    transaction.on_commit(webhook_drain_request, robust=True)
    return True


@csrf_exempt  # authenticated by its signature; Codat carries no CSRF token (D4)
@require_POST
def codat_webhook(request: HttpRequest) -> HttpResponse:
    try:
        body = _read_body(request)
        headers = _signature_headers(request)
        verify_signature(body, headers, settings.CODAT_WEBHOOK_SECRETS)
    except WebhookRefused as refused:
        log = security_log.error if refused.status >= 500 else security_log.warning
        log(
            "Codat webhook refused with %s: %s (webhook-id=%r, remote=%s)",
            refused.status,
            refused.reason,
            _message_id_for_log(request),
            request.META.get("REMOTE_ADDR", ""),
        )
        return HttpResponse(status=refused.status)
    try:
        created = webhook_event_receive(webhook_id=headers["webhook-id"], body=body)
    except DatabaseError:
        # Codat retries anything but a 2xx, so a database outage loses nothing.
        logger.exception("Codat webhook %s could not be stored", headers["webhook-id"])
        return HttpResponse(status=503)
    # 202: stored, processing queued; 200: seen before, nothing more to do.
    return HttpResponse(status=202 if created else 200)
