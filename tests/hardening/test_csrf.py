"""D4: account forms refuse POSTs without a CSRF token; templates load nothing from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import Client
from django.urls import URLResolver, get_resolver
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from companies.models import Company
from tests.personas import PASSWORD


@pytest.fixture
def strict_client() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.mark.django_db
def test_signup_without_a_csrf_token_is_refused_and_creates_nothing(strict_client):
    response = strict_client.post(
        "/accounts/signup/",
        {
            "name": "Mallory",
            "email": "mallory@evil.example",
            "business_name": "Evil Ltd",
            "password1": "plum orchard ledger 7781",
            "password2": "plum orchard ledger 7781",
        },
    )

    assert response.status_code == 403
    assert not get_user_model().objects.filter(email="mallory@evil.example").exists()
    assert not Company.objects.filter(name="Evil Ltd").exists()


def test_login_without_a_csrf_token_is_refused(strict_client, owner):
    response = strict_client.post(
        "/accounts/login/", {"username": owner.email, "password": PASSWORD}
    )

    assert response.status_code == 403
    assert "_auth_user_id" not in strict_client.session


def test_logout_without_a_csrf_token_is_refused_and_the_session_survives(strict_client, owner):
    strict_client.force_login(owner)

    response = strict_client.post("/accounts/logout/")

    assert response.status_code == 403
    assert strict_client.session["_auth_user_id"] == str(owner.pk)


def test_password_reset_without_a_csrf_token_is_refused_and_sends_nothing(strict_client, owner):
    response = strict_client.post("/accounts/password-reset/", {"email": owner.email})

    assert response.status_code == 403
    assert mail.outbox == []


def test_setting_a_new_password_without_a_csrf_token_is_refused(strict_client, owner):
    uid = urlsafe_base64_encode(force_bytes(owner.pk))
    token = default_token_generator.make_token(owner)
    form_url = strict_client.get(f"/accounts/reset/{uid}/{token}/")["Location"]

    response = strict_client.post(
        form_url, {"new_password1": "quince harbour 5523", "new_password2": "quince harbour 5523"}
    )

    assert response.status_code == 403
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


# --- Templates: nothing third-party, nothing inline (what the strict CSP would block) ----------

TEMPLATE_DIRS = [Path(settings.BASE_DIR) / "templates"] + [
    path
    for path in Path(settings.BASE_DIR).glob("*/templates")
    if path.parent.name in ("companies", "connections", "consents")
]
TEMPLATES = sorted(
    path for directory in TEMPLATE_DIRS for path in directory.rglob("*") if path.suffix == ".html"
)
# An absolute or scheme-relative URL in src/href/action loads or sends something off-site.
OFF_SITE_URL = re.compile(r"""\b(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
INLINE_STYLE = re.compile(r"""\sstyle\s*=""", re.IGNORECASE)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc\s*=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"""\son[a-z]+\s*=\s*["']""", re.IGNORECASE)


def test_there_are_templates_to_scan():
    assert any(path.name == "base.html" for path in TEMPLATES)


@pytest.mark.parametrize(
    "template", TEMPLATES, ids=lambda path: str(path.relative_to(settings.BASE_DIR))
)
def test_templates_load_nothing_from_third_parties_and_have_no_inline_code(template):
    source = template.read_text(encoding="utf-8")

    assert not OFF_SITE_URL.findall(source), "third-party URL"
    assert not INLINE_STYLE.findall(source), "style attribute"
    assert not INLINE_SCRIPT.findall(source), "inline <script>"
    assert not EVENT_HANDLER.findall(source), "inline event handler"


# --- Only machine-to-machine endpoints may skip CSRF ------------------------------------------

# The webhook is authenticated by its signature, and the sandbox's fake Codat API by Basic auth,
# exactly as Codat's is; neither is ever posted to by a browser carrying our session.
CSRF_EXEMPT_ALLOWED_PREFIXES = ("webhooks/", "sandbox/codat")


def walk_urlconf(patterns, prefix: str = ""):
    for pattern in patterns:
        # Regex routes start with "^"; drop it so prefixes compare as plain paths.
        route = prefix + str(pattern.pattern).lstrip("^")
        if isinstance(pattern, URLResolver):
            yield from walk_urlconf(pattern.url_patterns, route)
        else:
            yield route, pattern.callback


def test_only_signature_or_api_key_authenticated_routes_skip_csrf():
    exempt = [
        route
        for route, callback in walk_urlconf(get_resolver().url_patterns)
        if getattr(callback, "csrf_exempt", False)
    ]

    assert [route for route in exempt if not route.startswith(CSRF_EXEMPT_ALLOWED_PREFIXES)] == []
