"""A URLconf for the in-process transport tests: a streaming response that sets two cookies."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.urls import path


def _stream(request):
    response = StreamingHttpResponse(iter([b"first,", b"second"]), content_type="text/plain")
    response.set_cookie("one", "1")
    response.set_cookie("two", "2", httponly=True)
    return response


urlpatterns = [path("stream", _stream)]
