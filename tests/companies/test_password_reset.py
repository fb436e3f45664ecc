"""Forgotten passwords: a mailed, single-use link to choose a new one."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail

from tests.personas import PASSWORD

NEW_PASSWORD = "quince harbour vellum 5523"


def reset_link_from(message: mail.EmailMessage) -> str:
    match = re.search(r"https?://\S+/accounts/reset/\S+/", message.body)
    assert match, message.body
    return match.group(0)


def request_reset(client, email: str = "owner@acme.example"):
    return client.post("/accounts/password-reset/", {"email": email})


def choose_new_password(client, link: str, password: str = NEW_PASSWORD):
    # Django swaps the token in the URL for a session marker, then shows the form there.
    landing = client.get(urlsplit(link).path)
    assert landing.status_code == 302
    return client.post(landing["Location"], {"new_password1": password, "new_password2": password})


def test_the_owner_gets_a_mail_whose_link_lets_them_choose_a_new_password(client, owner):
    response = request_reset(client)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password-reset/sent/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["owner@acme.example"]
    assert message.subject == "Reset your Consent Portal password"
    assert "Hello Olive Owner" in message.body

    done = choose_new_password(client, reset_link_from(message))

    assert done.status_code == 302
    assert done["Location"] == "/accounts/reset/done/"


def test_after_a_reset_the_new_password_works_and_the_old_one_does_not(client, owner):
    request_reset(client)
    choose_new_password(client, reset_link_from(mail.outbox[0]))

    assert client.login(username="owner@acme.example", password=NEW_PASSWORD)
    assert not client.login(username="owner@acme.example", password=PASSWORD)


def test_the_email_is_matched_whatever_its_case(client, owner):
    request_reset(client, "OWNER@Acme.Example")

    assert len(mail.outbox) == 1


def test_a_reset_link_works_only_once(client, owner):
    request_reset(client)
    link = reset_link_from(mail.outbox[0])
    choose_new_password(client, link)

    second = client.get(urlsplit(link).path, follow=True)

    assert "This link no longer works" in second.text


def test_the_new_password_must_pass_the_same_rules_as_at_signup(client, owner):
    request_reset(client)

    response = choose_new_password(client, reset_link_from(mail.outbox[0]), "password123")

    assert response.status_code == 200
    assert "This password is too common." in response.text


@pytest.mark.django_db
def test_an_unknown_email_sees_the_same_page_and_no_mail_is_sent(client):
    response = request_reset(client, "nobody@nowhere.example")

    assert response["Location"] == "/accounts/password-reset/sent/"
    assert mail.outbox == []


def test_the_link_in_the_mail_points_at_site_url_whatever_the_host_header(client, owner, settings):
    # Even if a forged Host got through ALLOWED_HOSTS, the mailed link must point at us.
    settings.ALLOWED_HOSTS = ["*"]
    settings.SITE_URL = "https://portal.example"

    client.post("/accounts/password-reset/", {"email": owner.email}, HTTP_HOST="evil.example")

    assert reset_link_from(mail.outbox[0]).startswith("https://portal.example/accounts/reset/")
