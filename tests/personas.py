"""The personas' password and how a member is made, for tests and fixtures alike. Plain helpers;
the fixtures are in conftest.py."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from companies.models import Company, Membership

PASSWORD = "correct horse battery staple 42"


def make_member(email: str, *, company: Company, role: str = Membership.Role.OWNER, name: str = ""):
    user = get_user_model().objects.create_user(
        username=email, email=email, password=PASSWORD, first_name=name or email.split("@")[0]
    )
    Membership.objects.create(user=user, company=company, role=role)
    return user
