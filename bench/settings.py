"""Settings for `bench/customer_pages.py` only: the app's own, plus a URLconf that adds the
trivial authenticated page the customer pages are compared with. Never used to serve the app."""

from __future__ import annotations

import os

from consent_portal.settings import *  # noqa: F403
from consent_portal.settings import BASE_DIR, TEMPLATES

ROOT_URLCONF = "bench.urls"
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], BASE_DIR / "bench" / "templates"]
# Seeding grants consents, whose receipts are emailed after the commit: kept in memory here.
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Production's hashed static files, collected by the bench into its own temporary folder.
STATIC_ROOT = os.environ["BENCH_STATIC_ROOT"]
