"""Cron work in bounded batches: a job that reads what is due a batch at a time holds a bounded
number of rows in memory, and may change the rows it reads between batches (SQLite cannot be
written while a read of the same table is still open)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from django.db import models

# Rows read per query by the cron jobs.
CRON_BATCH_SIZE = 200

_M = TypeVar("_M", bound=models.Model)


def in_batches(queryset: models.QuerySet[_M], size: int = CRON_BATCH_SIZE) -> Iterator[_M]:
    """Each row of `queryset`, by primary key, read `size` rows a query (keyset pagination:
    each query starts after the last key seen, so rows changed on the way are not skipped or
    read twice). The query's own ordering is replaced by the key's."""
    last = None
    while True:
        batch_query = queryset.order_by("pk")
        if last is not None:
            batch_query = batch_query.filter(pk__gt=last)
        batch = list(batch_query[:size])
        yield from batch
        if len(batch) < size:
            return
        last = batch[-1].pk
