"""What a client locked out by django-axes gets: a page that says why and for how long
(the login page and the admin's), or a JSON 429 under /api/ (the token endpoint too)."""

from __future__ import annotations

import math

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework_simplejwt.views import TokenObtainPairView

STATUS = 429


def locked_out(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    cool_off = get_cool_off(request)
    seconds = math.ceil(cool_off.total_seconds()) if cool_off else 0
    minutes = max(1, math.ceil(seconds / 60))
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"detail": f"Too many failed logins: try again in {minutes} minute{'s' if minutes != 1 else ''}."},
            status=STATUS,
        )
    else:
        context = {
            "username": get_client_username(request, credentials) or "",
            "failure_limit": get_failure_limit(request, credentials),
            "minutes": minutes,
        }
        response = render(request, "registration/locked_out.html", context, status=STATUS)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


class TokenObtainView(TokenObtainPairView):
    """simplejwt's token endpoint, with axes' 429 for a locked-out name or address. axes
    marks the request it was given as locked out, and simplejwt gives it DRF's request,
    which the middleware never sees: without this the answer was a plain 401, the same as
    a wrong password."""

    def handle_exception(self, exc):
        if getattr(self.request, "axes_locked_out", False):
            return locked_out(self.request._request, credentials=getattr(self.request, "axes_credentials", None))
        return super().handle_exception(exc)
