"""Codat data types in plain words, and the kind of connection each one comes from.

Keys are Codat's exact data type keys (docs/codat.md §6.1). The words are ours: what a
business owner would call the data, and what it tells us.
"""

from __future__ import annotations

from dataclasses import dataclass

from codat.types import source_type_of


@dataclass(frozen=True)
class DataType:
    key: str
    label: str
    meaning: str

    @property
    def source_type(self) -> str:
        return source_type_of(self.key)

    def __str__(self) -> str:
        return f"{self.label} — {self.meaning}"


_WORDS = {
    # Accounting
    "company": ("Company details", "your business's name, address and registration"),
    "profitAndLoss": ("Profit and loss", "what you earned and spent, month by month"),
    "balanceSheet": ("Balance sheet", "what your business owns and owes"),
    "cashFlowStatement": ("Cash flow statement", "how money moves in and out"),
    "invoices": ("Invoices", "who owes you, and when"),
    "bills": ("Bills", "who you owe, and when"),
    "customers": ("Customers", "who you sell to"),
    "suppliers": ("Suppliers", "who you buy from"),
    "bankAccounts": ("Bank accounts in your books", "the accounts your bookkeeping tracks"),
    "bankTransactions": ("Bank transactions in your books", "payments your bookkeeping records"),
    "chartOfAccounts": ("Chart of accounts", "how your bookkeeping is organised"),
    "payments": ("Payments received", "which invoices were paid, and when"),
    "billPayments": ("Bill payments", "which bills you paid, and when"),
    "creditNotes": ("Credit notes", "refunds and credits you gave"),
    "journalEntries": ("Journal entries", "adjustments in your books"),
    "taxRates": ("Tax rates", "the tax rates you use"),
    # Banking
    "banking-accounts": ("Bank accounts", "the accounts you hold at your bank"),
    "banking-accountBalances": ("Account balances", "how much is in each account"),
    "banking-transactions": ("Bank transactions", "money in and out of your accounts"),
    "banking-transactionCategories": ("Transaction categories", "how your bank groups them"),
    # Commerce
    "commerce-orders": ("Orders", "what your customers bought"),
    "commerce-payments": ("Payments", "how your customers paid"),
    "commerce-customers": ("Shop customers", "who buys from your shop"),
    "commerce-products": ("Products", "what your shop sells"),
    "commerce-transactions": ("Shop transactions", "payouts and fees"),
    "commerce-companyInfo": ("Shop details", "your shop's name and address"),
}

DATA_TYPES: dict[str, DataType] = {
    key: DataType(key=key, label=label, meaning=meaning) for key, (label, meaning) in _WORDS.items()
}


def describe(keys) -> list[DataType]:
    """Plain words for each key, in the order given; unknown keys keep their Codat name."""
    return [DATA_TYPES.get(key) or DataType(key=key, label=key, meaning="") for key in keys]
