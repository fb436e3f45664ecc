"""The read gate per product, through the app's own path (consents.data_use): a read for one
product can't use another product's consent, and refused reads are logged."""

from __future__ import annotations

import pytest

from codat.errors import DataTypeNotConsented
from consents.data_use import cached_read, data_use
from consents.models import DataUse, ImmutableRecordError, Product

pytestmark = pytest.mark.django_db


def lending_session(company):
    return data_use(
        company=company,
        product=Product.objects.get(slug="lending"),
        purpose="A test read",
        reader_kind=DataUse.Reader.SYSTEM,
    )


def test_a_lending_read_cannot_use_the_insights_consent(synced):
    codat_id = str(synced.codat_company_id)

    with lending_session(synced) as use, pytest.raises(DataTypeNotConsented):
        use.client().get_profit_and_loss(
            codat_id, product="lending", period_length=1, periods_to_compare=1
        )

    logged = DataUse.objects.get(company=synced, product__slug="lending")
    assert logged.outcome == DataUse.Outcome.REFUSED
    assert logged.refused_data_types == ["profitAndLoss"]
    assert logged.codat_calls == 0


def test_a_session_cannot_borrow_another_products_name(synced):
    codat_id = str(synced.codat_company_id)

    # The insights consent covers profit and loss, but this session is Lending's.
    with lending_session(synced) as use, pytest.raises(DataTypeNotConsented):
        use.client().get_profit_and_loss(
            codat_id, product="business-insights", period_length=1, periods_to_compare=1
        )

    assert DataUse.objects.get(company=synced).outcome == DataUse.Outcome.REFUSED


def test_our_copy_is_gated_too(client, synced):
    client.get("/insights/")  # the dashboard keeps a copy of the profit and loss

    with lending_session(synced) as use, pytest.raises(DataTypeNotConsented):
        cached_read(use, "profitAndLoss", lambda c: pytest.fail("Codat was asked"), key="1x12")

    assert DataUse.objects.get(product__slug="lending").refused_data_types == ["profitAndLoss"]


def test_the_data_use_log_is_append_only(client, synced):
    client.get("/insights/")
    use = DataUse.objects.get()

    with pytest.raises(ImmutableRecordError):
        use.save()
    with pytest.raises(ImmutableRecordError):
        DataUse.objects.filter(pk=use.pk).update(purpose="something else")
    with pytest.raises(ImmutableRecordError):
        use.delete()
