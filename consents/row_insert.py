"""Writing one new append-only row in one prepared INSERT, and on PostgreSQL, sending it
before the page that depends on it is built (docs/architecture.md §11, "A row per view").

`insert_now(row)` is what `save()` does for a new row, without building the query each time:
for rows written on every view of a page, save() spends longer building its INSERT than the
database spends running it.

`insert_sent(row)` sends the INSERT and returns at once; `wait()` on what it returns blocks
until the database has answered, committed when no transaction is open. The view builds its
response in between, so that most of the commit's wait for the disk overlaps with rendering,
and returns it only after `wait()`: no page is answered before its row is durable, and a
failed INSERT fails the request exactly as a synchronous one would.

While the INSERT is in flight the connection belongs to it: any query the request makes
through Django first waits for it (an execute wrapper), so a query cannot be sent on a busy
connection, only delayed. Only for models whose primary key has a default, whose fields all
take a plain `%s`, and with no save signal connected (with one, both are `save()`, so that no
receiver is skipped). On another database, `insert_sent` inserts before it returns.
"""

from __future__ import annotations

import contextlib
import select
import time
from collections.abc import Callable
from typing import Any

from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.signals import post_save, pre_save
from psycopg import adapt, errors, pq

# How long `wait()` waits for the database, at most, before it gives up on the connection.
WAIT_SECONDS = 30.0

_STATEMENTS: dict[tuple[type[models.Model], str, str], tuple[str, list[models.Field]]] = {}


def _statement(
    model: type[models.Model], connection: BaseDatabaseWrapper, placeholders: Callable[[int], str]
) -> tuple[str, list[models.Field]]:
    key = (model, connection.vendor, placeholders.__name__)
    found = _STATEMENTS.get(key)
    if found is None:
        if not model._meta.pk.has_default():
            # The database would make the key, and the row would not learn it.
            raise TypeError(f"{model.__name__}'s primary key needs a default to be inserted here")
        fields = list(model._meta.concrete_fields)
        quote = connection.ops.quote_name
        # Names from the model, quoted; every value is a parameter.
        sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
            quote(model._meta.db_table),
            ", ".join(quote(f.column) for f in fields),
            ", ".join(placeholders(i) for i in range(1, len(fields) + 1)),
        )
        found = _STATEMENTS[key] = (sql, fields)
    return found


def _plain(_: int) -> str:
    return "%s"


def _numbered(i: int) -> str:
    return f"${i}"


def _signals_connected(model: type[models.Model]) -> bool:
    return pre_save.has_listeners(model) or post_save.has_listeners(model)


def _params(row: models.Model, fields: list[models.Field], connection) -> list[Any]:
    return [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]


def _written(row: models.Model, alias: str) -> None:
    row._state.adding = False
    row._state.db = alias


def insert_now(row: models.Model) -> None:
    """INSERT `row`, a new one, and return once the database has it."""
    model = type(row)
    alias = router.db_for_write(model, instance=row)
    if _signals_connected(model):
        row.save(force_insert=True, using=alias)
        return
    connection = connections[alias]
    sql, fields = _statement(model, connection, _plain)
    with connection.cursor() as cursor:
        cursor.execute(sql, _params(row, fields, connection))
    _written(row, alias)


class Done:
    """An INSERT already made: nothing to wait for."""

    def wait(self) -> None:
        return None


class InFlight:
    """An INSERT sent on a PostgreSQL connection, its answer not yet read."""

    def __init__(self, row: models.Model, alias: str, sql: str, pgconn, began: float) -> None:
        self.row = row
        self.alias = alias
        self.sql = sql
        self.pgconn = pgconn  # the libpq connection it went out on
        self.began = began
        self.finished = False

    def _guard(self, execute, sql, params, many, context):
        # Any other query on this connection waits for the INSERT first.
        self.wait()
        return execute(sql, params, many, context)

    def wait(self) -> None:
        if self.finished:
            return
        self.finished = True
        connection = connections[self.alias]
        with contextlib.suppress(ValueError):
            connection.execute_wrappers.remove(self._guard)
        pgconn = self.pgconn
        deadline = time.monotonic() + WAIT_SECONDS
        with connection.wrap_database_errors:
            if connection.connection is None or connection.connection.pgconn is not pgconn:
                # Closed (or replaced) since: the answer is lost, so is any word of the row.
                raise errors.OperationalError("the connection closed before the INSERT's answer")
            pgconn.consume_input()
            while pgconn.is_busy():
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([pgconn.socket], [], [], left)[0]:
                    # An answer that never came leaves the connection unusable.
                    connection.close()
                    raise errors.QueryCanceled("no answer to the INSERT in time")
                pgconn.consume_input()
            failure = None
            while (result := pgconn.get_result()) is not None:
                if result.status != pq.ExecStatus.COMMAND_OK and failure is None:
                    failure = result
            if failure is not None:
                state = failure.error_field(pq.DiagnosticField.SQLSTATE) or b""
                message = failure.error_message.decode(errors="replace").strip()
                raise errors.lookup(state.decode() or "XX000")(message)
        if connection.queries_logged:
            connection.queries_log.append(
                {"sql": self.sql, "time": f"{time.monotonic() - self.began:.3f}"}
            )
        _written(self.row, self.alias)


def insert_sent(row: models.Model) -> Done | InFlight:
    """Send the INSERT of `row`, a new one; `wait()` on the result before answering."""
    model = type(row)
    alias = router.db_for_write(model, instance=row)
    connection = connections[alias]
    if connection.vendor != "postgresql" or _signals_connected(model):
        insert_now(row)
        return Done()
    # The health check a request's first query makes, made now: once the INSERT is out, it
    # could not be made without closing the connection under it.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    pg = connection.connection
    sql, fields = _statement(model, connection, _numbered)
    transformer = adapt.Transformer(pg)
    params = _params(row, fields, connection)
    values = transformer.dump_sequence(params, [adapt.PyFormat.TEXT] * len(params))
    began = time.monotonic()
    with connection.wrap_database_errors:
        pg.pgconn.send_query_params(
            sql.encode(),
            values,
            param_types=transformer.types,
            param_formats=[pq.Format.TEXT] * len(params),
        )
        while pg.pgconn.flush():  # the rest of the message once the socket can take it
            select.select([], [pg.pgconn.socket], [], WAIT_SECONDS)
    sent = InFlight(row, alias, sql, pg.pgconn, began)
    connection.execute_wrappers.append(sent._guard)
    return sent
