"""Pages for notification channels. Every channel comes through `get_object_for_user`
(404 outside the user's workspaces, 403 for a viewer's writes); lists through `scope_queryset`."""

from __future__ import annotations

import json
from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from gradent.lib.pages import delete_page, form_page
from notifications.forms import ChannelForm
from notifications.models import Channel, Notification
from notifications.serializers import describe_channel
from notifications.services import channel_enable, channel_send_test
from notifications.transports import kind_choices
from workspaces.scoping import get_object_for_user, scope_queryset, user_can_write, writable_workspaces

NOTIFICATIONS_PER_PAGE = 50


@login_required
def channel_list(request: HttpRequest) -> HttpResponse:
    latest = Notification.objects.filter(channel=OuterRef("pk")).order_by("-id")
    channels = list(
        scope_queryset(Channel.objects.select_related("workspace"), request.user).annotate(
            last_status=Subquery(latest.values("status")[:1]),
            last_created=Subquery(latest.values("created")[:1]),
        )
    )
    for channel in channels:
        channel.target = describe_channel(channel)
    return render(
        request,
        "notifications/channel_list.html",
        {"channels": channels, "can_create": writable_workspaces(request.user).exists()},
    )


# What each built-in kind is for, on the "choose a kind" page; users' own kinds show their label.
KIND_BLURBS = {
    "discord": "Messages in a Discord channel, through one of its webhooks.",
    "ntfy": "Push notifications to phones and desktops through an ntfy topic (ntfy.sh or your own server).",
    "slack": "Messages in a Slack channel, through an incoming webhook.",
    "webhook": "A JSON POST to any URL you run, signed with a Standard Webhooks secret.",
    "email": "Plain emails to one or more addresses, through the server's mail settings.",
}


@login_required
def channel_create(request: HttpRequest) -> HttpResponse:
    """First the kind (a page listing them), then a form with only that kind's fields."""
    kind = request.GET.get("kind") or request.POST.get("kind") or ""
    if kind not in dict(kind_choices()):
        kinds = [{"kind": k, "label": label, "blurb": KIND_BLURBS.get(k, "")} for k, label in kind_choices()]
        return render(
            request,
            "notifications/channel_kinds.html",
            {"kinds": kinds},
            status=400 if request.method == "POST" else 200,
        )
    return form_page(
        request,
        partial(ChannelForm, kind=kind),
        template="notifications/channel_form.html",
        context_name="channel",
        message=lambda channel: f"Channel “{channel.name}” created. Send a test to check it.",
        success_url=_detail_url,
    )


@login_required
def channel_edit(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_for_user(Channel.objects.all(), request.user, write=True, pk=pk)
    return form_page(
        request,
        ChannelForm,
        instance=channel,
        template="notifications/channel_form.html",
        context_name="channel",
        message=lambda channel: f"Channel “{channel.name}” saved.",
        success_url=_detail_url,
    )


def _detail_url(channel: Channel) -> str:
    return reverse("notifications:detail", args=[channel.pk])


@login_required
def channel_detail(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_for_user(
        Channel.objects.select_related("workspace").prefetch_related("agents"), request.user, pk=pk
    )
    page = Paginator(channel.notifications.select_related("run").order_by("-id"), NOTIFICATIONS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "notifications/channel_detail.html",
        {
            "channel": channel,
            "target": describe_channel(channel),
            "page": page,
            "notifications": page.object_list,
            "can_write": user_can_write(request.user, channel.workspace_id),
            "config_json": json.dumps(channel.config, indent=2, ensure_ascii=False),
            "secret_names": sorted(channel.secrets),
        },
    )


@require_POST
@login_required
def channel_test(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_for_user(Channel.objects.all(), request.user, write=True, pk=pk)
    notification, result, error = channel_send_test(channel=channel, sender=request.user.get_username())
    if result is None:
        status = f" (HTTP {notification.peer_status})" if notification.peer_status else ""
        messages.error(request, f"The test message was not accepted{status}: {error}")
    else:
        status = f"HTTP {result.status}: " if result.status else ""
        messages.success(request, f"Test message sent. {status}{(result.detail or result.answer)[:300]}")
    return redirect("notifications:detail", pk=channel.pk)


@require_POST
@login_required
def channel_enable_view(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_for_user(Channel.objects.all(), request.user, write=True, pk=pk)
    channel_enable(channel=channel)
    messages.success(request, f"Channel “{channel.name}” enabled.")
    return redirect("notifications:detail", pk=channel.pk)


@login_required
def channel_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes the channel with its log."""
    channel = get_object_for_user(Channel.objects.all(), request.user, write=True, pk=pk)
    return delete_page(
        request,
        channel,
        message=f"Channel “{channel.name}” deleted, with its log.",
        success_url=reverse("notifications:list"),
        template="notifications/channel_confirm_delete.html",
        context=lambda: {"channel": channel, "notification_count": channel.notifications.count()},
    )
