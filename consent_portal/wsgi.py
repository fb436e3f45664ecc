"""WSGI entry point (gunicorn consent_portal.wsgi)."""

import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consent_portal.settings")

application = get_wsgi_application()

# gunicorn runs no system checks; without a usable webhook secret no webhook could be verified,
# so the server refuses to start rather than reject every delivery (W3).
from connections.checks import codat_webhook_secrets_check  # noqa: E402

if problems := codat_webhook_secrets_check():
    raise ImproperlyConfigured("; ".join(problem.msg for problem in problems))
