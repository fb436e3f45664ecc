"""Signing up creates a user, their business and the owner membership, all or nothing."""

from __future__ import annotations

import inspect

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from companies.models import Company, Membership
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


@pytest.mark.django_db
def test_signup_creates_the_user_their_business_and_makes_them_its_owner(client):
    response = client.post("/accounts/signup/", signup_data())

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
    client.post("/accounts/signup/", signup_data())

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


@pytest.mark.django_db
@pytest.mark.parametrize("existing", ["priya@bakery.example", "PRIYA@BAKERY.EXAMPLE"])
def test_an_email_already_in_use_in_any_case_is_refused_and_nothing_is_created(client, existing):
    User.objects.create_user(username=existing.lower(), email=existing, password=GOOD_PASSWORD)
    before = row_counts()

    response = client.post("/accounts/signup/", signup_data(email="Priya@bakery.EXAMPLE"))

    assert response.status_code == 200
    assert "already exists" in response.text
    assert row_counts() == before
    assert not response.context["user"].is_authenticated


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
    # Another sign-up with this email committed between the form's check and ours.
    def already_taken(**kwargs):
        raise ValidationError({"email": "An account with this email address already exists."})

    monkeypatch.setattr("companies.views.company_signup", already_taken)

    response = client.post("/accounts/signup/", signup_data())

    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [
        "An account with this email address already exists."
    ]
    assert not response.context["user"].is_authenticated


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
