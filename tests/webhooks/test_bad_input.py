"""B1: whatever arrives, the webhook never answers 500, and only verified messages are stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connections.models import Connection, WebhookEvent
from tests.webhooks.steps import (
    ACME_CODAT_ID,
    SECRET,
    URL,
    XERO_CODAT_ID,
    as_svix,
    connection_event,
    data_type_entry,
    encode,
    post,
    read_event,
    signed_headers,
)

pytestmark = pytest.mark.django_db

REFUSED = {400, 401, 413, 415}
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def raw_signature(body: bytes, webhook_id: str, timestamp: str, secret: str = SECRET) -> str:
    """A correct signature over raw bytes, for bodies the reference library cannot sign."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = webhook_id.encode() + b"." + timestamp.encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


# --- the explicit table -------------------------------------------------------------------------

BODY = encode({"eventType": "connection.created"})


def headers_with(**changes: str) -> dict[str, str]:
    headers = signed_headers(BODY, webhook_id="msg_table")
    headers.update(changes)
    return headers


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"webhook-signature": "garbage"}, 400),
        ({"webhook-signature": " "}, 400),
        ({"webhook-signature": "v1,a,b"}, 400),
        ({"webhook-signature": "v1"}, 400),
        ({"webhook-signature": "v1,"}, 401),
        ({"webhook-signature": ","}, 401),
        ({"webhook-signature": "v1,abc"}, 400),  # not valid base64 (padding)
        ({"webhook-signature": "v1,!!!!"}, 401),  # decodes to nothing; matches nothing
        ({"webhook-signature": "v1,\u00e9\u00e9\u00e9\u00e9"}, 400),
        ({"webhook-signature": "v2,Zm9vYmFy"}, 401),
        ({"webhook-timestamp": "1614265330.9"}, 400),
        ({"webhook-timestamp": "NaN"}, 400),
        ({"webhook-timestamp": "1e30"}, 400),
        ({"webhook-timestamp": "-1"}, 400),
        ({"webhook-timestamp": ""}, 400),
        ({"webhook-id": "msg with spaces"}, 400),
        ({"webhook-id": "msg_\u00e9"}, 400),
        ({"webhook-id": "m" * 256}, 400),
    ],
)
def test_malformed_headers_are_refused(client, changes, expected):
    response = post(client, BODY, headers_with(**changes))

    assert response.status_code == expected
    assert not WebhookEvent.objects.exists()


def test_duplicate_header_names_are_refused(client):
    # A WSGI server joins repeated headers with commas; each joined value must fail.
    good = signed_headers(BODY)
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        response = post(client, BODY, {**good, name: f"{good[name]},{good[name]}"})
        assert response.status_code in (400, 401), name
    assert not WebhookEvent.objects.exists()


def test_a_correctly_signed_non_utf8_body_is_refused_not_a_500(client):
    body = b'{"eventType": "\xff\xfe connection.created"}'
    webhook_id, timestamp = "msg_latin1", str(int(time.time()))
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": raw_signature(body, webhook_id, timestamp),
    }

    assert post(client, body, headers).status_code == 400
    assert not WebhookEvent.objects.exists()


def test_a_garbled_content_length_is_refused(client):
    response = client.post(
        URL,
        data=BODY,
        content_type="application/json",
        headers=signed_headers(BODY),
        CONTENT_LENGTH="12abc",
    )

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


# --- both header namings at once ------------------------------------------------------------


def test_identical_webhook_and_svix_headers_are_accepted(client):
    headers = signed_headers(BODY)

    assert post(client, BODY, {**headers, **as_svix(headers)}).status_code == 202
    assert WebhookEvent.objects.count() == 1


def other_message_headers() -> dict[str, str]:
    """Correctly signed headers, for another message."""
    return signed_headers(encode({"eventType": "connection.deleted"}))


@pytest.mark.parametrize(
    "build",
    [
        # Each naming alone would verify: which one was meant is unknowable.
        pytest.param(
            lambda good: {**good, **as_svix(signed_headers(BODY))}, id="two-valid-messages"
        ),
        pytest.param(lambda good: {**good, "svix-id": "msg_other"}, id="svix-id-differs"),
        pytest.param(
            lambda good: {
                **as_svix(good),
                "webhook-signature": other_message_headers()["webhook-signature"],
            },
            id="webhook-signature-differs",
        ),
        pytest.param(
            lambda good: {**good, **as_svix(other_message_headers())}, id="svix-for-another-body"
        ),
        # Halves of each naming: refused, never stitched together.
        pytest.param(
            lambda good: {
                "webhook-id": good["webhook-id"],
                "svix-timestamp": good["webhook-timestamp"],
                "svix-signature": good["webhook-signature"],
            },
            id="id-from-one-rest-from-other",
        ),
        pytest.param(
            lambda good: {
                "webhook-id": good["webhook-id"],
                "webhook-timestamp": good["webhook-timestamp"],
                "svix-signature": good["webhook-signature"],
            },
            id="signature-from-the-other",
        ),
        pytest.param(
            lambda good: {**good, "svix-timestamp": good["webhook-timestamp"]},
            id="full-set-plus-one-svix-header",
        ),
    ],
)
def test_mixed_or_conflicting_header_namings_are_refused(client, caplog, build):
    good = signed_headers(BODY)

    response = post(client, BODY, build(good))

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
    assert any("disagree" in r.getMessage() for r in caplog.records)


# --- hypothesis: unsigned noise --------------------------------------------------------------

header_text = st.one_of(
    st.none(),
    st.text(st.characters(max_codepoint=0xFF), max_size=80),
    st.text(st.characters(codec="utf-8"), max_size=40),
)
timestamps = st.one_of(
    header_text,
    st.integers(min_value=-(10**15), max_value=10**15).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.just(str(int(time.time()))),
)
signatures = st.one_of(
    header_text,
    st.lists(
        st.tuples(
            st.sampled_from(["v1", "v1a", "v2", "", "v1,v1"]),
            st.one_of(
                st.binary(min_size=0, max_size=40).map(lambda b: base64.b64encode(b).decode()),
                st.text(max_size=20),
            ),
        ).map(",".join),
        max_size=4,
    ).map(" ".join),
)
content_types = st.one_of(
    st.just("application/json"),
    st.sampled_from(["text/plain", "application/json; charset=latin-1", ""]),
    st.text(max_size=30),
)


@FUZZ
@given(
    body=st.binary(max_size=3000),
    webhook_id=header_text,
    timestamp=timestamps,
    signature=signatures,
    content_type=content_types,
)
def test_arbitrary_unsigned_requests_are_refused_and_never_stored(
    client, body, webhook_id, timestamp, signature, content_type
):
    headers = {
        name: value
        for name, value in (
            ("webhook-id", webhook_id),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", signature),
        )
        if value is not None
    }

    response = post(client, body, headers, content_type=content_type)

    assert response.status_code in REFUSED
    assert not WebhookEvent.objects.exists()


@FUZZ
@given(
    body=st.binary(max_size=500),
    values=st.lists(st.one_of(header_text, timestamps, signatures), min_size=6, max_size=6),
)
def test_arbitrary_unsigned_requests_under_either_naming_are_refused(client, body, values):
    names = [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-id",
        "svix-timestamp",
        "svix-signature",
    ]
    headers = {name: value for name, value in zip(names, values, strict=True) if value is not None}

    response = post(client, body, headers)

    assert response.status_code in REFUSED
    assert not WebhookEvent.objects.exists()


# --- hypothesis: authentic but arbitrary documents -----------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
EVENT_TYPES = [
    "connection.created",
    "connection.connected",
    "connection.failed",
    "connection.disconnected",
    "connection.reconnected",
    "connection.deleted",
    "company.deleted",
    "read.completed",
    "read.completed.initial",
    "client.rateLimit.reached",
    "invoices.write.successful",
]


def maybe(value, strategy=json_values):
    return st.one_of(st.just(value), strategy)


# ISO 8601 date-times of every kind Codat documents (Z, offset, none), extremes included.
dates = st.tuples(st.datetimes(), st.sampled_from(["Z", "+14:00", "-12:00", "", "+00:00"])).map(
    lambda parts: parts[0].isoformat() + parts[1]
)


connections = st.fixed_dictionaries(
    {"id": maybe(XERO_CODAT_ID)},
    optional={
        "status": maybe("Linked", st.sampled_from(["Unlinked", "Deauthorized", "Nope", ""])),
        "lastSync": maybe("2026-11-28T10:00:00Z", dates | json_values),
        "dataConnectionErrors": st.one_of(
            json_values,
            st.lists(
                st.dictionaries(
                    st.sampled_from(["statusCode", "errorMessage", "status", "erroredOnUtc"]),
                    json_values,
                ),
                max_size=3,
            ),
        ),
    },
)
data_type_entries = st.lists(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {
                "connectionId": maybe(XERO_CODAT_ID),
                "dataType": maybe("invoices"),
                "status": maybe("Complete"),
            },
            optional={"recordsModified": json_values, "issues": json_values},
        ),
    ),
    max_size=3,
)
documents = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"eventType": maybe("connection.connected", st.sampled_from(EVENT_TYPES))},
        optional={
            "id": json_values,
            "generatedDate": maybe("2026-11-28T10:00:00.000Z", dates | json_values),
            "payload": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "id": maybe(ACME_CODAT_ID),
                        "referenceCompany": st.one_of(
                            json_values, st.fixed_dictionaries({"id": maybe(ACME_CODAT_ID)})
                        ),
                        "connection": st.one_of(json_values, connections),
                        "dataTypes": st.one_of(json_values, data_type_entries),
                    },
                ),
            ),
        },
    ),
)


@FUZZ
@given(document=documents)
def test_authentic_documents_of_any_shape_are_stored_and_never_crash_processing(
    client, xero, django_capture_on_commit_callbacks, document
):
    body = json.dumps(document).encode()
    headers = signed_headers(body, webhook_id=f"msg_{uuid.uuid4().hex}")

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, body, headers)

    assert response.status_code == 202
    event = WebhookEvent.objects.get(webhook_id=headers["webhook-id"])
    assert event.status in {
        WebhookEvent.Status.PROCESSED,
        WebhookEvent.Status.UNPROCESSABLE,
    }, event.error
    assert Connection.objects.count() == 1


@FUZZ
@given(body=st.binary(max_size=2000))
def test_authentic_bytes_of_any_kind_are_stored_or_refused_never_a_500(client, body):
    webhook_id, timestamp = f"msg_{uuid.uuid4().hex}", str(int(time.time()))
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": raw_signature(body, webhook_id, timestamp),
    }

    response = post(client, body, headers)

    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        assert response.status_code == 400
        assert not WebhookEvent.objects.filter(webhook_id=webhook_id).exists()
    else:
        assert response.status_code == 202
        assert bytes(WebhookEvent.objects.get(webhook_id=webhook_id).body) == body


# --- strings PostgreSQL cannot store (NUL, lone surrogates) -----------------------------------


def test_nul_and_lone_surrogates_in_the_envelope_are_stored_safely(client, deliver):
    # JSON escapes that decode to characters a PostgreSQL text or jsonb column refuses.
    body = b'{"id": "ev\\u0000t", "eventType": "connection.\\u0000connected\\ud800"}'

    response = deliver(body)

    assert response.status_code == 202
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.UNPROCESSABLE
    assert bytes(event.body) == body
    assert "\x00" not in event.event_type + event.event_id + event.error


def test_nul_and_lone_surrogates_in_the_payload_are_applied_safely(deliver, xero):
    moment = datetime(2026, 11, 28, tzinfo=UTC)
    failed = connection_event(
        "connection.failed",
        moment,
        status="PendingAuth",
        errors=[{"statusCode": "403", "errorMessage": "bad\x00\ud800", "status": "Active"}],
    )
    read = read_event(
        moment,
        [data_type_entry("invoices", issues=[{"type": "w\x00", "message": "\ud800", "links": {}}])],
    )

    for document in (failed, read):
        body = json.dumps(document).encode()  # ensure_ascii: \u0000 and \ud800 escapes
        assert deliver(body).status_code == 202

    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {
        WebhookEvent.Status.PROCESSED
    }
    xero.refresh_from_db()
    assert xero.last_error["errorMessage"] == "bad?"
