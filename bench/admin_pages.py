"""The admin's changelists and searches on a large database, in milliseconds (issue 13: each
under 100 ms at 10,000 companies). A measurement, not a test: it prints a table and exits 0.

Seed the database first (`manage.py seed_scale`), then, for example:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scale .venv/bin/python bench/admin_pages.py

It signs a superuser in through Django's test client, in this one process (no server), warms
each page once, then times `--rounds` rounds of one request to every page (the order rotating
each round) and prints each page's median and worst.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consent_portal.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    setup_test_environment()
    settings.DEBUG = False
    settings.SECURE_SSL_REDIRECT = False
    settings.ALLOWED_HOSTS = ["*"]
    staff, _ = get_user_model().objects.get_or_create(
        username="bench-admin@bank.example",
        defaults={"email": "bench-admin@bank.example", "is_staff": True, "is_superuser": True},
    )
    client = Client()
    client.force_login(staff)
    for url in PAGES:  # warm up: each page once, untimed
        assert client.get(url).status_code == 200, url
    times: dict[str, list[float]] = {url: [] for url in PAGES}
    for round_number in range(args.rounds):
        # Every page once a round, the order rotating, so that noise from the rest of the
        # machine falls on every page alike.
        shift = round_number % len(PAGES)
        for url in PAGES[shift:] + PAGES[:shift]:
            started = time.perf_counter()
            response = client.get(url)
            times[url].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, url
    print(f"{'page':60} {'median ms':>10} {'worst ms':>10}")
    slow = 0
    for url in PAGES:
        median = statistics.median(times[url])
        slow += median >= 100
        print(f"{url:60} {median:10.1f} {max(times[url]):10.1f}")
    print("GOAL MET: every page under 100 ms" if not slow else f"GOAL NOT MET: {slow} pages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
