"""Changes to connections: start linking, complete a return, refresh, disconnect.

Codat is the source of truth for a connection's status; our rows cache it. Every call out goes
through `codat.client`, and every failure a customer can meet surfaces as a named error that the
views turn into a clear page.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import models, transaction
from django.utils import timezone

from codat import types as codat_types
from codat.client import CodatClient
from codat.errors import CodatError, CodatNotFound
from codat.types import source_type_of
from companies import page_cache
from companies.codat_client import get_client
from companies.models import Company
from connections.models import (
    CodatCompanyDeletion,
    Connection,
    ConnectionEvent,
    DataSync,
    Integration,
    LinkAttempt,
    SourceType,
)
from connections.selectors import DataTypeLabel, SyncProgress, sync_progress

logger = logging.getLogger("connections")
security_log = logging.getLogger("consent_portal.security")

# How long our copy of Codat's integration catalogue is trusted before asking again.
CATALOGUE_MAX_AGE = timedelta(hours=24)


class ConnectionNotAllowed(Exception):
    """A rule (ours or Codat's) forbids this connection; the message is for the customer."""


class LinkReturnRefused(Exception):
    """The return from Codat's Link page failed verification; nothing was changed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LinkStart:
    connection: Connection
    redirect_url: str | None  # None: nothing to authorise (already connected)


@dataclass(frozen=True)
class LinkReturn:
    attempt: LinkAttempt
    connection: Connection
    confirmed: bool  # False when Codat could not be asked; the page offers "check again"

    @property
    def succeeded(self) -> bool:
        return self.attempt.status_code in {"200", "201"}


# --- the integration catalogue -----------------------------------------------------------


def integrations_refresh(*, client: CodatClient | None = None) -> int:
    """Replace our catalogue with Codat's list of integrations; returns how many are enabled."""
    if client is None:
        with get_client() as own_client:
            return integrations_refresh(client=own_client)
    integrations = client.list_all_integrations()
    now = timezone.now()
    with transaction.atomic():
        known = {i.key: i for i in Integration.objects.select_for_update()}
        seen = set()
        for item in integrations:
            seen.add(item.key)
            values = {
                "name": item.name,
                "source_type": item.source_type
                if item.source_type in SourceType.values
                else SourceType.OTHER,
                "enabled": item.enabled,
                "is_beta": item.is_beta,
                "refreshed_at": now,
            }
            if item.key in known:
                Integration.objects.filter(pk=known[item.key].pk).update(**values)
            else:
                Integration.objects.create(key=item.key, **values)
        Integration.objects.exclude(key__in=seen).update(enabled=False, refreshed_at=now)
    return sum(1 for i in integrations if i.enabled)


def integrations_ensure_fresh() -> None:
    """Refresh the catalogue when it is empty or stale. A stale copy beats no page at all, so
    a Codat failure only raises when we have nothing to show."""
    newest = Integration.objects.order_by("-refreshed_at").values_list("refreshed_at", flat=True)
    newest_at = newest.first()
    if newest_at and timezone.now() - newest_at < CATALOGUE_MAX_AGE:
        return
    try:
        integrations_refresh()
    except CodatError:
        if newest_at is None:
            raise
        logger.warning("Integration catalogue refresh failed; showing the copy from %s", newest_at)


# --- starting a link ---------------------------------------------------------------------

# Codat strips characters outside this set from company names; we do it first so that the
# name we store is the name Codat shows.
_CODAT_NAME_FORBIDDEN = re.compile(r"[^A-Za-z0-9\s\-',&@.?!]")


def _codat_company_name(company: Company) -> str:
    name = _CODAT_NAME_FORBIDDEN.sub("", company.name).strip()
    return name or f"Company {str(company.id)[:8]}"


def codat_company_ensure(*, company: Company, client: CodatClient) -> str:
    """The company's Codat id, creating the Codat company the first time only (X4).

    Creating a company is not idempotent at Codat, and a timeout may hide a success, so we tag
    every company with our own id and look for that tag before creating. The company row is
    locked while we do this, so two concurrent clicks make one POST.
    """
    with transaction.atomic():
        locked = Company.objects.select_for_update().get(pk=company.pk)
        if locked.codat_company_id:
            company.codat_company_id = locked.codat_company_id
            return str(locked.codat_company_id)
        existing = client.find_companies_by_tag("uid", str(company.id))
        if existing:
            codat_id = existing[0].id
            logger.info("Adopted existing Codat company %s for %s", codat_id, company.id)
        else:
            codat_id = client.create_company(
                name=_codat_company_name(locked),
                description=f"Consent Portal company {company.id}",
                tags={"uid": str(company.id)},
            ).id
        locked.codat_company_id = codat_id
        locked.save(update_fields=["codat_company_id"])
    company.codat_company_id = locked.codat_company_id
    return str(codat_id)


def _connection_from_codat(
    *, company: Company, codat: codat_types.Connection, integration: Integration
) -> Connection:
    connection = Connection(
        company=company,
        codat_connection_id=codat.id,
        platform_key=codat.integration_key or integration.key,
        platform_name=codat.platform_name or integration.name,
        source_type=codat.source_type
        if codat.source_type in SourceType.values
        else integration.source_type,
    )
    connection_status_apply(connection, codat)
    connection.full_clean()
    _connection_save(connection)
    if connection.is_linked:
        _connection_event_record(connection, ConnectionEvent.Kind.LINKED)
    return connection


def _connection_save(connection: Connection, **kwargs) -> None:
    """Store a connection whose status, sync time or errors changed: the company's pages show
    it from now on."""
    connection.save(**kwargs)
    page_cache.facts_changed(connection.company_id)


def _connection_event_record(connection: Connection, kind: str) -> None:
    ConnectionEvent.objects.create(
        company_id=connection.company_id, connection=connection, kind=kind
    )


def _connection_event_kind(connection: Connection, new_status: str) -> str | None:
    """The event a move from the connection's current status to `new_status` is, for the
    customer's history; None for moves that are not (a first attempt, never authorised,
    coming and going)."""
    if new_status == Connection.Status.LINKED:
        return (
            ConnectionEvent.Kind.LINKED
            if connection.authorised_at is None
            else ConnectionEvent.Kind.RECONNECTED
        )
    if connection.authorised_at is None:
        return None
    kinds: dict[str, str] = {
        Connection.Status.DEAUTHORIZED: ConnectionEvent.Kind.EXPIRED,
        Connection.Status.UNLINKED: ConnectionEvent.Kind.PAUSED,
        Connection.Status.DELETED: ConnectionEvent.Kind.DISCONNECTED,
    }
    return kinds.get(new_status)


def connection_status_apply(connection: Connection, codat: codat_types.Connection) -> bool:
    """Copy Codat's view of a connection onto our row (unsaved). Returns True if it changed.

    Only state changes here, and for a row already stored, the status change as a
    ConnectionEvent for the customer's history (a new row records its own once saved, in
    `_connection_from_codat`). Telling members that access was lost or is back is the
    caller's explicit step, once the row is saved (consents.notifications.access_notices_send)."""
    changed = False
    if connection.status != Connection.Status.DELETED and codat.status != connection.status:
        kind = _connection_event_kind(connection, codat.status)
        if kind is not None and not connection._state.adding:
            _connection_event_record(connection, kind)
        now = timezone.now()
        connection.status = codat.status
        connection.status_changed_at = now
        # What Codat says now outranks any webhook generated before now (W6).
        connection.status_event_at = max(filter(None, [connection.status_event_at, now]))
        changed = True
        if codat.status == Connection.Status.LINKED:
            # Becoming Linked is always an authorisation by the customer, a reconnect too.
            connection.authorised_at = now
            if connection.linked_at is None:
                connection.linked_at = now
    if codat.last_sync and codat.last_sync != connection.last_sync:
        connection.last_sync = codat.last_sync
        changed = True
    active = [e for e in codat.errors if e.status in (None, "Active")]
    last_error = (
        {
            "statusCode": active[-1].status_code,
            "statusText": active[-1].status_text,
            "errorMessage": active[-1].error_message,
            "erroredOnUtc": active[-1].errored_on.isoformat() if active[-1].errored_on else None,
        }
        if active
        else None
    )
    if last_error != connection.last_error:
        connection.last_error = last_error
        changed = True
    return changed


def _with_state(link_url: str, state: str) -> str:
    # Custom query parameters on the Link URL come back through the redirect template.
    parts = urlsplit(link_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "state"]
    query.append(("state", state))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def link_attempt_create(
    *, user: User, company: Company, connection: Connection
) -> tuple[LinkAttempt, str]:
    state = secrets.token_urlsafe(32)  # 256 bits
    now = timezone.now()
    attempt = LinkAttempt.objects.create(
        state_hash=_state_hash(state),
        user=user,
        company=company,
        connection=connection,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.LINK_STATE_TTL_SECONDS),
    )
    return attempt, state


def connection_start(
    *,
    company: Company,
    user: User,
    integration: Integration,
    client: CodatClient | None = None,
) -> LinkStart:
    """Begin linking `integration` for `company`: the Codat company (once), a connection
    (reusing a pending one for the same platform), and a single-use state for the return.

    What Codat fetches on first link is not decided here: callers that care (the consents app)
    set the company's sync settings first, with the same client."""
    if client is None:
        with get_client() as own_client:
            return connection_start(
                company=company, user=user, integration=integration, client=own_client
            )
    return _connection_start(company=company, user=user, integration=integration, client=client)


def _connection_start(
    *, company: Company, user: User, integration: Integration, client: CodatClient
) -> LinkStart:
    codat_company_id = codat_company_ensure(company=company, client=client)

    with transaction.atomic():
        # Serialises concurrent "Connect" clicks for one business: the second waits, then
        # finds the first one's pending connection and reuses it.
        Company.objects.select_for_update().get(pk=company.pk)
        current = list(Connection.objects.for_company(company).current())

        if integration.source_type == SourceType.ACCOUNTING:
            linked = [
                c
                for c in current
                if c.source_type == SourceType.ACCOUNTING and c.status == Connection.Status.LINKED
            ]
            if linked and linked[0].platform_key == integration.key:
                return LinkStart(connection=linked[0], redirect_url=None)
            if linked:
                raise ConnectionNotAllowed(
                    f"{linked[0].platform_name} is already connected as your accounting "
                    f"software. Codat allows one at a time: disconnect it first to switch to "
                    f"{integration.name}."
                )

        connection, codat_connection = _pending_connection(
            company=company,
            codat_company_id=codat_company_id,
            integration=integration,
            current=current,
            client=client,
        )
        if codat_connection.status == Connection.Status.LINKED:
            # Our pending row had in fact been authorised: nothing left to do at Codat.
            return LinkStart(connection=connection, redirect_url=None)
        _, state = link_attempt_create(user=user, company=company, connection=connection)
    logger.info(
        "Link started company=%s connection=%s platform=%s",
        company.id,
        connection.id,
        integration.key,
    )
    return LinkStart(
        connection=connection, redirect_url=_with_state(codat_connection.link_url, state)
    )


def _pending_connection(
    *,
    company: Company,
    codat_company_id: str,
    integration: Integration,
    current: list[Connection],
    client: CodatClient,
) -> tuple[Connection, codat_types.Connection]:
    """Our pending connection for this platform with a fresh linkUrl, adopting or creating one.

    Order: a pending row of ours (re-read at Codat: Link URLs can be single-use); then a
    pending connection Codat has that we never recorded (a create whose answer we lost);
    only then a new one.
    """
    for connection in current:
        if connection.platform_key == integration.key and connection.is_pending:
            try:
                codat = client.get_connection(codat_company_id, str(connection.codat_connection_id))
            except CodatNotFound:
                connection_mark_deleted(connection)
                continue
            if connection_status_apply(connection, codat):
                _connection_save(connection)
            if codat.status in (Connection.Status.PENDING_AUTH, Connection.Status.LINKED):
                return connection, codat

    known = {str(c.codat_connection_id) for c in Connection.objects.for_company(company)}
    for codat in client.list_all_connections(codat_company_id):
        if (
            codat.integration_key == integration.key
            and codat.status == Connection.Status.PENDING_AUTH
            and codat.id not in known
        ):
            logger.info("Adopted pending Codat connection %s for %s", codat.id, company.id)
            return _connection_from_codat(
                company=company, codat=codat, integration=integration
            ), codat

    codat = client.create_connection(codat_company_id, platform_key=integration.key)
    return _connection_from_codat(company=company, codat=codat, integration=integration), codat


def connection_reconnect_start(
    *, company: Company, user: User, connection: Connection
) -> LinkStart:
    """Send the customer back through the *same* connection's Link page (Codat re-authorises a
    Deauthorized or Unlinked connection on its own id), with a fresh linkUrl and a new state."""
    if connection.status not in (Connection.Status.DEAUTHORIZED, Connection.Status.UNLINKED):
        raise ConnectionNotAllowed(f"{connection.platform_name} doesn't need reconnecting.")
    with get_client() as client:
        codat = client.get_connection(
            str(company.codat_company_id), str(connection.codat_connection_id)
        )
    if connection_status_apply(connection, codat):
        _connection_save(connection)
    if codat.status == Connection.Status.LINKED:
        return LinkStart(connection=connection, redirect_url=None)
    _, state = link_attempt_create(user=user, company=company, connection=connection)
    logger.info("Reconnect started company=%s connection=%s", company.id, connection.id)
    return LinkStart(connection=connection, redirect_url=_with_state(codat.link_url, state))


# --- the return from Codat's Link page -----------------------------------------------------


def link_return_complete(
    *,
    user: User,
    state: str | None,
    company_id: str,
    connection_id: str | None,
    status_code: str,
    error_message: str = "",
    status_text: str = "",
) -> LinkReturn:
    """Verify a return (R1, R2), consume its Link attempt, then ask Codat what really happened
    (R3). Every refusal happens before anything is written, but for the loser of two
    simultaneous state-less returns (below).

    A `state` names its attempt, and a wrong one is refused: it is never a reason to look
    elsewhere. Without a state (Codat may not carry it from a connection's `linkUrl`,
    docs/codat.md §4) the attempt is found by the ids instead: see `_attempt_for_ids`.
    """
    now = timezone.now()
    if state:
        attempt = _attempt_for_state(user=user, state=state)
        superseded: list[LinkAttempt] = []
    else:
        attempt, superseded = _attempt_for_ids(
            user=user, company_id=company_id, connection_id=connection_id, now=now
        )
    if attempt.used_at is not None:
        raise LinkReturnRefused("state already used")
    if attempt.expires_at <= now:
        raise LinkReturnRefused("state expired")
    if str(attempt.company.codat_company_id) != company_id:
        security_log.warning(
            "Link return companyId mismatch: user=%s company=%s got=%s",
            user.pk,
            attempt.company_id,
            company_id,
        )
        raise LinkReturnRefused("companyId does not match")
    connection = attempt.connection
    if connection_id and str(connection.codat_connection_id) != connection_id:
        security_log.warning(
            "Link return connectionId mismatch: user=%s connection=%s got=%s",
            user.pk,
            connection.id,
            connection_id,
        )
        raise LinkReturnRefused("connectionId does not match")

    if superseded:
        # Closed before the attempt itself, which decides: a concurrent state-less return that
        # reads the open attempts after this line finds only `attempt`, and only one of the two
        # can consume that. (The loser may close these too; the winner would have.)
        LinkAttempt.objects.filter(pk__in=[a.pk for a in superseded], used_at__isnull=True).update(
            used_at=now
        )
    consumed = LinkAttempt.objects.filter(pk=attempt.pk, used_at__isnull=True).update(
        used_at=now,
        status_code=status_code,
        error_message=error_message[:500],
        status_text=status_text[:500],
    )
    if not consumed:  # a concurrent request used it first
        raise LinkReturnRefused("state already used")
    attempt.refresh_from_db()

    confirmed = connection_refresh(connection=connection)
    return LinkReturn(attempt=attempt, connection=connection, confirmed=confirmed)


def _attempt_for_state(*, user: User, state: str) -> LinkAttempt:
    # The state alone finds the attempt, in whichever company it is, so that a state used by
    # the wrong user is refused *and* logged with the tenant it belongs to (T4).
    attempt = (
        LinkAttempt.objects.with_scopes_disabled()
        .select_related("connection", "company")
        .filter(state_hash=_state_hash(state))
        .first()
    )
    if attempt is None:
        raise LinkReturnRefused("unknown state")
    if attempt.user_id != user.pk:
        security_log.warning(
            "Link return with another user's state: user=%s attempt_user=%s company=%s",
            user.pk,
            attempt.user_id,
            attempt.company_id,
        )
        raise LinkReturnRefused("state belongs to another user")
    return attempt


def _attempt_for_ids(
    *, user: User, company_id: str, connection_id: str | None, now: datetime
) -> tuple[LinkAttempt, list[LinkAttempt]]:
    """The attempt a state-less return belongs to, and the other open ones it makes moot.

    Both ids are ours before the customer leaves (the attempt's company has the Codat company,
    its connection the Codat connection), so only an attempt *this user* started for exactly
    that connection matches, under the same single-use and expiry rules as a state (R1).
    Without a `connectionId` nothing narrows it down safely, so it is refused.

    The newest open attempt is the one consumed. Older open ones for the same connection are
    returned to be consumed with it: without a state they cannot be told apart from it, and
    leaving them open would let the same return URL (which holds nothing secret) be accepted
    again until they expire. A customer with two Link tabs open loses nothing by this: both
    were for the one connection, whose real status is read from Codat either way.
    """
    if not connection_id:
        raise LinkReturnRefused("no state and no connectionId")
    for_ids = (
        LinkAttempt.objects.with_scopes_disabled()
        .select_related("connection", "company")
        .filter(
            company__codat_company_id=company_id,
            connection__codat_connection_id=connection_id,
        )
    )
    own = for_ids.filter(user_id=user.pk).order_by("-created_at")
    open_attempts = list(own.filter(used_at__isnull=True, expires_at__gt=now))
    if open_attempts:
        return open_attempts[0], open_attempts[1:]
    newest_own = own.first()
    if newest_own is not None:
        return newest_own, []  # used or expired: refused by the caller, as for a state
    others = for_ids.exclude(user_id=user.pk).first()
    if others is not None:
        security_log.warning(
            "Link return without a state for another user's attempt: user=%s attempt_user=%s "
            "company=%s",
            user.pk,
            others.user_id,
            others.company_id,
        )
        raise LinkReturnRefused("attempt belongs to another user")
    raise LinkReturnRefused("no Link attempt for these ids")


def connection_refresh(*, connection: Connection, client: CodatClient | None = None) -> bool:
    """Ask Codat for the connection's status and store it. False if Codat could not answer."""
    if connection.is_deleted:
        return True
    if client is None:
        with get_client() as own_client:
            return connection_refresh(connection=connection, client=own_client)
    try:
        codat = client.get_connection(
            str(connection.company.codat_company_id), str(connection.codat_connection_id)
        )
    except CodatNotFound:
        connection_mark_deleted(connection)
        return True
    except CodatError as exc:
        logger.warning("Could not confirm connection %s with Codat: %s", connection.id, exc)
        return False
    if connection_status_apply(connection, codat):
        _connection_save(connection)
    return True


# --- disconnecting -------------------------------------------------------------------------


def connection_mark_deleted(connection: Connection) -> None:
    """Keep our row, as `Deleted`, once the connection no longer exists at Codat."""
    kind = _connection_event_kind(connection, Connection.Status.DELETED)
    if kind is not None and not connection.is_deleted:
        _connection_event_record(connection, kind)
    connection.status = Connection.Status.DELETED
    now = timezone.now()
    connection.status_changed_at = now
    connection.deleted_at = now
    _connection_save(connection, update_fields=["status", "status_changed_at", "deleted_at"])


def connection_unlink(*, connection: Connection, actor: User) -> None:
    """Revoke our access at Codat but keep the connection and its cached data (Codat's
    `Unlinked`; the customer can authorise it again later). Only a Linked one can be."""
    if connection.status != Connection.Status.LINKED:
        return
    with get_client() as client:
        codat = client.unlink_connection(
            str(connection.company.codat_company_id), str(connection.codat_connection_id)
        )
    if connection_status_apply(connection, codat):
        _connection_save(connection)
    logger.info(
        "Connection unlinked connection=%s company=%s by user=%s",
        connection.id,
        connection.company_id,
        actor.pk,
    )


def connection_delete_at_codat(*, connection: Connection, client: CodatClient) -> None:
    """DELETE the connection at Codat, with everything Codat fetched through it; our row is
    the caller's to mark. Codat answering 404 means it is already gone: the same outcome."""
    try:
        client.delete_connection(
            str(connection.company.codat_company_id), str(connection.codat_connection_id)
        )
    except CodatNotFound:
        logger.info("Connection %s was already deleted at Codat", connection.id)


def connection_disconnect(*, connection: Connection, actor: User) -> None:
    """Delete the connection at Codat (revokes access; not reversible) and keep our row as
    `Deleted` for the history. Codat answering 404 means it is already gone: same outcome."""
    if connection.is_deleted:
        return
    with get_client() as client:
        connection_delete_at_codat(connection=connection, client=client)
    connection_mark_deleted(connection)
    logger.info(
        "Connection disconnected connection=%s company=%s by user=%s",
        connection.id,
        connection.company_id,
        actor.pk,
    )


# --- deleting a whole Codat company -----------------------------------------------------------

# Waits between attempts at a Codat company deletion that Codat refused or never answered; the
# last repeats until it succeeds, so the deletion never gives up.
DELETION_RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
)


def codat_company_deletion_request(*, company: Company, reason: str) -> CodatCompanyDeletion | None:
    """Within the caller's transaction: record that the company must be deleted at Codat, and
    try it after the commit. None when there is nothing at Codat to delete."""
    if not company.codat_company_id:
        return None
    deletion, _ = CodatCompanyDeletion.objects.get_or_create(
        company=company,
        defaults={
            "codat_company_id": company.codat_company_id,
            "reason": reason,
            "next_attempt_at": timezone.now(),
        },
    )
    transaction.on_commit(lambda: enqueue_codat_company_deletion(deletion_id=deletion.pk))
    return deletion


def enqueue_codat_company_deletion(*, deletion_id, run_after=None) -> None:
    """Never raises: the row is the record, and `codat_delete_companies` (cron) retries it."""
    # Imported here rather than at the top: the task module imports this one to run the
    # service, so importing it back at load time would be a cycle.
    from connections.tasks import delete_codat_company

    task = delete_codat_company
    try:
        if run_after is not None:
            if not task.get_backend().supports_defer:
                return  # cron picks it up when due
            task = task.using(run_after=run_after)
        task.enqueue(deletion_id)
    except Exception:
        logger.exception("Could not queue Codat company deletion %s; cron retries it", deletion_id)


def codat_company_delete(
    *, deletion: CodatCompanyDeletion, client: CodatClient | None = None
) -> bool:
    """DELETE the company at Codat (its connections and every piece of data Codat holds for it
    go too; docs/codat.md). True once Codat has confirmed, now or before; 404 means it is
    already gone, the same outcome. On failure the deletion stays pending with a retry due."""
    if client is None:
        with get_client() as own_client:
            return codat_company_delete(deletion=deletion, client=own_client)
    if not deletion.is_pending:
        return True
    now = timezone.now()
    try:
        client.delete_company(str(deletion.codat_company_id))
    except CodatNotFound:
        logger.info("Codat company %s was already deleted", deletion.codat_company_id)
    except CodatError as exc:
        delay = DELETION_RETRY_DELAYS[min(deletion.attempts, len(DELETION_RETRY_DELAYS) - 1)]
        CodatCompanyDeletion.objects.filter(pk=deletion.pk).update(
            attempts=deletion.attempts + 1,
            last_attempt_at=now,
            next_attempt_at=now + delay,
            last_error=f"{type(exc).__name__}: {exc}"[:1000],
        )
        logger.warning(
            "Codat company %s not deleted (attempt %s): %s",
            deletion.codat_company_id,
            deletion.attempts + 1,
            exc,
        )
        enqueue_codat_company_deletion(deletion_id=deletion.pk, run_after=now + delay)
        return False
    with transaction.atomic():
        CodatCompanyDeletion.objects.filter(pk=deletion.pk).update(
            attempts=deletion.attempts + 1,
            last_attempt_at=now,
            next_attempt_at=None,
            last_error="",
            deleted_at=now,
        )
        # Codat deleted every connection with the company; our rows keep the history.
        for connection in Connection.objects.filter(company_id=deletion.company_id).current():
            connection_mark_deleted(connection)
    security_log.info(
        "Codat company deleted codat_company=%s company=%s reason=%s",
        deletion.codat_company_id,
        deletion.company_id,
        deletion.reason,
    )
    return True


def codat_company_deletions_retry_due(*, now=None) -> tuple[int, int]:
    """Attempt every pending Codat company deletion whose retry is due: (deleted, pending)."""
    now = now or timezone.now()
    due = CodatCompanyDeletion.objects.filter(
        models.Q(next_attempt_at__lte=now) | models.Q(next_attempt_at__isnull=True),
        deleted_at__isnull=True,
    )
    deleted = failed = 0
    for deletion in due.order_by("requested_at"):
        if codat_company_delete(deletion=deletion):
            deleted += 1
        else:
            failed += 1
    return deleted, failed


# --- sync progress when webhooks are quiet ----------------------------------------------------

# While a first sync is under way and no webhook has told us anything for this long, the
# progress page asks Codat itself; at most once per POLL_INTERVAL per connection.
WEBHOOK_QUIET = timedelta(seconds=15)
POLL_INTERVAL_SECONDS = 10
# Pull operations asked for per page when reading one connection's history.
PULL_OPERATIONS_PAGE_SIZE = 500


def sync_progress_current(
    *, connection: Connection, data_types: Sequence[DataTypeLabel]
) -> SyncProgress:
    """The connection's progress on `data_types` (what the caller expects it to read), topped up
    from this connection's pull operations at Codat if webhooks are late (or never come)."""
    progress = sync_progress(connection, data_types)
    if progress.done or not connection.is_linked:
        return progress
    quiet_since = (
        progress.last_update
        or connection.authorised_at
        or connection.linked_at
        or connection.status_changed_at
    )
    if timezone.now() - quiet_since < WEBHOOK_QUIET:
        return progress
    if not cache.add(f"pull-operations-poll:{connection.pk}", 1, POLL_INTERVAL_SECONDS):
        return progress
    if pull_operations_refresh(connection=connection):
        progress = sync_progress(connection, data_types)
    return progress


def pull_operations_refresh(*, connection: Connection, client: CodatClient | None = None) -> bool:
    """Read this connection's newest pull operation per data type into its DataSync rows.

    Codat's dataStatus is company-wide, so two connections of one kind would show the same
    progress; a pull operation names its connection (docs/codat.md §6.5). Never rolls a row
    back past a newer webhook (W6). False if Codat could not answer.
    """
    if client is None:
        with get_client() as own_client:
            return pull_operations_refresh(connection=connection, client=own_client)
    connection_id = str(connection.codat_connection_id)
    try:
        newest = _newest_pull_operations(
            codat_company_id=str(connection.company.codat_company_id),
            client=client,
            connection_ids=[connection_id],
        )
    except CodatError as exc:
        logger.info("Could not read pull operations for %s: %s", connection.id, exc)
        return False
    _pull_operations_apply(connection=connection, newest=newest.get(connection_id, {}))
    return True


def _pull_operations_apply(
    *, connection: Connection, newest: dict[str, codat_types.PullOperation]
) -> None:
    now = timezone.now()
    with transaction.atomic():
        for data_type, operation in newest.items():
            if source_type_of(data_type) != connection.source_type or not operation.status:
                continue
            succeeded_at = (
                operation.completed or now if operation.status == DataSync.Status.COMPLETE else None
            )
            sync, created = DataSync.objects.select_for_update().get_or_create(
                connection=connection,
                data_type=data_type,
                defaults={
                    "status": operation.status,
                    "last_event_at": now,
                    "last_success_at": succeeded_at,
                },
            )
            if not created and sync.last_event_at < now and sync.status != operation.status:
                sync.status = operation.status
                sync.last_event_at = now
                sync.last_success_at = succeeded_at or sync.last_success_at
                sync.save()
            elif not created:
                continue
            # The connection's progress, the products' health, the dashboard's data.
            page_cache.facts_changed(connection.company_id)


def _newest_pull_operations(
    *, codat_company_id: str, client: CodatClient, connection_ids: list[str]
) -> dict[str, dict[str, codat_types.PullOperation]]:
    """The newest pull operation per connection (by its lower-case id) and data type, by when
    it was requested, for each of `connection_ids`: one walk of the company's history, asking
    for those connections only (`connectionId=…||connectionId=…`), so that reconciliation
    reads it once per company, not once per connection.

    Codat does not document the order of its history, so every page is read."""
    wanted = set(connection_ids)
    newest: dict[str, dict[str, codat_types.PullOperation]] = {}
    page_number = 1
    while True:
        page = client.list_pull_operations(
            codat_company_id,
            page=page_number,
            page_size=PULL_OPERATIONS_PAGE_SIZE,
            query="||".join(f"connectionId={c}" for c in connection_ids),
        )
        for operation in page.results:
            owner = operation.connection_id.lower()
            if owner not in wanted:
                continue  # Codat filtered already; a row for another connection is not ours
            by_type = newest.setdefault(owner, {})
            known = by_type.get(operation.data_type)
            if known is None or _requested(operation) > _requested(known):
                by_type[operation.data_type] = operation
        # An empty page ends the walk whatever totalResults claims.
        if not page.results or not page.has_next:
            return newest
        page_number += 1


def _requested(operation: codat_types.PullOperation) -> datetime:
    return operation.requested or datetime.min.replace(tzinfo=UTC)


# --- reconciliation: repairing what missed webhooks left stale --------------------------------


def codat_reconcile(*, company: Company, client: CodatClient | None = None) -> list[str]:
    """Bring one company's connections and sync states in line with what Codat says now.

    Returns a line per change. Connections Codat no longer has become `Deleted`; the rest take
    Codat's status; each Linked connection's data types take its own newest pull operations
    (never rolling back a newer webhook).
    """
    if client is None:
        with get_client() as own_client:
            return codat_reconcile(company=company, client=own_client)
    if not company.codat_company_id:
        return []
    changes: list[str] = []
    at_codat = {c.id: c for c in client.list_all_connections(str(company.codat_company_id))}
    for connection in Connection.objects.for_company(company).current():
        codat = at_codat.get(str(connection.codat_connection_id))
        if codat is None:
            connection_mark_deleted(connection)
            changes.append(f"{company.name}: {connection.platform_name} gone at Codat -> Deleted")
            continue
        before = connection.status
        if connection_status_apply(connection, codat):
            _connection_save(connection)
            if connection.status != before:
                changes.append(
                    f"{company.name}: {connection.platform_name} {before} -> {connection.status}"
                )
    syncs_before = dict(
        DataSync.objects.filter(connection__company=company).values_list("id", "status")
    )
    linked = list(Connection.objects.for_company(company).filter(status=Connection.Status.LINKED))
    if linked:
        # The company's whole history in one walk, shared out to its connections.
        try:
            newest = _newest_pull_operations(
                codat_company_id=str(company.codat_company_id),
                client=client,
                connection_ids=[str(c.codat_connection_id) for c in linked],
            )
        except CodatError as exc:
            logger.info("Could not read pull operations for company %s: %s", company.pk, exc)
            newest = {}
        for connection in linked:
            operations = newest.get(str(connection.codat_connection_id), {})
            _pull_operations_apply(connection=connection, newest=operations)
    for sync in DataSync.objects.filter(connection__company=company).select_related("connection"):
        if syncs_before.get(sync.id) != sync.status:
            changes.append(
                f"{company.name}: {sync.connection.platform_name} {sync.data_type} "
                f"{syncs_before.get(sync.id) or 'unknown'} -> {sync.status}"
            )
    return changes
