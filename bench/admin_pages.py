"""The admin's changelists and searches on a large database (issue 13: each under 100 ms at
10,000 companies), beside a trivial signed-in page. A measurement, not a test: it prints a
table and exits 0 once it has measured something, 1 if it could not set up.

Two ways to run it:

    # its own database: created on the server named, migrated, seeded with
    # `manage.py seed_scale`, VACUUM ANALYZEd, measured, dropped (`make bench` does this)
    .venv/bin/python bench/admin_pages.py --database-url postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/admin_pages.py --database-url … --companies 1000   # a quick run

    # a database you seeded yourself, used as it is (only a superuser is added)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scale .venv/bin/python bench/admin_pages.py

It signs a superuser in through Django's test client, in this one process (no server), warms
each page once, then times `--rounds` rounds of one request to every page (the order rotating
each round), each preceded by a request to the trivial signed-in page (`/bench/trivial/`, as in
`customer_pages.py`), and prints each page's median and worst, the trivial page's median
divided by the page's (the ratio) and whether the median is under 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(BASE_DIR), str(BASE_DIR / "bench")]

from webhook_intake import (  # noqa: E402  (the sibling script, found through sys.path)
    DEFAULT_TASKS_BACKEND,
    RESULTS_DIR,
    BenchError,
    app_environment,
    random_webhook_secret,
    throwaway_database,
)

TRIVIAL_PATH = "/bench/trivial/"
GOAL_MS = 100.0
DEFAULT_PG_DATABASE = "bench_admin_pages"
DEFAULT_COMPANIES = 10_000

PAGES = [
    "/admin/companies/company/",
    "/admin/companies/company/?q=scale-00042",
    "/admin/companies/company/?q=Business",
    "/admin/companies/company/?q=Trading+00042",
    "/admin/companies/membership/",
    "/admin/companies/membership/?q=scale-00042",
    "/admin/connections/connection/",
    "/admin/connections/connection/?q=Xero",
    "/admin/connections/connection/?q=scale-00042",
    "/admin/connections/connection/?status__exact=Linked",
    "/admin/connections/connection/?status__exact=Unlinked",
    "/admin/connections/datasync/",
    "/admin/connections/datasync/?q=invoices",
    "/admin/connections/datasync/?status__exact=Complete",
    "/admin/consents/consent/",
    "/admin/consents/consent/?q=scale-00042",
    "/admin/consents/consent/?state__exact=active",
    "/admin/consents/consentevent/",
    "/admin/consents/consentevent/?q=scale-00042",
    "/admin/consents/consentevent/?q=Trading+00042",
    "/admin/consents/consentevent/?action__exact=grant",
    "/admin/consents/consentevent/?action__exact=staff",
    "/admin/consents/consentevent/?method=web",
    "/admin/consents/codatsyncstate/",
]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="The admin's lists and searches at a bank's scale, against 100 ms and "
        "beside a trivial signed-in page."
    )
    parser.add_argument("--rounds", type=int, default=7, help="rounds, page order rotating (7)")
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL URL to create (and drop) the bench's own seeded database on; "
        "without it, DATABASE_URL (or .env) is used as it is and must be seeded already",
    )
    parser.add_argument("--database-name", default=DEFAULT_PG_DATABASE)
    parser.add_argument(
        "--companies",
        type=int,
        default=DEFAULT_COMPANIES,
        help="with --database-url: companies to seed, the other counts following "
        f"(seed_scale's default, {DEFAULT_COMPANIES:,})",
    )
    parser.add_argument("--json", nargs="?", const="", default=None, metavar="FILE")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.companies < 1:
        parser.error("--rounds and --companies must be ≥ 1")
    return args


def configure(database_url: str, workdir: Path) -> None:
    """Settings: production-like for the bench's own database; the usual ones otherwise."""
    if database_url:
        env = app_environment(
            database_url=database_url,
            webhook_secret=random_webhook_secret(),
            tasks_backend=DEFAULT_TASKS_BACKEND,
            port=8000,
            extra=["CACHE_URL=locmemcache://", "DJANGO_ALLOWED_HOSTS=testserver,127.0.0.1"],
        )
        os.environ.clear()
        os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"  # the app's, plus the trivial page
    os.environ["BENCH_STATIC_ROOT"] = str(workdir / "static")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # The admin's pages name hashed static files when DEBUG is off, as in production.
    call_command("collectstatic", verbosity=0, interactive=False)
    settings.DEBUG = False
    settings.SECURE_SSL_REDIRECT = False
    settings.ALLOWED_HOSTS = ["*"]


def seed(companies: int) -> float:
    """Migrate, seed_scale and VACUUM ANALYZE the bench's own database; returns the seconds."""
    from django.core.management import call_command
    from django.db import connection

    began = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("seed_scale", companies=companies, stdout=sys.stdout)
    with connection.cursor() as cursor:
        # As after a bulk load in production: statistics for the planner, and the visibility
        # map that lets index-only scans skip the table.
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    return time.perf_counter() - began


def measure(rounds: int) -> tuple[dict[str, list[float]], list[float]]:
    """Each page's times in ms, and the trivial page's, one before every page request."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    staff, _ = get_user_model().objects.get_or_create(
        username="bench-admin@bank.example",
        defaults={"email": "bench-admin@bank.example", "is_staff": True, "is_superuser": True},
    )
    client = Client()
    client.force_login(staff)

    def timed(url: str) -> float:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise BenchError(f"{url} answered {response.status_code}")
        return elapsed

    for url in [TRIVIAL_PATH, *PAGES]:  # warm up: each page once, untimed
        timed(url)
    times: dict[str, list[float]] = {url: [] for url in PAGES}
    trivial: list[float] = []
    for round_number in range(rounds):
        # Every page once a round, the order rotating, each right after the trivial page, so
        # that noise from the rest of the machine falls on every page and the baseline alike.
        shift = round_number % len(PAGES)
        for url in PAGES[shift:] + PAGES[:shift]:
            trivial.append(timed(TRIVIAL_PATH))
            times[url].append(timed(url))
    return times, trivial


def report(
    times: dict[str, list[float]], trivial: list[float], database: str, rounds: int
) -> list[dict]:
    baseline = statistics.median(trivial)
    print(f"database: {database}")
    print(
        f"{rounds} rounds, one request to every page a round, each after the trivial page; "
        f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print()
    print(f"{'page':60} {'median ms':>10} {'worst ms':>10} {'ratio':>7}  goal (< {GOAL_MS:g} ms)")
    print(f"{TRIVIAL_PATH + ' (baseline)':60} {baseline:10.2f} {max(trivial):10.2f} {1:7.2f}")
    results = []
    for url in PAGES:
        median = statistics.median(times[url])
        met = median < GOAL_MS
        results.append(
            {
                "page": url.removeprefix("/admin/"),
                "path": url,
                "median_ms": median,
                "worst_ms": max(times[url]),
                "ratio": baseline / median,
                "goal_met": met,
            }
        )
        print(
            f"{url:60} {median:10.1f} {max(times[url]):10.1f} {baseline / median:7.3f}  "
            + ("met" if met else "NOT MET")
        )
    slow = sum(not row["goal_met"] for row in results)
    print(
        f"GOAL MET: every page under {GOAL_MS:g} ms" if not slow else f"GOAL NOT MET: {slow} pages"
    )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    seed_seconds = None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-admin-") as workdir:
            own = (
                throwaway_database(args.database_url, args.database_name, Path(workdir))
                if args.database_url
                else nullcontext(None)
            )
            with own as created:
                configure(created[0] if created else "", Path(workdir))
                if created:
                    database = f"{created[1]}, seeded with {args.companies:,} companies"
                    print(f"{database}: migrating and seeding …", flush=True)
                    seed_seconds = seed(args.companies)
                    print(f"migrated, seeded and VACUUM ANALYZEd in {seed_seconds:.0f} s")
                else:
                    from django.db import connection

                    database = f"{connection.vendor}, {connection.settings_dict['NAME']} as it is"
                times, trivial = measure(args.rounds)
                from django.db import connections

                connections.close_all()  # before the database is dropped
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    results = report(times, trivial, database, args.rounds)
    if args.json is not None:
        path = (
            Path(args.json)
            if args.json
            else RESULTS_DIR / f"admin_pages-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "args": vars(args),
            "database": database,
            "seed_seconds": seed_seconds,
            "goal_ms": GOAL_MS,
            "baseline": {"page": "trivial signed-in page", "path": TRIVIAL_PATH},
            "baseline_median_ms": statistics.median(trivial),
            "results": results,
        }
        path.write_text(json.dumps(document, indent=2) + "\n")
        print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
