from __future__ import annotations

from django.http import HttpRequest

from companies.selectors import company_for_user


def current_company(request: HttpRequest) -> dict:
    if not hasattr(request, "_current_company"):
        request._current_company = company_for_user(request.user)  # type: ignore[attr-defined]
    return {"current_company": request._current_company}  # type: ignore[attr-defined]
