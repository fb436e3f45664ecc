"""Helpers shared by the Codat client tests: recorded payloads, a fake clock, a client factory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from codat.client import CodatClient

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "codat"

API_KEY = "my-api-key"
# base64("my-api-key"), as in docs/codat.md §1.
AUTH_HEADER = "Basic bXktYXBpLWtleQ=="
BASE_URL = "https://api.codat.io"

COMPANY_ID = "ab12c58d-a678-4ebf-a159-ae99e1807bd0"
CONNECTION_ID = "ee2eb431-c0fa-4dc9-93fa-d29781c12bcd"


def payload(name: str) -> Any:
    """A recorded Codat body from tests/fixtures/codat/<name>.json."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


class FakeTime:
    """A monotonic clock that only moves when the client sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_client(time: FakeTime | None = None, **kwargs: Any) -> CodatClient:
    """A client for https://api.codat.io whose sleeps and clock are fake."""
    time = time or FakeTime()
    kwargs.setdefault("sleep", time.sleep)
    kwargs.setdefault("clock", time.clock)
    return CodatClient(api_key=API_KEY, base_url=BASE_URL, **kwargs)


def page_of(results: list[Any], *, page: int = 1, page_size: int = 100, total: int | None = None):
    """Codat's paged envelope around `results`."""
    return {
        "results": results,
        "pageNumber": page,
        "pageSize": page_size,
        "totalResults": len(results) if total is None else total,
        "_links": {
            "current": {"href": f"/companies?page={page}&pageSize={page_size}"},
            "self": {"href": "/companies"},
        },
    }
