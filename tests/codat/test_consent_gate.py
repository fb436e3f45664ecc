"""The consent gate: no data type moves unless an active consent allows it (C5;
docs/architecture.md §4).

The client asks the gate before any network I/O, so a refused call leaves no trace at Codat.
"""

from __future__ import annotations

import json

import pytest

from codat.errors import DataTypeNotConsented
from codat.types import SyncSetting
from companies.codat_client import get_client
from consents import selectors as consent_selectors
from consents.services import codat_client
from tests.codat import BASE_URL, COMPANY_ID, make_client, payload

pytestmark = pytest.mark.respx(base_url=BASE_URL, assert_all_called=False)

OTHER_COMPANY_ID = "0498e921-9b53-4396-a412-4f2f5983b0a2"


class RecordingGate:
    """Allows `allowed[company_id]`; records every company it was asked about."""

    def __init__(self, allowed: dict[str, set[str]]) -> None:
        self.allowed = allowed
        self.asked: list[str] = []

    def __call__(self, company_id: str) -> frozenset[str]:
        self.asked.append(company_id)
        return frozenset(self.allowed.get(company_id, set()))


def test_queueing_a_type_without_consent_is_refused_with_no_http_call(respx_mock):
    route = respx_mock.route()
    gate = RecordingGate({COMPANY_ID: {"invoices"}})

    with pytest.raises(DataTypeNotConsented, match="banking-transactions") as caught:
        make_client(data_type_gate=gate).queue_data_type(COMPANY_ID, "banking-transactions")

    assert route.call_count == 0
    assert caught.value.data_type == "banking-transactions"
    assert caught.value.company_id == COMPANY_ID
    assert gate.asked == [COMPANY_ID]


def test_queueing_a_consented_type_goes_through(respx_mock):
    route = respx_mock.post(f"/companies/{COMPANY_ID}/data/queue/invoices").respond(
        200, json=payload("pull_operation")
    )

    make_client(data_type_gate=RecordingGate({COMPANY_ID: {"invoices"}})).queue_data_type(
        COMPANY_ID, "invoices"
    )

    assert route.call_count == 1


def test_consent_for_one_company_does_not_cover_another(respx_mock):
    route = respx_mock.route()
    gate = RecordingGate({COMPANY_ID: {"invoices"}})

    with pytest.raises(DataTypeNotConsented):
        make_client(data_type_gate=gate).queue_data_type(OTHER_COMPANY_ID, "invoices")

    assert route.call_count == 0
    assert gate.asked == [OTHER_COMPANY_ID]


def test_sync_settings_with_one_unconsented_type_are_refused_whole(respx_mock):
    route = respx_mock.route()
    gate = RecordingGate({COMPANY_ID: {"invoices"}})

    with pytest.raises(DataTypeNotConsented, match="bills"):
        make_client(data_type_gate=gate).set_sync_settings(
            COMPANY_ID,
            [SyncSetting("invoices", True, 24, 0), SyncSetting("bills", True, 24, 1)],
        )

    assert route.call_count == 0


def test_sync_settings_with_only_consented_types_are_sent(respx_mock):
    route = respx_mock.post(f"/companies/{COMPANY_ID}/syncSettings").respond(204)
    gate = RecordingGate({COMPANY_ID: {"invoices", "bills"}})

    make_client(data_type_gate=gate).set_sync_settings(
        COMPANY_ID, [SyncSetting("invoices", True, 24, 0), SyncSetting("bills", True, 24, 1)]
    )

    assert route.call_count == 1
    # One question per call, so a call never mixes two answers from a changing gate.
    assert gate.asked == [COMPANY_ID]


@pytest.mark.parametrize(
    "setting",
    [SyncSetting("bills", True, 0, 1), SyncSetting("bills", False, 24, 1)],
    ids=["fetched on first link", "on a schedule"],
)
def test_switching_an_unconsented_type_on_in_any_way_is_refused(respx_mock, setting):
    route = respx_mock.route()
    gate = RecordingGate({COMPANY_ID: {"invoices"}})

    with pytest.raises(DataTypeNotConsented, match="bills"):
        make_client(data_type_gate=gate).set_sync_settings(
            COMPANY_ID, [SyncSetting("invoices", True, 24, 0), setting]
        )

    assert route.call_count == 0


def test_switching_unconsented_types_off_needs_no_consent(respx_mock):
    route = respx_mock.post(f"/companies/{COMPANY_ID}/syncSettings").respond(204)
    gate = RecordingGate({COMPANY_ID: {"invoices"}})

    make_client(data_type_gate=gate).set_sync_settings(
        COMPANY_ID,
        [SyncSetting("invoices", True, 24, 0), SyncSetting("bills", False, 0, 1)],
    )
    # Even with no gate at all: turning everything off can only fetch less.
    make_client().set_sync_settings(COMPANY_ID, [SyncSetting("bills", False, 0, 0)])

    assert route.call_count == 2
    sent = json.loads(route.calls[0].request.content)["settings"]
    assert [(item["dataType"], item["fetchOnFirstLink"]) for item in sent] == [
        ("invoices", True),
        ("bills", False),
    ]


def test_client_wide_settings_may_switch_nothing_on(respx_mock):
    # No consent covers every company, so no client-wide setting may fetch anything.
    route = respx_mock.route()

    with pytest.raises(DataTypeNotConsented, match="invoices"):
        make_client(
            data_type_gate=RecordingGate({COMPANY_ID: {"invoices"}})
        ).set_client_sync_settings(
            "367f7975-267b-439b-90c6-a6040ee680f3",
            [SyncSetting("bills", False, 0, 0), SyncSetting("invoices", False, 24, 1)],
        )

    assert route.call_count == 0


def test_emptying_the_sync_settings_needs_no_consent(respx_mock):
    route = respx_mock.post(f"/companies/{COMPANY_ID}/syncSettings").respond(204)

    make_client().set_sync_settings(COMPANY_ID, [])

    assert route.call_count == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda client: client.queue_data_type(COMPANY_ID, "invoices"),
        lambda client: client.set_sync_settings(COMPANY_ID, [SyncSetting("invoices", True, 24, 0)]),
    ],
    ids=["queue_data_type", "set_sync_settings"],
)
def test_without_a_gate_every_data_type_is_refused(respx_mock, call):
    route = respx_mock.route()

    with pytest.raises(DataTypeNotConsented, match="invoices"):
        call(make_client())

    assert route.call_count == 0


def test_a_gate_that_fails_stops_the_call_before_any_http(respx_mock):
    route = respx_mock.route()

    def broken_gate(company_id: str) -> frozenset[str]:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        make_client(data_type_gate=broken_gate).queue_data_type(COMPANY_ID, "invoices")

    assert route.call_count == 0


def test_reading_data_status_needs_no_consent(respx_mock):
    # It describes syncs (ids, statuses, times), never the customer's data itself.
    respx_mock.get(f"/companies/{COMPANY_ID}/dataStatus").respond(200, json=payload("data_status"))

    client = make_client()

    assert client.get_data_status(COMPANY_ID)


# --- the app hands the consents app's selector in; without it nothing is allowed -------------


@pytest.fixture
def real_codat(settings):
    settings.CODAT_SANDBOX_ENABLED = False
    settings.CODAT_API_KEY = "my-api-key"
    settings.CODAT_BASE_URL = BASE_URL
    return settings


def test_the_consents_apps_client_asks_the_consents_selector(real_codat, respx_mock, monkeypatch):
    asked: list[str] = []

    def allowed_data_types_for_codat_company(codat_company_id: str) -> frozenset[str]:
        asked.append(codat_company_id)
        return frozenset({"invoices"})

    monkeypatch.setattr(
        consent_selectors,
        "allowed_data_types_for_codat_company",
        allowed_data_types_for_codat_company,
    )
    route = respx_mock.post(f"/companies/{COMPANY_ID}/data/queue/invoices").respond(
        200, json=payload("pull_operation")
    )
    client = codat_client()

    client.queue_data_type(COMPANY_ID, "invoices")
    with pytest.raises(DataTypeNotConsented):
        client.queue_data_type(COMPANY_ID, "bills")

    assert route.call_count == 1
    assert asked == [COMPANY_ID, COMPANY_ID]


def test_a_client_built_without_the_consent_gate_allows_nothing(real_codat, respx_mock):
    route = respx_mock.route()

    with pytest.raises(DataTypeNotConsented):
        get_client().queue_data_type(COMPANY_ID, "invoices")

    assert route.call_count == 0
