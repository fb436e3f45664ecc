"""A circuit breaker for calls to Codat (X5).

After `fail_max` transient failures in a row (timeouts, refused connections, 5xx), calls fail
fast for `reset_timeout` seconds without touching the network; then one trial call at a time
is let through, and its outcome closes or reopens the circuit. The state lives in a cache
every server shares, so one server's outage detection spares the others their timeouts too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol


class SharedCache(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...
    def set(self, key: str, value: Any, timeout: float | None = ...) -> None: ...
    def add(self, key: str, value: Any, timeout: float | None = ...) -> bool: ...
    def incr(self, key: str, delta: int = ...) -> int: ...
    def delete_many(self, keys: list[str]) -> None: ...


class CircuitBreaker:
    def __init__(
        self,
        cache: SharedCache,
        *,
        fail_max: int = 5,
        reset_timeout: float = 30.0,
        key: str = "codat-circuit",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache = cache
        self.fail_max = fail_max
        self.reset_timeout = reset_timeout
        self.clock = clock
        self._failures = f"{key}:failures"
        self._open_until = f"{key}:open-until"
        self._trial = f"{key}:trial"

    def allow(self) -> bool:
        """May a call go out now? False while open; one caller at a time once it may close."""
        open_until = self.cache.get(self._open_until)
        if open_until is None:
            return True
        if self.clock() < open_until:
            return False
        return self.cache.add(self._trial, 1, timeout=self.reset_timeout)

    @property
    def is_open(self) -> bool:
        open_until = self.cache.get(self._open_until)
        return open_until is not None and self.clock() < open_until

    def record_success(self) -> None:
        self.cache.delete_many([self._failures, self._open_until, self._trial])

    def record_failure(self) -> None:
        if self.cache.get(self._open_until) is not None:
            self._open()  # the trial call failed too
            return
        self.cache.add(self._failures, 0, timeout=self.reset_timeout * 10)
        if self.cache.incr(self._failures) >= self.fail_max:
            self._open()

    def _open(self) -> None:
        self.cache.set(
            self._open_until, self.clock() + self.reset_timeout, timeout=self.reset_timeout * 10
        )
        self.cache.delete_many([self._failures, self._trial])
