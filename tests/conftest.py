"""Shared fixtures: personas and their signed-in clients.

Personas: `owner` (signed up, owns Acme Ltd), `colleague` (a member of Acme Ltd),
`outsider` (owns Other Co — a different tenant), `staff` (a superuser for the admin).
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from companies.models import Company, Membership

PASSWORD = "correct horse battery staple 42"


@pytest.fixture(autouse=True)
def _plain_http_in_tests(settings):
    # Production settings redirect every page to HTTPS; the hardening tests turn it back on.
    settings.SECURE_SSL_REDIRECT = False


def make_member(email: str, *, company: Company, role: str = Membership.Role.OWNER, name: str = ""):
    user = get_user_model().objects.create_user(
        username=email, email=email, password=PASSWORD, first_name=name or email.split("@")[0]
    )
    Membership.objects.create(user=user, company=company, role=role)
    return user


@pytest.fixture
def acme(db) -> Company:
    return Company.objects.create(name="Acme Ltd")


@pytest.fixture
def other_co(db) -> Company:
    return Company.objects.create(name="Other Co")


@pytest.fixture
def owner(acme):
    return make_member("owner@acme.example", company=acme, name="Olive Owner")


@pytest.fixture
def colleague(acme):
    return make_member("colleague@acme.example", company=acme, role=Membership.Role.MEMBER)


@pytest.fixture
def outsider(other_co):
    return make_member("outsider@other.example", company=other_co, name="Oscar Outsider")


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser(
        username="staff@bank.example", email="staff@bank.example", password=PASSWORD
    )


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner) -> Client:
    return _client_for(owner)


@pytest.fixture
def outsider_client(outsider) -> Client:
    return _client_for(outsider)


@pytest.fixture
def staff_client(staff) -> Client:
    return _client_for(staff)
