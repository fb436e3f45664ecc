"""Reading a company's data for one product, through the consent gate, into the data-use log.

Every read of customer data goes through a `DataUseSession`: it names the product, the purpose
and who is reading (the customer on the dashboard, a member of staff by name, a scheduled job).
Its Codat client asks `selectors.product_data_types` — that product's own live consent, never
another's — before each read, and tells the session of every read, refused ones included. When
the session ends one `DataUse` row records it all (P3, docs/architecture.md §11).

What Codat hands over is kept for a day (`cached_read`), keyed by the company, the data type,
what was asked and the newest completed sync of that type (from `read.completed`, §6): a new
sync makes a new key, so a page built from the copy is never older than Codat's own data, and
most views of the dashboard cost no Codat call. The gate is asked before the copy is used, so a
withdrawal stops reads from the copy at the same moment as reads from Codat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TypeVar

from django.contrib.auth.models import User
from django.core.cache import cache

from codat.client import CodatClient, DataRead
from codat.errors import DataTypeNotConsented
from companies import page_cache
from companies.codat_client import get_client
from companies.models import Company
from connections.models import DataSync
from consents import selectors
from consents.models import DataUse, Product

logger = logging.getLogger("consents")

T = TypeVar("T")

# How long a copy of what Codat handed over is kept. A new sync replaces it sooner.
CACHE_SECONDS = int(timedelta(days=1).total_seconds())
# Keeps a page that reads on a customer's request within a customer's patience.
READ_BUDGET_SECONDS = 8.0


class DataUseSession:
    """One use of one company's data for one product; see the module docstring."""

    def __init__(
        self,
        *,
        company: Company,
        product: Product,
        purpose: str,
        reader_kind: str,
        reader: User | None = None,
    ) -> None:
        self.company = company
        self.product = product
        self.purpose = purpose
        self.reader_kind = reader_kind
        self.reader = reader
        self.read: list[str] = []
        self.refused: list[str] = []
        self.unavailable: list[str] = []
        self.codat_calls = 0
        self.recorded: DataUse | None = None  # the log row, once the session has ended
        self._client: CodatClient | None = None
        self._allowed: frozenset[str] | None = None
        self._newest_syncs: dict[tuple[str, str | None], str] | None = None

    # --- the gate -------------------------------------------------------------------------

    def allowed(self) -> frozenset[str]:
        """What this product may read: asked once per session, so one use (a page) sees one
        consistent answer, as the client asks its gate once per call. Reads that reach Codat
        ask the gate again, then."""
        if self._allowed is None:
            self._allowed = selectors.product_data_types(self.company, self.product)
        return self._allowed

    def newest_sync(self, data_type: str, connection_id: str | None) -> str:
        """When Codat last finished fetching `data_type` (over one connection, or any), read
        for every type at once, the first time a session asks."""
        if self._newest_syncs is None:
            self._newest_syncs = {}
            rows = DataSync.objects.filter(
                connection__company=self.company, last_success_at__isnull=False
            ).values_list("data_type", "connection__codat_connection_id", "last_success_at")
            for row_type, connection, finished in rows:
                stamp = finished.isoformat() if finished else ""
                for key in ((row_type, str(connection)), (row_type, None)):
                    self._newest_syncs[key] = max(self._newest_syncs.get(key, ""), stamp)
        return self._newest_syncs.get((data_type, connection_id), "none")

    def require(self, data_type: str) -> None:
        """Refuse, and log the refusal, unless the product's live consent covers `data_type`."""
        if data_type not in self.allowed():
            self._note(self.refused, data_type)
            raise DataTypeNotConsented(
                f"No live {self.product.slug} consent covers {data_type}",
                data_type=data_type,
                company_id=str(self.company.codat_company_id or ""),
            )

    def client(self) -> CodatClient:
        """A Codat client whose reads pass this product's gate and are heard by this session."""
        if self._client is None:
            self._client = get_client(
                budget=READ_BUDGET_SECONDS,
                read_gate=self._gate,
                read_observer=self._heard,
            )
        return self._client

    def _gate(self, codat_company_id: str, product: str) -> frozenset[str]:
        # A read must name this session's product and company: the log says whose use it was.
        if product != self.product.slug or codat_company_id != str(self.company.codat_company_id):
            return frozenset()
        return selectors.product_data_types_for_codat_company(codat_company_id, product)

    def _heard(self, read: DataRead) -> None:
        if read.outcome == DataRead.REFUSED:
            self._note(self.refused, read.data_type)
            return
        self.codat_calls += 1
        if read.outcome == DataRead.READ:
            self._note(self.read, read.data_type)
        else:
            self._note(self.unavailable, read.data_type)

    @staticmethod
    def _note(types: list[str], data_type: str) -> None:
        if data_type not in types:
            types.append(data_type)

    def note_copy_used(self, data_type: str) -> None:
        self._note(self.read, data_type)

    # --- the log --------------------------------------------------------------------------

    def outcome(self) -> str:
        if self.refused:
            return DataUse.Outcome.PARTLY_REFUSED if self.read else DataUse.Outcome.REFUSED
        if not self.read and self.unavailable:
            return DataUse.Outcome.UNAVAILABLE
        return DataUse.Outcome.READ

    def record(self) -> DataUse | None:
        """Write the session's row; nothing when nothing was read, refused or tried."""
        if not (self.read or self.refused or self.unavailable):
            return None
        return _log(
            _row(
                company=self.company,
                product_id=self.product.pk,
                purpose=self.purpose,
                reader_kind=self.reader_kind,
                reader=self.reader,
                outcome=self.outcome(),
                data_types=self.read,
                refused_data_types=self.refused,
                unavailable_data_types=[t for t in self.unavailable if t not in self.read],
                codat_calls=self.codat_calls,
            )
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


@contextmanager
def data_use(
    *,
    company: Company,
    product: Product,
    purpose: str,
    reader_kind: str,
    reader: User | None = None,
) -> Iterator[DataUseSession]:
    """A session for one use of the company's data; its log row is written however it ends."""
    session = DataUseSession(
        company=company,
        product=product,
        purpose=purpose,
        reader_kind=reader_kind,
        reader=reader,
    )
    try:
        yield session
    finally:
        session.close()
        session.recorded = session.record()


def _row(
    *,
    company: Company,
    product_id: int,
    purpose: str,
    reader_kind: str,
    reader: User | None,
    outcome: str,
    data_types: list[str],
    refused_data_types: list[str],
    unavailable_data_types: list[str],
    codat_calls: int,
) -> DataUse:
    # Staff are named in the log as they were when they read (the log is append-only).
    # A customer is not: the row points at their user, which closing an account
    # pseudonymises, and a name written here would outlive that (P2).
    reader_name = ""
    if reader is not None and reader_kind == DataUse.Reader.STAFF:
        reader_name = reader.get_full_name() or reader.get_username()
    return DataUse(
        company=company,
        product_id=product_id,
        purpose=purpose,
        reader_kind=reader_kind,
        reader=reader,
        reader_name=reader_name,
        outcome=outcome,
        data_types=data_types,
        refused_data_types=refused_data_types,
        unavailable_data_types=unavailable_data_types,
        codat_calls=codat_calls,
    )


def _uses_changed(use: DataUse) -> None:
    # "How your data was used", on My consents, from now on.
    page_cache.facts_changed(use.company_id, page_cache.USES)


def _log(use: DataUse) -> DataUse:
    use.insert()
    _uses_changed(use)
    return use


class UseBeingLogged:
    """A data-use row sent to the database (`data_use_from_copy`). `wait()` returns it once
    written, and must be called before the page that showed the data is answered."""

    def __init__(self, use: DataUse) -> None:
        self.use = use
        self._sent = use.insert_sent()

    def wait(self) -> DataUse:
        self._sent.wait()
        _uses_changed(self.use)
        return self.use


def data_use_from_copy(
    *,
    company: Company,
    product_id: int,
    purpose: str,
    reader_kind: str,
    reader: User | None,
    data_types: list[str],
) -> UseBeingLogged:
    """Log a use that showed again what an earlier one read (a page kept between views,
    companies.page_cache): the row a session that found every type in our copy writes. The
    page is kept only while the consent it was read under stands as it was.

    The row is sent, not yet written: the caller renders the page while the database commits
    it, and calls `wait()` before answering (consents.row_insert)."""
    return UseBeingLogged(
        _row(
            company=company,
            product_id=product_id,
            purpose=purpose,
            reader_kind=reader_kind,
            reader=reader,
            outcome=DataUse.Outcome.READ,
            data_types=data_types,
            refused_data_types=[],
            unavailable_data_types=[],
            codat_calls=0,
        )
    )


# --- the copy of what was read ----------------------------------------------------------------


def _version(company: Company) -> int:
    return cache.get(f"data-use:v:{company.pk}", 0)


def cached_read(
    session: DataUseSession,
    data_type: str,
    fetch: Callable[[CodatClient], T],
    *,
    key: str = "",
    connection_id: str | None = None,
) -> T:
    """What `fetch` reads from Codat, or our copy of it while no newer sync has completed.

    The gate is asked first either way (a refusal is logged and raised)."""
    session.require(data_type)
    company = session.company
    cache_key = ":".join(
        [
            "data-use",
            str(company.pk),
            str(_version(company)),
            data_type,
            connection_id or "-",
            key,
            session.newest_sync(data_type, connection_id),
        ]
    )
    found = cache.get(cache_key)
    if found is not None:
        session.note_copy_used(data_type)
        return found
    result = fetch(session.client())
    cache.set(cache_key, result, CACHE_SECONDS)
    return result


def cached_reads_forget(*, company: Company) -> None:
    """Make every copy kept for the company unreachable at once; the cache drops them within
    CACHE_SECONDS. Called when a consent is withdrawn (the data may no longer be used) and
    when a company is closed."""
    key = f"data-use:v:{company.pk}"
    cache.add(key, 0, None)
    try:
        cache.incr(key)
    except ValueError:  # evicted between the two calls
        cache.set(key, 1, None)
