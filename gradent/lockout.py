"""What a client locked out by django-axes gets: a page that says why and for how long
(the login page and the admin's), or a JSON 429 under /api/."""

from __future__ import annotations

import math

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

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
