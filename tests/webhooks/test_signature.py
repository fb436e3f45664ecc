"""W1–W3: Standard Webhooks signatures, the timestamp window, several signatures and secrets.

Every refused request answers 400 or 401 and stores nothing.
"""

from __future__ import annotations

import base64
import secrets

import pytest
import time_machine

from connections.models import WebhookEvent
from tests.webhooks.steps import OLD_SECRET, SECRET, as_svix, encode, post, signed_headers

# The Standard Webhooks test vector (docs/codat.md §8.2).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = "1614265330"
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

pytestmark = pytest.mark.django_db


@pytest.fixture
def vector_secret(settings):
    settings.CODAT_WEBHOOK_SECRETS = [VECTOR_SECRET]


@pytest.fixture
def at_vector_time():
    with time_machine.travel(int(VECTOR_TIMESTAMP), tick=False):
        yield


def vector_headers(**changes: str) -> dict[str, str]:
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": VECTOR_TIMESTAMP,
        "webhook-signature": VECTOR_SIGNATURE,
    }
    headers.update(changes)
    return headers


# --- W1 -------------------------------------------------------------------------------------


def test_the_published_vector_verifies_and_is_stored_byte_for_byte(
    client, vector_secret, at_vector_time
):
    response = post(client, VECTOR_BODY, vector_headers())

    assert response.status_code == 202
    event = WebhookEvent.objects.get()
    assert event.webhook_id == VECTOR_ID
    assert bytes(event.body) == VECTOR_BODY


ONE_CHARACTER_CHANGED = [
    pytest.param(
        vector_headers(**{"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJel"}), VECTOR_BODY, id="id"
    ),
    pytest.param(
        vector_headers(**{"webhook-timestamp": "1614265331"}), VECTOR_BODY, id="timestamp"
    ),
    pytest.param(vector_headers(), b'{"test": 2432232315}', id="body"),
    pytest.param(
        vector_headers(**{"webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="}),
        VECTOR_BODY,
        id="signature",
    ),
    pytest.param(vector_headers(), b'{"test":2432232314}', id="minified-body"),
    pytest.param(vector_headers(), b'{"test": 2432232314}\n', id="trailing-newline"),
]


@pytest.mark.parametrize("headers, body", ONE_CHARACTER_CHANGED)
def test_one_changed_character_fails_and_stores_nothing(
    client, vector_secret, at_vector_time, headers, body
):
    response = post(client, body, headers)

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


# Codat delivers through Svix, which may name the headers svix-id, svix-timestamp and
# svix-signature: the same check applies under either name.


def test_the_published_vector_verifies_under_svix_header_names(
    client, vector_secret, at_vector_time
):
    response = post(client, VECTOR_BODY, as_svix(vector_headers()))

    assert response.status_code == 202
    event = WebhookEvent.objects.get()
    assert event.webhook_id == VECTOR_ID
    assert bytes(event.body) == VECTOR_BODY


@pytest.mark.parametrize("headers, body", ONE_CHARACTER_CHANGED)
def test_one_changed_character_fails_under_svix_header_names_too(
    client, vector_secret, at_vector_time, headers, body
):
    response = post(client, body, as_svix(headers))

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_the_vector_is_refused_with_another_secret(client, at_vector_time):
    response = post(client, VECTOR_BODY, vector_headers())

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


# --- W2 -------------------------------------------------------------------------------------

NOW = 1_790_000_000


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86_400])
def test_a_timestamp_outside_five_minutes_is_refused(client, offset):
    body = encode({"eventType": "connection.created"})
    with time_machine.travel(NOW, tick=False):
        response = post(client, body, signed_headers(body, timestamp=NOW + offset))

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("offset", [-299, 0, 299])
def test_a_timestamp_inside_five_minutes_is_accepted(client, offset):
    body = encode({"eventType": "connection.created"})
    with time_machine.travel(NOW, tick=False):
        response = post(client, body, signed_headers(body, timestamp=NOW + offset))

    assert response.status_code == 202
    assert WebhookEvent.objects.count() == 1


@pytest.mark.parametrize(
    "timestamp",
    [
        "1614265330.9",  # the library would floor it and accept; we refuse
        "1614265330.0",
        "NaN",
        "nan",
        "inf",
        "1e30",
        "1e9",
        "-1614265330",
        "-161426533",
        " 1614265330",
        "1614265330 ",
        "0x6037A1F2",
        "１６１４２６５３３０",  # full-width digits: int() accepts them, the spec does not
        "1614265330, 1614265330",  # a repeated header, joined
        "9999999999999",  # more than 12 digits
        "invalid timestamp",
    ],
)
def test_a_timestamp_that_is_not_integer_seconds_is_refused(
    client, vector_secret, at_vector_time, timestamp
):
    response = post(client, VECTOR_BODY, vector_headers(**{"webhook-timestamp": timestamp}))

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_or_empty_signature_header_is_refused(
    client, vector_secret, at_vector_time, missing
):
    headers = vector_headers()
    del headers[missing]

    assert post(client, VECTOR_BODY, headers).status_code == 400
    assert post(client, VECTOR_BODY, {**headers, missing: ""}).status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_svix_timestamp_outside_five_minutes_is_refused(client, offset):
    body = encode({"eventType": "connection.created"})
    with time_machine.travel(NOW, tick=False):
        response = post(client, body, as_svix(signed_headers(body, timestamp=NOW + offset)))

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("timestamp", ["1614265330.9", "NaN", "1e30", " 1614265330"])
def test_a_svix_timestamp_that_is_not_integer_seconds_is_refused(
    client, vector_secret, at_vector_time, timestamp
):
    headers = as_svix(vector_headers(**{"webhook-timestamp": timestamp}))

    assert post(client, VECTOR_BODY, headers).status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("missing", ["svix-id", "svix-timestamp", "svix-signature"])
def test_a_missing_or_empty_svix_header_is_refused(client, vector_secret, at_vector_time, missing):
    headers = as_svix(vector_headers())
    del headers[missing]

    assert post(client, VECTOR_BODY, headers).status_code == 400
    assert post(client, VECTOR_BODY, {**headers, missing: ""}).status_code == 400
    assert not WebhookEvent.objects.exists()


# --- W3 -------------------------------------------------------------------------------------


def random_signature() -> str:
    return "v1," + base64.b64encode(secrets.token_bytes(32)).decode()


def test_several_signatures_pass_when_one_matches(client):
    body = encode({"eventType": "connection.created"})
    headers = signed_headers(body)
    good = headers["webhook-signature"]
    headers["webhook-signature"] = f"v1a,xxx {random_signature()} {good}"

    assert post(client, body, headers).status_code == 202


def test_the_published_multi_signature_header_passes(client, vector_secret, at_vector_time):
    header = (
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
        "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
        f"{VECTOR_SIGNATURE} "
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
    )

    assert (
        post(client, VECTOR_BODY, vector_headers(**{"webhook-signature": header})).status_code
        == 202
    )


def test_only_wrong_signatures_fail(client):
    body = encode({"eventType": "connection.created"})
    headers = signed_headers(body)
    headers["webhook-signature"] = f"v1a,xxx {random_signature()} {random_signature()}"

    assert post(client, body, headers).status_code == 401
    assert not WebhookEvent.objects.exists()


def test_during_rotation_a_message_signed_with_the_old_secret_passes(client, settings):
    settings.CODAT_WEBHOOK_SECRETS = [SECRET, OLD_SECRET]
    body = encode({"eventType": "connection.created"})

    response = post(client, body, signed_headers(body, secret=OLD_SECRET))

    assert response.status_code == 202


def test_rotation_and_several_signatures_work_under_svix_header_names(client, settings):
    settings.CODAT_WEBHOOK_SECRETS = [SECRET, OLD_SECRET]
    body = encode({"eventType": "connection.created"})
    headers = as_svix(signed_headers(body, secret=OLD_SECRET))
    headers["svix-signature"] = f"{random_signature()} {headers['svix-signature']}"

    assert post(client, body, headers).status_code == 202


def test_after_rotation_a_message_signed_with_the_old_secret_fails(client, settings):
    settings.CODAT_WEBHOOK_SECRETS = [SECRET]
    body = encode({"eventType": "connection.created"})

    response = post(client, body, signed_headers(body, secret=OLD_SECRET))

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_a_message_signed_with_an_unknown_secret_fails(client, settings):
    settings.CODAT_WEBHOOK_SECRETS = [SECRET, OLD_SECRET]
    unknown = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    body = encode({"eventType": "connection.created"})

    response = post(client, body, signed_headers(body, secret=unknown))

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
)
def test_a_secret_works_with_or_without_its_prefix(client, settings, at_vector_time, secret):
    settings.CODAT_WEBHOOK_SECRETS = [secret]

    assert post(client, VECTOR_BODY, vector_headers()).status_code == 202


def test_with_no_usable_secret_the_webhook_fails_closed(client, settings):
    settings.CODAT_WEBHOOK_SECRETS = ["whsec_"]
    body = encode({"eventType": "connection.created"})

    response = post(client, body, signed_headers(body))

    assert response.status_code == 503
    assert not WebhookEvent.objects.exists()
