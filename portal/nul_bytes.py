"""A NUL byte in a request's query or path is refused with a 400, for every page and the API.

PostgreSQL's text cannot hold one: a filter such as ``/api/v1/audit/?actor=%00`` reached the
database and was a 500 there (the API fuzzer found it), where SQLite answered. Request bodies
need no such guard: DRF's and Django's form fields refuse NUL characters themselves.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

REFUSED = "A NUL character is not allowed in a request's address or its parameters."


def _holds_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path:
        return True
    return any(
        "\x00" in key or any("\x00" in value for value in values)
        for key, values in request.GET.lists()
    )


class NulByteMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _holds_nul(request):
            if request.path_info.startswith("/api/"):
                return JsonResponse({"detail": REFUSED, "code": "invalid"}, status=400)
            return HttpResponseBadRequest(REFUSED)
        return self.get_response(request)
