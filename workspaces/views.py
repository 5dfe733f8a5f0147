"""Account pages: the user's own API tokens."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from workspaces.models import APIToken


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
