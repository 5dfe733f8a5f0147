"""Gradent's URLs plus `POST /bench/bare`: the same server, middleware and process, and a
view that does nothing but answer 202 (the baseline of bench/webhook_ingest.py)."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    request.body  # noqa: B018 - read the body, as any real receiver must
    return HttpResponse(status=202)


urlpatterns = [
    path("bench/bare", bare),
    path("", include("gradent.urls")),
]
