"""Each page in the signed-in user's zone (UserProfile.timezone); UTC for everyone else."""

from __future__ import annotations

from django.utils import timezone

from gradent.lib.orm import one_or_none
from gradent.lib.timefmt import zone_or_none
from workspaces.models import UserProfile


class UserTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = None
        request.timezone_chosen = False
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            name = one_or_none(UserProfile.objects.filter(user=user).values_list("timezone", flat=True)) or ""
            zone = zone_or_none(name)
            request.timezone_chosen = zone is not None
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
