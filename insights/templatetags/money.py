"""`{{ amount|money }}`: pounds with thousands separators, the sign before the pound sign."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def money(value, places: int = 0) -> str:
    if value is None or value == "":
        return "—"
    amount = Decimal(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}£{abs(amount):,.{int(places)}f}"
