"""Run the same work from several threads at once, each with its own database connection."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable

from django.db import connection


def race(work: Callable[[], object], *, threads: int = 2, timeout: float = 60) -> list:
    """Start `threads` copies of `work` together; return what they raised (empty: nothing)."""
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []
    # New threads start with empty context variables; give each the caller's, so that the
    # work runs in the same tenant scope as the test that started it.
    caller = contextvars.copy_context()

    def run() -> None:
        try:
            barrier.wait()
            caller.copy().run(work)
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=timeout)
    return errors
