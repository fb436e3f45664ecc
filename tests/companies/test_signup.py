"""Signing up creates a user, their business and the owner membership, all or nothing.

Sign-up answers every email alike and mails the address: a link to finish a new account (with
the password chosen), or a note to an account that already exists. Nothing on the page says
which (so sign-up cannot tell anyone who banks here).
"""

from __future__ import annotations

import inspect
import io
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from companies import services
from companies.models import Company, Membership, PendingSignup
from companies.services import company_signup

User = get_user_model()

GOOD_PASSWORD = "plum orchard ledger 7781"


def signup_data(**overrides: str) -> dict[str, str]:
    return {
        "name": "Priya Patel",
        "email": "Priya@Bakery.example",
        "business_name": "Patel's Bakery",
        "password1": GOOD_PASSWORD,
        "password2": GOOD_PASSWORD,
        **overrides,
    }


def row_counts() -> tuple[int, int, int]:
    return User.objects.count(), Company.objects.count(), Membership.objects.count()


def confirm_link_from(message: mail.EmailMessage) -> str:
    match = re.search(r"https?://\S+/accounts/signup/confirm/[\w-]+/", message.body)
    assert match, message.body
    return urlsplit(match.group(0)).path


def sign_up(client, **overrides: str):
    """Fill in the sign-up form; returns the response and the link mailed to the new address."""
    mail.outbox.clear()
    response = client.post("/accounts/signup/", signup_data(**overrides))
    assert response.status_code == 302, response.content.decode()[:2000]
    [message] = mail.outbox
    return response, confirm_link_from(message)


def finish(client, link: str, password: str = GOOD_PASSWORD):
    return client.post(link, {"password": password})


@pytest.mark.django_db
def test_signup_creates_the_user_their_business_and_makes_them_its_owner(client):
    response, link = sign_up(client)

    assert response["Location"] == "/accounts/signup/sent/"
    assert row_counts() == (0, 0, 0)  # nothing until the mailed link is used
    assert mail.outbox[0].to == ["priya@bakery.example"]
    assert mail.outbox[0].subject == "Finish creating your Consent Portal account"
    assert "Hello Priya Patel" in mail.outbox[0].body
    assert "for Patel's Bakery" in mail.outbox[0].body

    response = finish(client, link)

    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get()
    assert user.username == "priya@bakery.example"
    assert user.email == "priya@bakery.example"
    assert user.first_name == "Priya Patel"
    assert user.check_password(GOOD_PASSWORD)
    membership = Membership.objects.select_related("company").get(user=user)
    assert membership.role == Membership.Role.OWNER
    assert membership.company.name == "Patel's Bakery"


@pytest.mark.django_db
def test_after_signup_the_new_owner_is_signed_in_and_sees_their_business(client):
    _, link = sign_up(client)
    assert not client.get("/").context["user"].is_authenticated  # not before the link
    finish(client, link)

    home = client.get("/")

    assert home.context["user"].is_authenticated
    assert "Hello, Priya Patel" in home.text
    assert "Patel&#x27;s Bakery" in home.text


@pytest.mark.django_db
def test_signup_page_labels_every_input(client):
    response = client.get("/accounts/signup/")

    assert response.status_code == 200
    for field in ["name", "email", "business_name", "password1", "password2"]:
        assert f'<label for="id_{field}">' in response.text
        assert f'id="id_{field}"' in response.text


def comparable(response) -> tuple:
    """What a visitor can see of a response, less what differs on every request anyway."""
    headers = {k: v for k, v in response.headers.items() if k.lower() not in {"set-cookie", "date"}}
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())
    # Pages only: the test client also records the mail templates, which nobody sees here.
    templates = [t.name for t in response.templates if "/email/" not in t.name]
    return response.status_code, templates, headers, body, sorted(response.cookies)


def sign_up_as_a_visitor(email: str) -> list[tuple]:
    """The sign-up POST and the page it leads to, as a fresh visitor sees them."""
    client = Client()
    client.get("/accounts/signup/")
    posted = client.post("/accounts/signup/", signup_data(email=email))
    landed = client.get(posted["Location"])
    return [comparable(posted), comparable(landed)]


@pytest.mark.django_db
@pytest.mark.parametrize("submitted", ["owner@acme.example", " Owner@ACME.example "])
@time_machine.travel("2026-11-28 12:00:01Z", tick=False)  # the same Expires: for both
def test_a_registered_email_gets_the_same_answer_as_a_new_one(owner, submitted):
    before = row_counts()

    registered = sign_up_as_a_visitor(submitted)
    [(_, _, _, registered_page, _)] = registered[1:]
    mail_to_owner = [m for m in mail.outbox if m.to == [owner.email]]
    fresh = sign_up_as_a_visitor("newcomer@bakery.example")

    assert registered == fresh
    assert registered[0][0] == 302
    assert registered[0][2]["Location"] == "/accounts/signup/sent/"
    assert "Check your email" in registered_page
    assert "already exists" not in registered_page
    assert not registered[0][4]  # no cookie: nobody was signed in
    # Only the owner of the address learns which it was.
    [message] = mail_to_owner
    assert message.subject == "Someone tried to sign up with your email address"
    assert row_counts() == before  # no second user, company or membership


@pytest.mark.django_db
@pytest.mark.parametrize("existing", ["priya@bakery.example", "PRIYA@BAKERY.EXAMPLE"])
def test_an_email_already_in_use_in_any_case_creates_nothing_and_tells_its_owner(
    client, existing, settings
):
    settings.SITE_URL = "https://portal.bank.example"
    settings.ALLOWED_HOSTS = ["*"]  # even if a forged Host got through, links point at us
    user = User.objects.create_user(
        username=existing.lower(), email=existing, password=GOOD_PASSWORD, first_name="Priya"
    )
    before = row_counts()

    response = client.post(
        "/accounts/signup/",
        signup_data(email="Priya@bakery.EXAMPLE", password1="a different 8812 secret",
                    password2="a different 8812 secret"),
        headers={"host": "evil.example"},
        follow=True,
    )  # fmt: skip

    assert response.status_code == 200
    assert "already exists" not in response.text
    assert row_counts() == before
    assert not PendingSignup.objects.exists()
    assert not response.context["user"].is_authenticated
    [message] = mail.outbox
    assert message.to == [user.email]
    assert message.subject == "Someone tried to sign up with your email address"
    assert "Hello Priya" in message.body
    assert "If it was you, log in instead:" in message.body
    # Links from SITE_URL, never from the request's Host header.
    assert "https://portal.bank.example/accounts/login/" in message.body
    assert "https://portal.bank.example/accounts/password-reset/" in message.body
    assert "evil.example" not in message.body
    assert "/accounts/signup/confirm/" not in message.body
    # The password typed into the form is still the old one: nothing was changed.
    assert User.objects.get().check_password(GOOD_PASSWORD)


@pytest.mark.django_db
def test_both_answers_cost_one_password_hash_so_timing_does_not_tell_them_apart(owner, monkeypatch):
    hashed = []
    real = services.make_password
    monkeypatch.setattr(services, "make_password", lambda p: hashed.append(p) or real(p))

    Client().post("/accounts/signup/", signup_data(email="owner@acme.example"))
    Client().post("/accounts/signup/", signup_data(email="newcomer@bakery.example"))

    assert hashed == [GOOD_PASSWORD, GOOD_PASSWORD]
    assert len(mail.outbox) == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1", "too short"),
        ("password123", "too common"),
        ("7389201846352", "entirely numeric"),
        ("priyapatel", "too similar"),
    ],
)
def test_a_weak_password_is_refused_with_the_reason(client, password, reason):
    response = client.post("/accounts/signup/", signup_data(password1=password, password2=password))

    assert response.status_code == 200
    assert reason in response.text
    assert row_counts() == (0, 0, 0)


@pytest.mark.django_db
def test_passwords_that_do_not_match_are_refused(client):
    response = client.post("/accounts/signup/", signup_data(password2=GOOD_PASSWORD + "x"))

    assert response.status_code == 200
    assert "The two passwords do not match." in response.text
    assert row_counts() == (0, 0, 0)


@pytest.mark.django_db
@pytest.mark.parametrize("business_name", ["", "   "])
def test_a_business_name_is_required(client, business_name):
    response = client.post("/accounts/signup/", signup_data(business_name=business_name))

    assert response.status_code == 200
    assert response.context["form"].errors["business_name"] == ["This field is required."]
    assert row_counts() == (0, 0, 0)


@pytest.mark.django_db
def test_the_error_summary_links_each_problem_to_its_field(client):
    response = client.post("/accounts/signup/", signup_data(business_name="", email="nope"))

    assert 'class="error-summary"' in response.text
    assert 'href="#id_business_name"' in response.text
    assert 'href="#id_email"' in response.text
    # The input points at its own error message, so a screen reader reads it with the field.
    assert 'aria-invalid="true"' in response.text
    assert 'id="id_business_name_error"' in response.text


@pytest.mark.django_db
def test_an_email_with_characters_a_username_cannot_hold_is_refused_clearly(client):
    response = client.post("/accounts/signup/", signup_data(email="o'brien@bakery.example"))

    assert response.status_code == 200
    assert "letters, digits and @ . + - _ only" in response.text
    assert row_counts() == (0, 0, 0)


@pytest.mark.django_db
def test_losing_a_race_for_the_same_email_shows_a_form_error_not_a_crash(client, monkeypatch):
    _, link = sign_up(client)

    # Another sign-up with this email committed between the link's check and ours.
    def already_taken(**kwargs):
        raise ValidationError({"email": "An account with this email address already exists."})

    monkeypatch.setattr("companies.services.company_signup", already_taken)

    response = finish(client, link)

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "An account with this email address already exists."
    ]
    assert not response.context["user"].is_authenticated


@pytest.mark.django_db
def test_an_account_made_meanwhile_for_the_email_is_reported_at_the_link(client):
    _, link = sign_up(client)
    User.objects.create_user(username="priya@bakery.example", email="priya@bakery.example")

    response = finish(client, link)

    assert response.status_code == 200
    # Told only to whoever holds both the mailed link and the password.
    assert response.context["form"].non_field_errors() == [
        "An account with this email address already exists. Try logging in."
    ]
    assert "already exists" in response.text
    assert not response.context["user"].is_authenticated
    assert not PendingSignup.objects.exists()  # this sign-up can never finish now


@pytest.mark.django_db
def test_the_link_needs_the_password_chosen_at_sign_up(client):
    _, link = sign_up(client)

    response = finish(client, link, "not what was chosen 1234")

    assert response.status_code == 200
    assert "not the password you chose" in response.text
    assert row_counts() == (0, 0, 0)
    assert not response.context["user"].is_authenticated
    assert finish(client, link).status_code == 302  # the right one still works


@pytest.mark.django_db
def test_opening_the_link_changes_nothing_until_the_form_is_sent(client):
    _, link = sign_up(client)

    page = client.get(link)  # what a mail scanner following links does

    assert page.status_code == 200
    assert "Finish creating your account" in page.text
    assert "Patel&#x27;s Bakery" in page.text
    assert 'autocomplete="current-password"' in page.text
    assert row_counts() == (0, 0, 0)


@pytest.mark.django_db
def test_the_link_works_once(client):
    _, link = sign_up(client)
    finish(client, link)
    client.post("/accounts/logout/")

    again = finish(Client(), link)

    assert again.status_code == 404
    assert "This link no longer works" in again.text
    assert row_counts() == (1, 1, 1)


@pytest.mark.django_db
def test_the_link_expires_after_24_hours(client):
    _, link = sign_up(client)

    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        response = finish(client, link)

    assert response.status_code == 404
    assert row_counts() == (0, 0, 0)


@pytest.mark.django_db
def test_a_newer_sign_up_replaces_the_older_link(client):
    _, old_link = sign_up(client, business_name="Wrong Name Ltd")
    _, new_link = sign_up(client)

    assert finish(client, old_link).status_code == 404
    assert finish(client, new_link).status_code == 302
    assert Company.objects.get().name == "Patel's Bakery"


@pytest.mark.django_db
def test_unfinished_sign_ups_keep_only_a_hash_of_the_link_and_of_the_password(client):
    _, link = sign_up(client)
    token = link.rstrip("/").rsplit("/", 1)[1]

    pending = PendingSignup.objects.get()

    assert pending.email == "priya@bakery.example"
    assert token not in pending.token_hash
    assert GOOD_PASSWORD not in pending.password
    assert pending.password.startswith(("pbkdf2", "argon2", "bcrypt", "scrypt", "md5"))


@pytest.mark.django_db
def test_an_unfinished_sign_up_is_forgotten_once_its_link_has_expired(client):
    sign_up(client)

    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        sign_up(Client(), email="someone@else.example")

    assert list(PendingSignup.objects.values_list("email", flat=True)) == ["someone@else.example"]


@pytest.mark.django_db
def test_a_signed_in_owner_visiting_signup_is_sent_home(owner_client):
    response = owner_client.get("/accounts/signup/")

    assert response.status_code == 302
    assert response["Location"] == "/"


# --- the service on its own ----------------------------------------------------------------


@pytest.mark.django_db
def test_company_signup_returns_the_user_with_a_normalised_email():
    user = company_signup(
        name=" Priya Patel ",
        email="  Priya@Bakery.Example ",
        password=GOOD_PASSWORD,
        business_name=" Patel's Bakery ",
    )

    assert user.username == user.email == "priya@bakery.example"
    assert user.first_name == "Priya Patel"
    assert Company.objects.get().name == "Patel's Bakery"


@pytest.mark.django_db
def test_company_signup_refuses_a_duplicate_email_under_the_email_field(owner):
    with pytest.raises(ValidationError) as raised:
        company_signup(
            name="Someone Else",
            email=owner.email.upper(),
            password=GOOD_PASSWORD,
            business_name="Another Ltd",
        )

    assert "email" in raised.value.message_dict
    assert not Company.objects.filter(name="Another Ltd").exists()


@pytest.mark.django_db
def test_company_signup_leaves_no_rows_when_the_last_step_fails(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Membership, "save", fail)

    with pytest.raises(RuntimeError):
        company_signup(
            name="Priya Patel",
            email="priya@bakery.example",
            password=GOOD_PASSWORD,
            business_name="Patel's Bakery",
        )

    assert row_counts() == (0, 0, 0)


def test_company_signup_takes_keyword_arguments_only():
    parameters = inspect.signature(company_signup).parameters.values()

    assert {parameter.kind for parameter in parameters} == {inspect.Parameter.KEYWORD_ONLY}


@pytest.mark.django_db
def test_cron_forgets_expired_sign_ups_even_when_nobody_signs_up(client):
    sign_up(client)
    sign_up(Client(), email="fresh@else.example")
    PendingSignup.objects.filter(email="fresh@else.example").update(
        created_at=timezone.now() + timedelta(hours=2)
    )
    out = io.StringIO()

    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        call_command("purge_pending_signups", stdout=out)
        call_command("purge_pending_signups", stdout=io.StringIO())  # nothing left to do

    assert list(PendingSignup.objects.values_list("email", flat=True)) == ["fresh@else.example"]
    assert "Forgot 1 unfinished sign-up(s)" in out.getvalue()
