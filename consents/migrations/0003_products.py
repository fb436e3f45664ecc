"""The two products we ship, each with the first published version of its consent wording."""

import hashlib

from django.db import migrations

INSIGHTS_TEXT = """\
Business insights dashboard shows how your business is doing: your profit, what you own and \
owe, and how cash moves, updated every day from your own books.

To do that we read the data listed on this page from your accounting software, and from your \
bank if you connect it. We read nothing else, and we use it only to build your dashboard.

Codat reads the data on our behalf, as our data processor. Your login details stay with your \
software or bank: neither we nor Codat see your password.

We keep what we read for as long as you share it. If you withdraw, we stop reading at once and \
delete what we hold for this product within 30 days. We keep a record of your decisions (what \
you agreed to, and when) for six years, as the law asks of us.

You can withdraw at any time from this product's page or from "My consents". Withdrawing is as \
easy as agreeing, and it does not affect anything else you use with us.
"""

LENDING_TEXT = """\
Lending uses your financial data to assess your application and to offer you credit: who owes \
you and whom you owe, your profit and balance sheet, and the money moving through your bank \
accounts. If you also connect your online shop, we use your orders and payments too.

We read only the data listed on this page, and use it only to assess and manage your \
borrowing with us.

Codat reads the data on our behalf, as our data processor. Your login details stay with your \
software or bank: neither we nor Codat see your password.

We keep what we read while your application or loan is open and for six years after it ends, \
as lending rules require; then we delete it. We keep a record of your decisions (what you \
agreed to, and when) for the same period.

You can withdraw at any time from this product's page or from "My consents". We then stop \
reading your data at once. Withdrawing does not end a loan you already have.
"""

PRODUCTS = [
    {
        "slug": "business-insights",
        "name": "Business insights dashboard",
        "purpose": "A live view of your profit, cash and what you own and owe, built from your "
        "own books.",
        "required_source_types": ["Accounting"],
        "data_types": ["company", "profitAndLoss", "balanceSheet", "cashFlowStatement"],
        "optional_data_types": [
            "banking-accounts",
            "banking-accountBalances",
            "banking-transactions",
        ],
        "display_order": 1,
        "text": INSIGHTS_TEXT,
    },
    {
        "slug": "lending",
        "name": "Lending",
        "purpose": "Apply for business credit and get a decision based on your real numbers, "
        "not paperwork.",
        "required_source_types": ["Accounting", "Banking"],
        "data_types": [
            "invoices",
            "bills",
            "customers",
            "suppliers",
            "bankAccounts",
            "profitAndLoss",
            "balanceSheet",
            "banking-accounts",
            "banking-transactions",
        ],
        "optional_data_types": ["commerce-orders", "commerce-payments"],
        "display_order": 2,
        "text": LENDING_TEXT,
    },
]


def create_products(apps, schema_editor):
    Product = apps.get_model("consents", "Product")
    ConsentText = apps.get_model("consents", "ConsentText")
    for spec in PRODUCTS:
        spec = dict(spec)
        body = spec.pop("text")
        product = Product.objects.create(**spec)
        ConsentText.objects.create(
            product=product,
            version=1,
            body=body,
            sha256=hashlib.sha256(body.encode()).hexdigest(),
        )


class Migration(migrations.Migration):
    dependencies = [("consents", "0002_append_only_triggers")]

    operations = [migrations.RunPython(create_products, migrations.RunPython.noop)]
