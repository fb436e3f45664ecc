"""The sandbox's webhooks: Codat's event payloads, a transactional outbox, signed delivery.

How it works
- Every change that Codat announces writes a `SandboxWebhookMessage` in the same transaction
  as the change (an outbox), so an event exists exactly when its change was committed. Payloads
  follow Webhooks.json (`{id, eventType, generatedDate, payload}`), stored as the exact bytes
  that are signed and sent.
- A message becomes due DELIVERY_DELAY_SECONDS after it is written, so it reaches the app after
  the API call that caused it has returned, as Codat's asynchronous delivery does.
- Reads (`read.completed`, `read.completed.initial`) are written when their datasets are
  queued, from the planned outcome, and fall due when the simulated timeline says the last
  dataset finished; `generatedDate` is that moment. If the plan changes before the message is
  sent (a connection expires mid-fetch, a connection or company is deleted) the message is
  rewritten or dropped (`rebuild_read_messages`). Nothing has to watch the clock to emit them.
- A message goes only to the webhook consumers (`POST /webhooks`) subscribed to its event type
  when it is written (an enabled consumer listing the type, or listing none, and whose company
  tags, if any, match the company's), as Svix sends a message to the endpoints it has then.
  With no such consumer it is kept, marked "no consumer", and never sent. A fresh account has
  no consumer: `manage.py codat_setup --apply` registers the app's.
- `read.completed` and `read.completed.initial` exist only while a Codat product is enabled;
  CODAT_SANDBOX_READ_WEBHOOKS=off plays an account without one (none is ever written).
- `deliver_due()` sends every due message to each of its consumers: signed with Standard
  Webhooks (the first secret in CODAT_WEBHOOK_SECRETS: Codat's API never reveals a consumer's
  secret, its operator copies it from the portal, so the sandbox signs with the configured
  one), in-process through the WSGI app when CODAT_SANDBOX_IN_PROCESS is on and the consumer's
  URL is this site's. A 2xx from every consumer delivers; anything else is retried (to the
  consumers still owed it) on Codat's (Svix's) schedule, then given up.
  Each message is claimed with a conditional UPDATE (a lease) before it is sent, so two
  processes pumping the same outbox do not both send it; a crash mid-send only delays it.
- Who calls `deliver_due()`: a daemon thread started by the app config in a serving process
  (runserver, gunicorn), every PUMP_INTERVAL_SECONDS; the console's "Send due webhooks now";
  tests, explicitly, with the clock set by time_machine. Never a thread under pytest.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import ssl
import string
import sys
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone
from standardwebhooks import Webhook

from . import serializers
from .models import (
    SandboxCompany,
    SandboxConnection,
    SandboxDataset,
    SandboxOutboxSwitch,
    SandboxWebhookConsumer,
    SandboxWebhookMessage,
)

logger = logging.getLogger(__name__)

# Codat's (Svix's) schedule: the first attempt at once, then after each failure wait the next
# delay; after the eighth failed attempt the message is given up (≈28 h in all).
RETRY_DELAYS_SECONDS = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS_SECONDS)
# Sent after the API call that caused them has returned, never inside it.
DELIVERY_DELAY_SECONDS = 0.5
# Codat's consumers must answer within 15 s; the sandbox gives up on an attempt sooner so one
# slow endpoint cannot stall the pump for long.
DELIVERY_TIMEOUT_SECONDS = 5.0
# How long a claimed message stays reserved for the process sending it.
LEASE_SECONDS = 60
# Messages sent per `deliver_due` call at most, oldest due first.
BATCH_SIZE = 100
PUMP_INTERVAL_SECONDS = 0.5
USER_AGENT = "Svix-Webhooks/1.0 (Codat sandbox; Consent Portal)"

_BASE62 = string.digits + string.ascii_letters
_MSG_ID_LENGTH = 24  # as in Codat's example id msg_p5jXN8AQM9LWM0D4loKWxJek


# --- payloads ------------------------------------------------------------------------------


def new_msg_id() -> str:
    return "msg_" + "".join(secrets.choice(_BASE62) for _ in range(_MSG_ID_LENGTH))


def portal_url(company_id: uuid.UUID | str) -> str:
    # Codat links its portal's company page; the sandbox's "portal" is its console.
    return f"{settings.SITE_URL}/sandbox/#company-{company_id}"


def reference_company(company: SandboxCompany) -> dict[str, Any]:
    """Codat's `companyReference`."""
    return {
        "id": str(company.id),
        "name": company.name,
        "description": company.description,
        "links": {"portal": portal_url(company.id)},
        "tags": dict(company.tags),
    }


def company_details(company: SandboxCompany) -> dict[str, Any]:
    """Codat's `companyDetails`: the company without its connections."""
    body = serializers.company_json(company, [])
    for key in ("dataConnections", "ownerUserIds", "referenceSubsidiaryCompanies"):
        body.pop(key, None)
    return body


def _envelope(event_id: str, event_type: str, generated: datetime, payload: Any) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "eventType": event_type,
            "generatedDate": serializers.iso(generated),
            "payload": payload,
        },
        separators=(",", ":"),
    ).encode("utf-8")


NO_CONSUMER = "No webhook consumer was subscribed to this event type when it happened."


def subscribers(event_type: str, company: SandboxCompany | None) -> list[str]:
    """Ids of the consumers that receive `event_type` about `company` (Codat's filters: event
    types, and company tags written `tagKey:tagValue`). A consumer listing no event types gets
    every event, as a Svix endpoint without event-type filters does."""
    tags = {f"{key}:{value}" for key, value in (company.tags if company else {}).items()}
    return [
        str(consumer.id)
        for consumer in SandboxWebhookConsumer.objects.filter(disabled=False)
        if (not consumer.event_types or event_type in consumer.event_types)
        and (not consumer.company_tags or tags & set(consumer.company_tags))
    ]


def _write(
    event_type: str,
    payload: Any,
    *,
    company: SandboxCompany,
    connection_id: uuid.UUID | None = None,
    generated: datetime | None = None,
    due_at: datetime | None = None,
) -> SandboxWebhookMessage:
    now = timezone.now()
    generated = generated or now
    earliest = now + timedelta(seconds=DELIVERY_DELAY_SECONDS)
    recipients = subscribers(event_type, company)
    return SandboxWebhookMessage.objects.create(
        msg_id=new_msg_id(),
        event_type=event_type,
        payload=_envelope(str(uuid.uuid4()), event_type, generated, payload),
        company_id=company.id,
        connection_id=connection_id,
        created=now,
        generated=generated,
        due_at=max(due_at or earliest, earliest),
        recipients=recipients,
        # Kept in the outbox (the console shows it) but never sent.
        failed_at=None if recipients else now,
        last_error="" if recipients else NO_CONSUMER,
    )


def company_event(event_type: str, company: SandboxCompany) -> SandboxWebhookMessage:
    """`company.created` / `company.deleted`."""
    return _write(event_type, company_details(company), company=company)


def connection_event(event_type: str, connection: SandboxConnection) -> SandboxWebhookMessage:
    """`connection.created|connected|failed|disconnected|reconnected|deleted`: the company
    reference and the connection as it is now (its status is the one after the change)."""
    payload = {
        "referenceCompany": reference_company(connection.company),
        "connection": serializers.connection_json(connection),
    }
    return _write(event_type, payload, company=connection.company, connection_id=connection.id)


READ_COMPLETED = "read.completed"
READ_COMPLETED_INITIAL = "read.completed.initial"


def _modified_from(datasets: Sequence[SandboxDataset]) -> datetime | None:
    """When these types were last fetched before this read: the earliest of the previous good
    fetches of each (connection, type). None for types never fetched before."""
    previous = []
    for dataset in datasets:
        finished = (
            SandboxDataset.objects.filter(
                connection_id=dataset.connection_id,
                data_type=dataset.data_type,
                outcome=SandboxDataset.Outcome.COMPLETE,
                finished_at__lte=dataset.requested,
            )
            .exclude(pk=dataset.pk)
            .order_by("-finished_at")
            .values_list("finished_at", flat=True)
            .first()
        )
        if finished is not None:
            previous.append(finished)
    return min(previous) if previous else None


def _read_payload(company: SandboxCompany, datasets: Sequence[SandboxDataset]) -> dict[str, Any]:
    payload: dict[str, Any] = {"referenceCompany": reference_company(company)}
    modified_from = _modified_from(datasets)
    if modified_from is not None:
        payload["modifiedFromDate"] = serializers.iso(modified_from)
    payload["dataTypes"] = [
        {
            "connectionId": str(dataset.connection_id),
            "dataType": dataset.data_type,
            "recordsModified": dataset.records_modified,
            # The planned outcome: this message is due only once the dataset has reached it.
            "status": dataset.outcome,
            "issues": [],
        }
        for dataset in sorted(datasets, key=lambda item: (item.finished_at, item.data_type))
    ]
    return payload


def read_event(
    *,
    company: SandboxCompany,
    datasets: Sequence[SandboxDataset],
    initial: bool,
    connection: SandboxConnection | None = None,
) -> SandboxWebhookMessage | None:
    """The message announcing that the read made of `datasets` finished, due when it does.

    An initial read is announced even when it fetched nothing (no types to fetch on first
    link): it still tells the app the authorisation's first read is over. An ordinary refresh
    that queued nothing announces nothing, and nothing is announced at all while reads are
    switched off (CODAT_SANDBOX_READ_WEBHOOKS=off: no Codat product enabled).
    """
    if not read_webhooks_enabled():
        return None
    if not datasets and not initial:
        return None
    finished = max((dataset.finished_at for dataset in datasets), default=timezone.now())
    message = _write(
        READ_COMPLETED_INITIAL if initial else READ_COMPLETED,
        _read_payload(company, datasets),
        company=company,
        connection_id=connection.id if connection else None,
        generated=finished,
        due_at=finished,
    )
    SandboxDataset.objects.filter(pk__in=[dataset.pk for dataset in datasets]).update(
        completion_message=message
    )
    return message


def read_webhooks_enabled() -> bool:
    return getattr(settings, "CODAT_SANDBOX_READ_WEBHOOKS", "on") != "off"


def _not_yet_sent(messages: Iterable[SandboxWebhookMessage]) -> list[SandboxWebhookMessage]:
    return [m for m in messages if m.attempts == 0 and m.delivered_at is None]


def rebuild_read_messages(message_ids: Iterable[int]) -> None:
    """Rewrite unsent read messages after their datasets changed (or were deleted).

    A message whose datasets are all gone is dropped: it would announce a read of a connection
    or company that no longer exists. One already attempted is left alone: the receiver may
    have seen it, and Codat never changes a message it has sent.
    """
    messages = SandboxWebhookMessage.objects.filter(pk__in=list(message_ids)).select_for_update()
    for message in _not_yet_sent(messages):
        datasets = list(message.datasets.select_related("company"))
        if not datasets:
            message.delete()
            continue
        envelope = json.loads(bytes(message.payload))
        finished = max(dataset.finished_at for dataset in datasets)
        message.payload = _envelope(
            envelope["id"],
            message.event_type,
            finished,
            _read_payload(datasets[0].company, datasets),
        )
        message.generated = finished
        message.due_at = max(finished, timezone.now() + timedelta(seconds=DELIVERY_DELAY_SECONDS))
        message.save(update_fields=["payload", "generated", "due_at"])


def pending_read_message_ids(datasets: Iterable[SandboxDataset]) -> set[int]:
    return {
        dataset.completion_message_id
        for dataset in datasets
        if dataset.completion_message_id is not None
    }


def drop_unsent_reads_of_company(company_id: uuid.UUID) -> None:
    """A deleted company's reads that were not sent yet never finish: drop them."""
    SandboxWebhookMessage.objects.filter(
        company_id=company_id,
        event_type__in=[READ_COMPLETED, READ_COMPLETED_INITIAL],
        attempts=0,
        delivered_at=None,
    ).delete()


# --- console operations --------------------------------------------------------------------


@transaction.atomic
def replay(message: SandboxWebhookMessage) -> SandboxWebhookMessage:
    """Send `message` again as it was: same webhook-id, same bytes (a duplicate delivery), to
    the consumers subscribed to its event type now."""
    now = timezone.now()
    original = message.replay_of or message
    company = (
        SandboxCompany.objects.filter(pk=message.company_id).first()
        if message.company_id is not None
        else None
    )
    recipients = subscribers(message.event_type, company)
    return SandboxWebhookMessage.objects.create(
        msg_id=message.msg_id,
        event_type=message.event_type,
        payload=bytes(message.payload),
        company_id=message.company_id,
        connection_id=message.connection_id,
        created=now,
        generated=message.generated,
        due_at=now + timedelta(seconds=DELIVERY_DELAY_SECONDS),
        replay_of=original,
        recipients=recipients,
        failed_at=None if recipients else now,
        last_error="" if recipients else NO_CONSUMER,
    )


class ReorderError(Exception):
    """The two messages cannot swap places (one was already sent, or it is the same one)."""


@transaction.atomic
def deliver_in_reverse_order(first: SandboxWebhookMessage, second: SandboxWebhookMessage) -> None:
    """Swap when two unsent messages go out, so the later one arrives first."""
    if first.pk == second.pk:
        raise ReorderError("Choose two different messages.")
    locked = list(
        SandboxWebhookMessage.objects.filter(pk__in=[first.pk, second.pk]).select_for_update()
    )
    if any(m.delivered_at is not None or m.failed_at is not None for m in locked):
        raise ReorderError(
            "Only messages not yet delivered can be reordered; hold delivery first so they wait."
        )
    earlier, later = sorted(locked, key=lambda m: (m.due_at, m.pk))
    earlier_due, later_due = earlier.due_at, later.due_at
    if earlier_due == later_due:
        # Equal due times would leave the order to the tie-break; make it strict.
        earlier_due = later_due - timedelta(milliseconds=1)
    later.due_at, earlier.due_at = earlier_due, later_due
    later.save(update_fields=["due_at"])
    earlier.save(update_fields=["due_at"])


def is_held() -> bool:
    return SandboxOutboxSwitch.objects.filter(pk=1, held=True).exists()


def set_held(held: bool) -> None:
    SandboxOutboxSwitch.objects.update_or_create(pk=1, defaults={"held": held})


# --- delivery ------------------------------------------------------------------------------


def consumers() -> list[SandboxWebhookConsumer]:
    """The webhook consumers registered, for the console."""
    return list(SandboxWebhookConsumer.objects.all())


def _signing_secret() -> str | None:
    secrets_configured = getattr(settings, "CODAT_WEBHOOK_SECRETS", None) or []
    return secrets_configured[0] if secrets_configured else None


def signed_headers(msg_id: str, body: bytes, *, secret: str, at: datetime) -> dict[str, str]:
    """Standard Webhooks headers for one attempt: the id is the message's, the timestamp and
    signature are fresh for each attempt."""
    signature = Webhook(secret).sign(msg_id, at, body.decode("utf-8"))
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


class _Senders:
    """One HTTP client per way of sending, made when first needed."""

    def __init__(self) -> None:
        self._clients: dict[bool, httpx.Client] = {}

    def client_for(self, url: str) -> httpx.Client:
        in_process = bool(getattr(settings, "CODAT_SANDBOX_IN_PROCESS", False)) and _is_this_site(
            url
        )
        if in_process not in self._clients:
            self._clients[in_process] = _http_client(in_process=in_process)
        return self._clients[in_process]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def _is_this_site(url: str) -> bool:
    site = urlsplit(settings.SITE_URL)
    target = urlsplit(url)
    return (target.scheme, target.netloc) == (site.scheme, site.netloc)


def _http_client(*, in_process: bool) -> httpx.Client:
    if in_process:
        # Straight into this process's Django app: no socket, so a single-worker dev server
        # never waits on itself. Imported here: the module pulls in the test client's handler.
        from .inprocess import wsgi_app

        return httpx.Client(transport=httpx.WSGITransport(app=wsgi_app))
    return httpx.Client(
        timeout=DELIVERY_TIMEOUT_SECONDS, follow_redirects=False, verify=_tls_context()
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the trusted certificate authorities costs tens of milliseconds of CPU; load them
    # once per process, not for every delivery.
    return httpx.create_ssl_context()


def _claim(message_id: int, now: datetime) -> bool:
    """Reserve a due message for this process; False if another process got there first."""
    return bool(
        SandboxWebhookMessage.objects.filter(
            pk=message_id, due_at__lte=now, delivered_at=None, failed_at=None
        ).update(due_at=now + timedelta(seconds=LEASE_SECONDS))
    )


def _post(
    http: httpx.Client, url: str, message: SandboxWebhookMessage, *, secret: str, at: datetime
) -> tuple[int | None, str]:
    """One POST of `message` to one consumer: (HTTP status or None, error text or "")."""
    body = bytes(message.payload)
    try:
        response = http.post(
            url, content=body, headers=signed_headers(message.msg_id, body, secret=secret, at=at)
        )
    except Exception as exc:
        # Whatever went wrong (refused, timed out, the in-process app raised), it is a failed
        # attempt to retry later, never a crash of the pump or of the caller.
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}"


def _attempt(
    message: SandboxWebhookMessage, senders: _Senders, *, secret: str, now: datetime
) -> bool:
    sent_at = timezone.now()
    registered = {
        str(consumer.id): consumer
        for consumer in SandboxWebhookConsumer.objects.filter(pk__in=message.recipients)
    }
    # A consumer deleted since the message was written is owed nothing any more.
    owed = [
        consumer_id
        for consumer_id in message.recipients
        if consumer_id in registered and consumer_id not in message.delivered_to
    ]
    status: int | None = None
    errors = []
    for consumer_id in owed:
        url = registered[consumer_id].url
        status, error = _post(senders.client_for(url), url, message, secret=secret, at=sent_at)
        if error:
            errors.append(error if len(owed) == 1 else f"{url}: {error}")
        else:
            message.delivered_to = [*message.delivered_to, consumer_id]
    error = "; ".join(errors)[:500]
    if not owed and not message.delivered_to:
        error = "Every consumer of this message was deleted before it was sent."
    message.attempts += 1
    message.last_attempt_at = sent_at
    message.last_status = status
    message.last_error = error
    delivered = not error
    if delivered:
        message.delivered_at = sent_at
    elif message.attempts >= MAX_ATTEMPTS or not owed:
        message.failed_at = sent_at
        logger.warning(
            "Sandbox webhook %s (%s) given up after %d attempts: %s",
            message.msg_id,
            message.event_type,
            message.attempts,
            error,
        )
    else:
        message.due_at = now + timedelta(seconds=RETRY_DELAYS_SECONDS[message.attempts])
    message.save(
        update_fields=[
            "attempts",
            "last_attempt_at",
            "last_status",
            "last_error",
            "delivered_at",
            "failed_at",
            "due_at",
            "delivered_to",
        ]
    )
    return delivered


def deliver_due(now: datetime | None = None) -> int:
    """Send every message due at `now` (default: the current time) and not yet delivered;
    returns how many were delivered. Failures are rescheduled, never raised."""
    now = now or timezone.now()
    if is_held():
        return 0
    secret = _signing_secret()
    if secret is None:
        logger.error("Sandbox webhooks not sent: CODAT_WEBHOOK_SECRETS is empty")
        return 0
    due = list(
        SandboxWebhookMessage.objects.filter(due_at__lte=now, delivered_at=None, failed_at=None)
        .order_by("due_at", "id")
        .values_list("pk", flat=True)[:BATCH_SIZE]
    )
    delivered = 0
    if not due:
        return 0
    senders = _Senders()
    try:
        for message_id in due:
            if not _claim(message_id, now):
                continue
            message = SandboxWebhookMessage.objects.get(pk=message_id)
            delivered += _attempt(message, senders, secret=secret, now=now)
    finally:
        senders.close()
    return delivered


# --- the pump thread -----------------------------------------------------------------------


def should_run_pump(*, argv: Sequence[str], environ: Mapping[str, str], mode: str) -> bool:
    """Only a serving process pumps: runserver's serving child (not its autoreloader parent)
    or a gunicorn process; never other management commands (the tests set the mode "off")."""
    if mode != "thread":
        return False
    if argv and "gunicorn" in argv[0]:
        return True
    if "runserver" in argv:
        return environ.get("RUN_MAIN") == "true" or "--noreload" in argv
    return False


class WebhookPump(threading.Thread):
    """Calls `deliver_due()` every `interval` seconds until stopped."""

    def __init__(self, interval: float = PUMP_INTERVAL_SECONDS) -> None:
        super().__init__(name="codat-sandbox-webhook-pump", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                deliver_due()
            except Exception:
                # A missing table before `migrate`, a database restart: log and keep going.
                logger.exception("Sandbox webhook pump failed; retrying")
            finally:
                close_old_connections()

    def stop(self) -> None:
        self.stopped.set()


_pump: WebhookPump | None = None
_pump_lock = threading.Lock()


def start_pump() -> WebhookPump:
    global _pump
    with _pump_lock:
        if _pump is None or not _pump.is_alive():
            _pump = WebhookPump()
            _pump.start()
        return _pump


def _restart_after_fork() -> None:
    # Threads do not survive fork: a gunicorn worker forked from a preloading master starts
    # its own pump (the lease keeps two pumps from sending one message twice).
    global _pump
    _pump = None
    start_pump()


def start_pump_if_serving() -> bool:
    if not should_run_pump(
        argv=sys.argv,
        environ=os.environ,
        mode=getattr(settings, "CODAT_SANDBOX_WEBHOOK_PUMP", "thread"),
    ):
        return False
    start_pump()
    os.register_at_fork(after_in_child=_restart_after_fork)
    return True
