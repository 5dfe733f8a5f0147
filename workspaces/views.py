"""Account pages: the user's own API tokens and settings (time zone)."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from gradent.lib.timefmt import zone_names
from workspaces.models import APIToken, UserProfile


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What this token is for, e.g. “CI deploy script”.")
    scope = forms.ChoiceField(choices=APIToken.Scope.choices, initial=APIToken.Scope.WRITE)
    expires_in_days = forms.TypedChoiceField(
        label="Expires",
        coerce=int,
        empty_value=None,
        required=False,
        choices=[("", "Never"), (7, "In 7 days"), (30, "In 30 days"), (90, "In 90 days"), (365, "In a year")],
    )


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    """List the user's tokens; POST creates one and shows its key in this one response."""
    raw_key = None
    new_token = None
    if request.method == "POST":
        form = TokenForm(request.POST)
        if form.is_valid():
            days = form.cleaned_data["expires_in_days"]
            new_token, raw_key = APIToken.issue(
                user=request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                expires=timezone.now() + timedelta(days=days) if days else None,
            )
            form = TokenForm()
    else:
        form = TokenForm()
    response = render(
        request,
        "workspaces/token_list.html",
        {
            "form": form,
            "tokens": APIToken.objects.filter(user=request.user),
            "new_token": new_token,
            "raw_key": raw_key,
        },
    )
    # The key is in this page only: no cache, no back-button copy.
    add_never_cache_headers(response)
    return response


@require_POST
@login_required
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = APIToken.objects.filter(user=request.user, pk=pk).first()
    if token is None:
        raise Http404("No such token among yours.")
    name = str(token)
    token.delete()
    messages.success(request, f"Token {name} revoked; programs using it are refused from now on.")
    return redirect("workspaces:tokens")


def _zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zone_names()) if "/" in name or name == "UTC"]


class SettingsForm(forms.Form):
    timezone = forms.ChoiceField(
        label="Time zone",
        choices=_zone_choices,
        help_text="Every page shows times in this zone; hover a time to see it in UTC.",
    )


@login_required
def account_settings(request: HttpRequest) -> HttpResponse:
    profile, _ = UserProfile.objects.get_or_create(user=request.user)
    if request.method == "POST":
        form = SettingsForm(request.POST)
        if form.is_valid():
            profile.timezone = form.cleaned_data["timezone"]
            profile.save(update_fields=["timezone", "updated"])
            messages.success(request, f"Times are now shown in {profile.timezone}.")
            return redirect("workspaces:settings")
    else:
        form = SettingsForm(initial={"timezone": profile.timezone or "UTC"})
    return render(request, "workspaces/settings.html", {"form": form, "profile": profile})


@require_POST
@login_required
def browser_timezone(request: HttpRequest) -> HttpResponse:
    """The browser's zone, sent once by static/gradent.js while the user has none: it never
    overrides a zone the user chose."""
    name = request.POST.get("timezone", "")
    if name not in zone_names():
        return JsonResponse({"timezone": [f"Unknown time zone: {name[:64]!r}."]}, status=400)
    updated = UserProfile.objects.filter(user=request.user, timezone="").update(timezone=name)
    if not updated:
        _, created = UserProfile.objects.get_or_create(user=request.user, defaults={"timezone": name})
        if not created:
            return JsonResponse({"timezone": name, "changed": False})
    return JsonResponse({"timezone": name, "changed": True})
