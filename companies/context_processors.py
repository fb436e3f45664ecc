from __future__ import annotations

from django.http import HttpRequest

from companies.selectors import request_company


def current_company(request: HttpRequest) -> dict:
    return {"current_company": request_company(request)}
