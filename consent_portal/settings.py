"""Consent Portal settings: one module, every value from the environment.

Every variable read here is listed in `.env.example` and the README. DEBUG is off unless
`DJANGO_DEBUG` turns it on (`make run` does, for local use).
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from consent_portal import codat_mode

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# The tests (pyproject.toml, [tool.pytest.ini_options] env) and the deploy checks set this false,
# so that a developer's `.env` cannot change what they see.
if env.bool("DJANGO_READ_DOT_ENV", default=True):
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

_DEV_SECRET_KEY = "django-insecure-local-development-only-never-use-in-production-0123456789"
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = _DEV_SECRET_KEY

# Keys the pseudonymous reference that replaces a closed account's members in what is kept
# (companies.services.pseudonym_for). Changing it does not break the kept evidence, but the
# evidence of accounts closed before can then no longer be found from an email address.
EVIDENCE_PSEUDONYM_KEY = env("EVIDENCE_PSEUDONYM_KEY", default="") or SECRET_KEY

SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# How customers' pages name the bank that runs the portal, e.g. where its staff withdrew a
# consent at the customer's request ("Withdrawn by Example Bank: …").
BANK_NAME = env("BANK_NAME", default="your bank")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG is off.")
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- Codat -------------------------------------------------------------------------------
# Real Codat (CODAT_API_KEY) or the built-in sandbox (codat_sandbox), never a guess between
# them: the sandbox is a deliberate choice, on by default only for local work (DEBUG with no
# key) and otherwise only when CODAT_SANDBOX=true names it (a demo deployment).
CODAT_API_KEY = env("CODAT_API_KEY", default="")
CODAT_SANDBOX_ENABLED = codat_mode.sandbox_enabled(
    debug=DEBUG, api_key=CODAT_API_KEY, sandbox=env("CODAT_SANDBOX", default="")
)
# The API key the sandbox accepts. Outside DEBUG it must be set, long and not the public one.
CODAT_SANDBOX_KEY = env("CODAT_SANDBOX_KEY", default=codat_mode.DEV_SANDBOX_KEY if DEBUG else "")
if CODAT_SANDBOX_ENABLED and not DEBUG:
    codat_mode.require_demo_sandbox_key(CODAT_SANDBOX_KEY)
CODAT_BASE_URL = env(
    "CODAT_BASE_URL",
    default=f"{SITE_URL}/sandbox/codat" if CODAT_SANDBOX_ENABLED else "https://api.codat.io",
).rstrip("/")
# In sandbox mode the client talks to the sandbox inside this process (httpx's WSGI transport),
# so nothing waits on a socket to itself. Set false to go over HTTP like any other client.
CODAT_SANDBOX_IN_PROCESS = env.bool("CODAT_SANDBOX_IN_PROCESS", default=True)
# How the sandbox sends its signed webhooks (to the consumers registered with it, as Codat
# does: `manage.py codat_setup --apply` registers the app's): "thread" delivers them from a
# daemon thread under runserver/gunicorn; "off" leaves them for the console's "Send due
# webhooks now".
CODAT_SANDBOX_WEBHOOK_PUMP = env("CODAT_SANDBOX_WEBHOOK_PUMP", default="thread")
# Whether the sandbox carries custom Link URL parameters (our `state`) into the redirect:
# "drop" (default, the reading of Codat's docs the app must survive) or "pass".
CODAT_SANDBOX_CUSTOM_PARAMS = env("CODAT_SANDBOX_CUSTOM_PARAMS", default="drop")
# "off" plays a Codat account with no product enabled: no read.completed* webhooks at all.
CODAT_SANDBOX_READ_WEBHOOKS = env("CODAT_SANDBOX_READ_WEBHOOKS", default="on")
for _name, _value, _allowed in (
    ("CODAT_SANDBOX_CUSTOM_PARAMS", CODAT_SANDBOX_CUSTOM_PARAMS, ("drop", "pass")),
    ("CODAT_SANDBOX_READ_WEBHOOKS", CODAT_SANDBOX_READ_WEBHOOKS, ("on", "off")),
):
    if _value not in _allowed:
        raise ImproperlyConfigured(f"{_name} must be one of {', '.join(_allowed)}, not {_value!r}.")
# How many times faster than its normal pace the sandbox plays a simulated read (1 to 20):
# normally each dataset is queued for 1 s and fetched in 2–4 s. The browser tests, which watch
# reads finish in real time, run them faster; Codat's own reads take minutes.
CODAT_SANDBOX_SYNC_SPEED = env.float("CODAT_SANDBOX_SYNC_SPEED", default=1.0)
if not 1 <= CODAT_SANDBOX_SYNC_SPEED <= 20:
    raise ImproperlyConfigured(
        f"CODAT_SANDBOX_SYNC_SPEED must be between 1 and 20, not {CODAT_SANDBOX_SYNC_SPEED!r}."
    )
# Platform keys the sandbox reports as switched off (to try the "not supported" paths).
CODAT_SANDBOX_DISABLED_INTEGRATIONS = env.list("CODAT_SANDBOX_DISABLED_INTEGRATIONS", default=[])
# Total time one web request may spend talking to Codat, retries and waits included. It stays
# well under gunicorn's worker timeout (30 s).
CODAT_REQUEST_BUDGET_SECONDS = env.float("CODAT_REQUEST_BUDGET_SECONDS", default=10.0)
CODAT_CONNECT_TIMEOUT_SECONDS = env.float("CODAT_CONNECT_TIMEOUT_SECONDS", default=3.0)
CODAT_READ_TIMEOUT_SECONDS = env.float("CODAT_READ_TIMEOUT_SECONDS", default=8.0)
# After this many transient Codat failures in a row, calls fail fast (no network) for
# CODAT_CIRCUIT_RESET_SECONDS, then one trial call decides. 0 turns the breaker off.
CODAT_CIRCUIT_FAIL_MAX = env.int("CODAT_CIRCUIT_FAIL_MAX", default=5)
CODAT_CIRCUIT_RESET_SECONDS = env.float("CODAT_CIRCUIT_RESET_SECONDS", default=30.0)
# Only local development gets a built-in signing secret; everywhere else the system checks
# (and the WSGI app) refuse to start without one from the environment.
CODAT_WEBHOOK_SECRETS = env(
    "CODAT_WEBHOOK_SECRET",
    default=codat_mode.DEV_WEBHOOK_SECRET if DEBUG and CODAT_SANDBOX_ENABLED else "",
).split()
# Webhook bodies above this size are refused before verification (B2).
CODAT_WEBHOOK_MAX_BODY_BYTES = env.int("CODAT_WEBHOOK_MAX_BODY_BYTES", default=256 * 1024)
# The redirect URL Codat must send customers back through: `manage.py codat_setup --apply`
# writes it to Codat's profile (or paste it into the portal, Settings > Auth flow > Redirects).
# Codat fills the placeholders; our own `state` travels through `{state}` as a custom Link URL
# parameter when Codat carries it; when it does not, the return is matched by companyId and
# connectionId.
CODAT_REDIRECT_URL_TEMPLATE = (
    f"{SITE_URL}/connections/return/?state={{state}}&companyId={{companyId}}"
    "&connectionId={connectionId}&platform={platform}&statusCode={statusCode}"
    "&errorMessage={errorMessage}&statusText={statusText}"
)
# How long a Link attempt's state stays valid (RFC 9700: short-lived, single use).
LINK_STATE_TTL_SECONDS = env.int("LINK_STATE_TTL_SECONDS", default=15 * 60)

# --- Django ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "django_ratelimit",
    "companies",
    "connections",
    "consents",
    "insights",
]
if CODAT_SANDBOX_ENABLED:
    INSTALLED_APPS.append("codat_sandbox")

MIDDLEWARE = [
    # Codat's webhooks go straight to the intake, with the headers below and none of the
    # page machinery; anything unusual about one takes the whole stack (W5).
    "consent_portal.middleware.WebhookFastPathMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The header middlewares come before anything that can answer early, so that every page,
    # a refused request's 400 included, carries CSP and X-Frame-Options (D3).
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Before anything reads a cookie, a form or the database: a NUL byte would be a 500 there.
    "consent_portal.middleware.RejectUnusableInputMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Tenant rows are only reachable inside the signed-in customer's company scope (T3).
    "companies.scoping.TenantScopeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Turns a rate-limited request into RATELIMIT_VIEW's 429 page.
    "django_ratelimit.middleware.RatelimitMiddleware",
]

ROOT_URLCONF = "consent_portal.urls"
WSGI_APPLICATION = "consent_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "companies.context_processors.current_company",
                "consents.context_processors.access_banners",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Reuse connections between requests (a new PostgreSQL connection costs more than most of our
# requests), checking them before use.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0 if DEBUG else 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads write at once even locally (requests, the sandbox's webhook pump): take
    # the write lock when a transaction starts instead of failing to upgrade it later, wait for
    # it, and let readers carry on during writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Rate limits and the dataStatus polling throttle live in the cache, so production needs one
# that every server shares (Redis: CACHE_URL=redis://…); the system checks refuse a
# per-process cache there. Locally and in tests a per-process one is fine.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
RATELIMIT_VIEW = "companies.views.rate_limited"
RATELIMIT_IP_META_KEY = "companies.requests.client_ip"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Locally whitenoise serves straight from the source folders, no collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# Locally mail is printed to the console. Outside DEBUG there is no such default: password-reset
# links must never land in a server log, so the deploy checks refuse console, in-memory, file
# and dummy backends (companies.checks), and an unset EMAIL_URL means Django's SMTP default.
EMAIL_CONFIG = env.email_url(
    "EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25"
)
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Consent Portal <no-reply@localhost>")

# The request header our own proxy puts the client's address in (e.g. HTTP_X_FORWARDED_FOR),
# recorded with consent evidence. Empty: REMOTE_ADDR, i.e. no proxy is trusted.
TRUSTED_PROXY_IP_HEADER = env("TRUSTED_PROXY_IP_HEADER", default="")

# --- Background tasks ------------------------------------------------------------------
# The django-tasks API (Django 6's tasks, backported). By default a task runs at once, in the
# request that enqueued it (after its transaction commits). Production uses the database
# backend and its worker (`manage.py db_worker`), or RQ on Redis when one database is outgrown.
TASKS = {
    "default": {
        "BACKEND": env("TASKS_BACKEND", default="django_tasks.backends.immediate.ImmediateBackend"),
    }
}

# --- Security ----------------------------------------------------------------------------
# Browser-facing pages redirect to HTTPS; the webhook does not (Standard Webhooks treats a 3xx
# as a failed delivery), so plain HTTP to it is refused at the proxy instead.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^webhooks/", r"^healthz$", r"^sandbox/codat/"]
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("DJANGO_BEHIND_PROXY", default=False) else None
)
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = not DEBUG
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "companies.views.csrf_failure"
# HSTS preload is an operator's commitment that is hard to undo, opted into with
# DJANGO_HSTS_PRELOAD; until then W021 is an accepted exception (D1).
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
if DEBUG:
    SILENCED_SYSTEM_CHECKS += ["django_ratelimit.E003", "django_ratelimit.W001"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        # Starting a connection POSTs, then redirects to Codat's hosted Link page; browsers
        # apply form-action to that redirect too.
        "form-action": ["'self'"]
        + ([] if CODAT_SANDBOX_ENABLED else ["https://link-api.codat.io", "https://link.codat.io"]),
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "utc": {
            "()": "consent_portal.logging.UTCFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "utc"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs every request URL at INFO, query strings (customer tags) included.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
