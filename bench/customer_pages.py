"""Customer pages against a trivial authenticated page, in one process (`make bench`).

A measurement, not a test: it prints each page's time per request beside that of a trivial
`login_required` view rendering a one-line template (`/bench/trivial/`, routed only by
`bench.settings`), and the ratio trivial/page, which is the page's throughput as a fraction of
the trivial view's. The issue's goal is every page ≥ 0.5.

What it does:

1. makes a database of its own (a temporary SQLite file, or with `--database-url` a PostgreSQL
   database created and dropped here), with production-like settings: DEBUG off, no `.env`;
2. migrates it and seeds one business as a customer sees it: a signed-in owner, both products
   agreed to, an accounting and a bank connection, and `--history` consent decisions and
   connection events, and `--disconnected` connections gone, in bulk;
3. in this one process, through Django's full middleware stack (the test client, signed in),
   sends each page `--requests` requests per round, in `--rounds` rounds whose order rotates,
   so that machine noise hits every page alike;
4. prints a table: median and p95 ms per request, queries (on the first view, then once warm)
   and bytes per page, and the ratio.

    .venv/bin/python bench/customer_pages.py --help
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(BASE_DIR), str(BASE_DIR / "bench")]

from summary import NO_GOAL, RATIO_GOAL  # noqa: E402  (the goals `make bench`'s table holds)
from webhook_intake import (  # noqa: E402  (the sibling script, found through sys.path)
    DEFAULT_TASKS_BACKEND,
    RESULTS_DIR,
    BenchError,
    app_environment,
    random_webhook_secret,
    throwaway_database,
)

TRIVIAL_PATH = "/bench/trivial/"
DASHBOARD_PATH = "/insights/"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DEFAULT_PG_DATABASE = "bench_customer_pages"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Customer pages' time per request as a ratio to a trivial signed-in page."
    )
    parser.add_argument("--requests", type=int, default=40, help="requests per page per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, page order rotating (5)")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured requests per page")
    parser.add_argument(
        "--history",
        type=int,
        default=500,
        help="consent decisions, and as many connection events, in the seeded history (500)",
    )
    parser.add_argument(
        "--disconnected", type=int, default=50, help="connections gone, listed on /connections/"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL URL to create (and drop) the bench's own database on; default SQLite",
    )
    parser.add_argument("--database-name", default=DEFAULT_PG_DATABASE)
    parser.add_argument(
        "--cache-url",
        default="locmemcache://",
        help="CACHE_URL for the app (production uses Redis: e.g. redis://127.0.0.1:6379/13)",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="the company's facts change before every measured request, so that each page is "
        "built afresh (what the first view after a grant or a webhook costs)",
    )
    parser.add_argument("--json", nargs="?", const="", default=None, metavar="FILE")
    args = parser.parse_args(argv)
    if min(args.requests, args.rounds) < 1 or min(args.warmup, args.history) < 0:
        parser.error("--requests and --rounds must be ≥ 1, --warmup and --history ≥ 0")
    return args


def configure(database_url: str, cache_url: str, workdir: Path) -> None:
    env = app_environment(
        database_url=database_url,
        webhook_secret=random_webhook_secret(),
        tasks_backend=DEFAULT_TASKS_BACKEND,
        port=8000,
        extra=[f"CACHE_URL={cache_url}", "DJANGO_ALLOWED_HOSTS=testserver,127.0.0.1"],
    )
    os.environ.clear()
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["BENCH_STATIC_ROOT"] = str(workdir / "static")
    import django

    django.setup()


def seed(history: int, disconnected: int):
    """One business with a long past; returns (owner, the bank connection)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from codat.types import source_type_of
    from codat_sandbox.models import SandboxCompany, SandboxConnection, SandboxDataset
    from companies.models import Company, Membership
    from companies.scoping import scopes_disabled
    from connections.models import Connection, DataSync
    from consents.models import Product
    from consents.selectors import allowed_data_types, current_text
    from consents.services import RequestMeta, consent_grant
    from tests.consents.steps import history_add  # the same history the page tests build

    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)
    with scopes_disabled():
        company = Company.objects.create(name="Bench Bakery Ltd", codat_company_id=uuid.uuid4())
        owner = get_user_model().objects.create_user(
            username="owner@bench.example", email="owner@bench.example", password=None
        )
        Membership.objects.create(user=owner, company=company, role=Membership.Role.OWNER)
        long_ago = datetime.now(UTC) - timedelta(days=30)
        connections = {}
        for key, name, kind in (("gbol", "Xero", "Accounting"), ("suuo", "Plaid", "Banking")):
            connections[kind] = Connection.objects.create(
                company=company,
                codat_connection_id=uuid.uuid4(),
                platform_key=key,
                platform_name=name,
                source_type=kind,
                status=Connection.Status.LINKED,
                authorised_at=long_ago,
                linked_at=long_ago,
            )
        for product in Product.objects.active():
            consent_grant(
                company=company,
                product=product,
                actor=owner,
                text_shown=current_text(product),
                meta=RequestMeta(surface="bench", request_id=uuid.uuid4().hex),
            )
        # Everything consented has been fetched: the connection page has nothing to ask Codat.
        DataSync.objects.bulk_create(
            DataSync(
                connection=connections[source_type_of(data_type)],
                data_type=data_type,
                status=DataSync.Status.COMPLETE,
                last_event_at=long_ago,
                last_success_at=long_ago,
            )
            for data_type in allowed_data_types(company)
            if source_type_of(data_type) in connections
        )
        # Codat's side, as the sandbox (playing Codat here) holds it: the company, both
        # connections and a finished fetch of every consented type, so that the dashboard
        # shows figures. Its first view reads them; the rest come from our copy, as in use.
        codat_company = SandboxCompany.objects.create(
            id=company.codat_company_id, name=company.name, created=long_ago
        )
        for connection in connections.values():
            codat_connection = SandboxConnection.objects.create(
                id=connection.codat_connection_id,
                company=codat_company,
                integration_key=connection.platform_key,
                status=SandboxConnection.Status.LINKED,
                created=long_ago,
                linked_at=long_ago,
            )
            SandboxDataset.objects.bulk_create(
                SandboxDataset(
                    company=codat_company,
                    connection=codat_connection,
                    data_type=data_type,
                    requested=long_ago,
                    fetching_at=long_ago,
                    finished_at=long_ago,
                    outcome=SandboxDataset.Outcome.COMPLETE,
                    records_modified=True,
                )
                for data_type in allowed_data_types(company)
                if source_type_of(data_type) == connection.source_type
            )
        history_add(
            company,
            decisions=history,
            disconnected=disconnected,
            start=long_ago - timedelta(days=history),
            step=timedelta(hours=1),
        )
    return owner, connections["Banking"]


def body(response) -> bytes:
    return response.getvalue() if response.streaming else response.content


def measure(args: argparse.Namespace, owner, bank) -> list[dict]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from companies import page_cache
    from companies.selectors import company_for_user

    company = company_for_user(owner)

    def changed() -> None:
        page_cache.facts_changed(company, page_cache.ACCESS, page_cache.USES)

    client = Client()
    client.force_login(owner)
    pages = [
        ("trivial signed-in page", TRIVIAL_PATH),
        ("home", "/"),
        ("My consents", "/consents/"),
        ("a consent", "/consents/lending/"),
        ("receipt (page)", "/consents/receipt/"),
        ("receipt (JSON)", "/consents/receipt.json"),
        ("connections", "/connections/"),
        ("a connection", f"/connections/{bank.id}/"),
        ("a product", "/products/lending/"),
        ("dashboard", DASHBOARD_PATH),
        ("privacy", "/privacy/"),
        ("help", "/help/"),
    ]
    facts = {}
    for _name, path in pages:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
            content = body(response)  # a streamed body's queries run as it is read
        if response.status_code != 200:
            raise BenchError(f"{path} answered {response.status_code}")
        if path == DASHBOARD_PATH and b'<svg class="chart"' not in content:
            raise BenchError(f"{path} shows no figures: the seeded Codat data was not read")
        facts[path] = {"queries": len(queries), "bytes": len(content)}
        for _ in range(args.warmup):
            body(client.get(path))
        # Again once warm: what a page costs when nothing it shows has changed since it was
        # last seen (the common case), beside the first view above.
        with CaptureQueriesContext(connection) as queries:
            body(client.get(path))
        facts[path]["warm_queries"] = len(queries)
    samples: dict[str, list[float]] = {path: [] for _, path in pages}
    for round_number in range(args.rounds):
        shift = round_number % len(pages)
        for _, path in pages[shift:] + pages[:shift]:
            own = samples[path]
            for _ in range(args.requests):
                if args.cold:
                    changed()  # outside the clock: what a grant or a webhook does
                began = time.perf_counter()
                body(client.get(path))
                own.append(time.perf_counter() - began)
    trivial = statistics.median(samples[TRIVIAL_PATH])
    results = []
    for name, path in pages:
        ordered = sorted(samples[path])
        median = statistics.median(ordered)
        results.append(
            {
                "page": name,
                "path": path,
                "median_ms": median * 1000,
                "p95_ms": ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000,
                "ratio": trivial / median,
                **facts[path],
            }
        )
    return results


def report(results: list[dict], args: argparse.Namespace, database: str) -> None:
    print(f"database: {database}; history: {args.history} decisions and as many connection")
    print(f"events, {args.disconnected} connections gone; cache: {args.cache_url}")
    if args.cold:
        print("cold: the company's facts changed before every measured request")
    print(f"{args.rounds} rounds × {args.requests} requests per page, one process, in turn")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    header = f"{'page':<24}{'path':<44}{'median ms':>10}{'p95 ms':>9}{'queries':>10}"
    print(header + f"{'KiB':>8}{'ratio':>7}  goal")
    for row in results:
        goal = (
            ""
            if row["path"] == TRIVIAL_PATH
            else "none"
            if row["path"] in NO_GOAL
            else ("met" if row["ratio"] >= RATIO_GOAL else "NOT MET")
        )
        print(
            f"{row['page']:<24}{UUID.sub('<id>', row['path']):<44}"
            f"{row['median_ms']:>10.2f}{row['p95_ms']:>9.2f}"
            f"{row['queries']:>5}/{row['warm_queries']:<4}{row['bytes'] / 1024:>8.1f}"
            f"{row['ratio']:>7.2f}  {goal}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-pages-") as workdir,
            throwaway_database(args.database_url, args.database_name, Path(workdir)) as (
                url,
                database,
            ),
        ):
            configure(url, args.cache_url, Path(workdir))
            owner, bank = seed(args.history, args.disconnected)
            results = measure(args, owner, bank)
            from django.db import connections

            connections.close_all()  # before the database is dropped
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    report(results, args, database)
    if args.json is not None:
        path = (
            Path(args.json)
            if args.json
            else RESULTS_DIR / (f"customer_pages-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json")
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
        print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
