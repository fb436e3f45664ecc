"""Writing an append-only row in one prepared INSERT, and on PostgreSQL sending it while the
page is rendered (consents.row_insert): the row is the one save() would write, it is written
once `wait()` returns, a query made meanwhile waits for it, a failure fails `wait()`, and a
save receiver is never skipped."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models.signals import pre_save

from companies.models import Company
from consents import row_insert
from consents.models import ConsentText, DataUse, ImmutableRecordError, Product

pytestmark = pytest.mark.django_db

ON_POSTGRESQL = connection.vendor == "postgresql"


@pytest.fixture
def company():
    return Company.objects.create(name="Row Ltd")


def new_use(company, **changes) -> DataUse:
    product = Product.objects.get(slug="business-insights")
    values = {
        "company": company,
        "product": product,
        "purpose": "Show the Business insights dashboard",
        "reader_kind": DataUse.Reader.SYSTEM,
        "outcome": DataUse.Outcome.READ,
        "data_types": ["profitAndLoss", "balanceSheet"],
        "refused_data_types": ["banking-transactions"],
        "codat_calls": 2,
    }
    return DataUse(**{**values, **changes})


def stored(use: DataUse) -> dict:
    found = DataUse.objects.with_scopes_disabled().get(pk=use.pk)
    return {f.attname: getattr(found, f.attname) for f in DataUse._meta.concrete_fields}


def test_insert_writes_the_row_save_writes(company):
    saved = new_use(company)
    saved.save()
    inserted = new_use(company, occurred_at=saved.occurred_at)
    inserted.insert()

    as_saved, as_inserted = stored(saved), stored(inserted)
    assert as_inserted.pop("id") == inserted.pk != as_saved.pop("id")
    assert as_inserted == as_saved
    assert as_inserted["data_types"] == ["profitAndLoss", "balanceSheet"]
    # Written: the row is append-only from now on.
    with pytest.raises(ImmutableRecordError):
        inserted.insert()


def test_a_sent_row_is_written_once_waited_for(company):
    use = new_use(company)
    sent = use.insert_sent()
    assert isinstance(sent, row_insert.InFlight if ON_POSTGRESQL else row_insert.Done)

    sent.wait()
    sent.wait()  # a second wait reads nothing more

    assert stored(use)["purpose"] == "Show the Business insights dashboard"
    assert not use._state.adding
    # Nothing is left standing between the connection and later queries.
    assert all(getattr(w, "__self__", None) is not sent for w in connection.execute_wrappers)


@pytest.mark.skipif(not ON_POSTGRESQL, reason="only PostgreSQL sends the row ahead")
def test_a_query_made_while_the_row_is_in_flight_waits_for_it(company):
    use = new_use(company)
    sent = use.insert_sent()
    assert not sent.finished

    # The connection is busy with the INSERT: a query through Django first reads its answer.
    assert DataUse.objects.with_scopes_disabled().filter(pk=use.pk).count() == 1
    assert sent.finished
    sent.wait()


@pytest.mark.skipif(not ON_POSTGRESQL, reason="only PostgreSQL sends the row ahead")
def test_the_sent_insert_is_counted_with_the_requests_queries(company, django_assert_num_queries):
    use = new_use(company)
    with django_assert_num_queries(1):
        use.insert_sent().wait()


def test_a_row_the_database_refuses_fails_wait_and_the_connection_goes_on(company):
    refused = new_use(company, codat_calls=-1)  # the column's CHECK (a positive integer)
    with pytest.raises(IntegrityError), transaction.atomic():
        refused.insert_sent().wait()

    assert refused._state.adding  # not written: nothing says it was
    later = new_use(company)
    later.insert_sent().wait()
    assert DataUse.objects.with_scopes_disabled().filter(company=company).count() == 1


def test_with_a_save_receiver_connected_both_ways_are_save(company):
    heard = []

    def receiver(sender, instance, **kwargs):
        heard.append(instance.pk)

    pre_save.connect(receiver, sender=DataUse)
    try:
        first, second = new_use(company), new_use(company)
        first.insert()
        sent = second.insert_sent()
        assert isinstance(sent, row_insert.Done)
        sent.wait()
    finally:
        pre_save.disconnect(receiver, sender=DataUse)

    assert heard == [first.pk, second.pk]
    assert DataUse.objects.with_scopes_disabled().filter(company=company).count() == 2


@pytest.mark.skipif(not ON_POSTGRESQL, reason="only PostgreSQL sends the row ahead")
@pytest.mark.django_db(transaction=True)
def test_a_row_whose_connection_closes_before_its_answer_is_not_said_to_be_written(company):
    use = new_use(company)
    sent = use.insert_sent()
    connection.close()  # a worker recycled, a network drop: the answer can no longer come

    with pytest.raises(OperationalError):
        sent.wait()
    assert use._state.adding


def test_a_model_whose_database_makes_the_key_is_refused():
    assert not ConsentText._meta.pk.has_default()  # an auto-incremented key
    with pytest.raises(TypeError, match="primary key needs a default"):
        row_insert.insert_now(ConsentText(body="x"))
