"""W3: without a usable webhook signing secret the app refuses to start."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from connections.checks import codat_webhook_secrets_check
from tests.webhooks.steps import OLD_SECRET, SECRET


def error_ids(settings, secrets) -> list[str]:
    settings.CODAT_WEBHOOK_SECRETS = secrets
    return [message.id for message in codat_webhook_secrets_check()]


def test_valid_secrets_pass(settings):
    assert error_ids(settings, [SECRET]) == []
    assert error_ids(settings, [SECRET, OLD_SECRET]) == []


def test_no_secret_is_an_error(settings):
    assert error_ids(settings, []) == ["connections.E001"]


@pytest.mark.parametrize("bad", ["", "whsec_", "whsec_a", "whsec_!!!!"])
def test_an_empty_or_garbled_secret_is_an_error(settings, bad):
    assert error_ids(settings, [SECRET, bad]) == ["connections.E002"]


def test_a_string_instead_of_a_list_is_an_error(settings):
    assert error_ids(settings, SECRET) == ["connections.E003"]


def test_the_error_names_the_secret_by_position_only(settings):
    settings.CODAT_WEBHOOK_SECRETS = [SECRET, "whsec_a"]

    (error,) = codat_webhook_secrets_check()

    assert "#2 of 2" in error.msg
    assert "whsec_a" not in error.msg + (error.hint or "")


def test_manage_py_check_refuses_an_empty_secret(settings):
    settings.CODAT_WEBHOOK_SECRETS = ["whsec_"]

    with pytest.raises(SystemCheckError, match="connections.E002"):
        call_command("check")


def test_the_check_is_registered_and_passes_with_a_valid_secret(settings):
    settings.CODAT_WEBHOOK_SECRETS = [SECRET]

    call_command("check")
    call_command("check", deploy=True, fail_level="ERROR")
