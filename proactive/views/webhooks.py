"""Webhook pages: list, create / edit (the secret shown once), detail with deliveries,
regenerate the secret, delete; a delivery's page and its replay."""

from __future__ import annotations

import json
import shlex
import uuid
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from agents.views import pretty_json
from gradent.lib.pages import delete_page, form_page
from gradent.lib.siteurl import site_url
from proactive import hooks
from proactive.forms import WebhookForm
from proactive.models import Webhook, WebhookDelivery
from proactive.services import webhook_replay
from proactive.signatures import SCHEMES, get_scheme
from proactive.views.common import (
    BODY_SHOWN,
    CONFIRM_DELETE_TEMPLATE,
    DELIVERIES_PER_PAGE,
    SECRET_SESSION_KEY,
    confirm_context,
)
from workspaces.scoping import get_object_for_user, scope_queryset, user_can_write, writable_workspaces


def webhook_url(webhook: Webhook, request: HttpRequest | None = None) -> str:
    """The URL senders post to, at the address this page was reached at (or SITE_URL)."""
    return f"{site_url(request)}/api/hooks/{webhook.url_path}"


def sample_delivery(webhook: Webhook, *, now: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    """A sample body and the headers a real sender would add to it, signed with the
    webhook's secret by its scheme (timestamped now where the scheme signs a time)."""
    now = now or timezone.now()
    body = json.dumps(
        {
            "type": "gradent.test",
            "message": "A test delivery from Gradent",
            "sent_at": now.isoformat(timespec="seconds"),
        }
    ).encode()
    headers = {"Content-Type": "application/json"}
    scheme = get_scheme(webhook.scheme)()
    signed = scheme.sign(
        secret=webhook.secret, body=body, now=now, msg_id=f"test_{uuid.uuid4().hex}", event_type="gradent.test"
    )
    return body, {**headers, **signed}


def curl_command(url: str, body: bytes, headers: dict[str, str]) -> str:
    """A curl line that sends exactly these bytes and headers (each part shell-quoted)."""
    lines = [f"curl -X POST {shlex.quote(url)}"]
    lines += [f"  -H {shlex.quote(f'{name}: {value}')}" for name, value in headers.items()]
    lines.append(f"  --data-binary {shlex.quote(body.decode())}")
    return " \\\n".join(lines)


@login_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    webhooks = list(
        scope_queryset(Webhook.objects.select_related("trigger", "trigger__agent", "workspace"), request.user).annotate(
            delivery_count=Count("deliveries"), last_delivery=Max("deliveries__received_at")
        )
    )
    for webhook in webhooks:
        webhook.full_url = webhook_url(webhook, request)
    return render(
        request,
        "proactive/webhook_list.html",
        {"webhooks": webhooks, "can_create": writable_workspaces(request.user).exists()},
    )


def _stash_secret(request: HttpRequest, webhook: Webhook) -> None:
    """Shown once: the detail page pops it from the session on its next view."""
    request.session[SECRET_SESSION_KEY.format(pk=webhook.pk)] = webhook.secret


def _detail_url(webhook: Webhook) -> str:
    return reverse("proactive:webhook", args=[webhook.pk])


@login_required
def webhook_create(request: HttpRequest) -> HttpResponse:
    def save(form: WebhookForm) -> Webhook:
        webhook = form.save(commit=False)
        webhook.secret = get_scheme(webhook.scheme).generate_secret()
        webhook.save()
        _stash_secret(request, webhook)
        return webhook

    trigger = request.GET.get("trigger", "")
    return form_page(
        request,
        WebhookForm,
        initial={"trigger": int(trigger)} if trigger.isdigit() else None,
        template="proactive/webhook_form.html",
        context_name="webhook",
        save=save,
        message=lambda webhook: f"Webhook “{webhook}” created.",
        success_url=_detail_url,
    )


@login_required
def webhook_edit(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_object_for_user(Webhook.objects.select_related("trigger"), request.user, write=True, pk=pk)
    return form_page(
        request,
        WebhookForm,
        instance=webhook,
        template="proactive/webhook_form.html",
        context_name="webhook",
        message=lambda webhook: f"Webhook “{webhook}” saved.",
        success_url=_detail_url,
    )


@never_cache
@login_required
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_object_for_user(
        Webhook.objects.select_related("trigger", "trigger__agent", "workspace"), request.user, pk=pk
    )
    new_secret = request.session.pop(SECRET_SESSION_KEY.format(pk=webhook.pk), None)
    deliveries = webhook.deliveries.select_related("run").order_by("-received_at", "-id")
    page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    try:
        scheme_label = get_scheme(webhook.scheme).label
    except KeyError:
        scheme_label = webhook.scheme
    can_write = user_can_write(request.user, webhook.workspace_id)
    url = webhook_url(webhook, request)
    curl = ""
    if can_write and webhook.scheme in SCHEMES:
        # Only editors: a signed request starts a run, as "Send test delivery" does.
        curl = curl_command(url, *sample_delivery(webhook))
    return render(
        request,
        "proactive/webhook_detail.html",
        {
            "webhook": webhook,
            "url": url,
            "curl": curl,
            "scheme_has_timestamp": webhook.scheme in SCHEMES and get_scheme(webhook.scheme).has_timestamp,
            "scheme_label": scheme_label,
            "new_secret": new_secret,
            "page": page,
            "deliveries": page.object_list,
            "can_write": can_write,
        },
    )


@require_POST
@login_required
def webhook_send_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a signed sample delivery through the real ingress path (proactive.hooks.receive:
    size limit, rate limit, signature, trigger filters, stored delivery, run started by the
    dispatcher), as a sender on this machine would, without a network round trip."""
    webhook = get_object_for_user(Webhook.objects.all(), request.user, write=True, pk=pk)
    body, headers = sample_delivery(webhook)
    path = f"/api/hooks/{webhook.url_path}"
    inner = RequestFactory().post(
        path,
        data=body,
        content_type=headers.pop("Content-Type"),
        headers={**headers, "User-Agent": "Gradent test delivery"},
    )
    response = hooks.receive(inner, webhook.url_path)
    answer = json.loads(response.content)
    delivery_id = answer.get("delivery")
    text = f"Test delivery #{delivery_id}: {answer.get('status')} ({response.status_code})"
    if response.status_code == 202 and answer.get("status") == "accepted":
        messages.success(request, f"{text}; its run starts within a second.")
    else:
        messages.warning(request, f"{text}: {answer.get('detail', '')}".rstrip(": "))
    if delivery_id and webhook.deliveries.filter(pk=delivery_id).exists():  # a disabled hook's is nobody's
        return redirect("proactive:delivery", pk=webhook.pk, delivery_pk=delivery_id)
    return redirect("proactive:webhook", pk=webhook.pk)


@require_POST
@login_required
def webhook_regenerate(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_object_for_user(Webhook.objects.all(), request.user, write=True, pk=pk)
    webhook.secret = get_scheme(webhook.scheme).generate_secret()
    webhook.save(update_fields=["secret", "updated"])
    _stash_secret(request, webhook)
    messages.success(request, "New secret made: deliveries signed with the old one are refused from now on.")
    return redirect("proactive:webhook", pk=webhook.pk)


@login_required
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_object_for_user(Webhook.objects.all(), request.user, write=True, pk=pk)

    def confirmation() -> dict:
        count = webhook.deliveries.count()
        return confirm_context(
            name=str(webhook),
            kind="webhook",
            action=reverse("proactive:webhook_delete", args=[webhook.pk]),
            back=reverse("proactive:webhook", args=[webhook.pk]),
            notes=[
                f"Its {count} stored deliver{'ies' if count != 1 else 'y'} are deleted with it.",
                "Senders still using its URL get 404.",
            ],
        )

    return delete_page(
        request,
        webhook,
        message=f"Webhook “{webhook}” deleted; its URL answers 404 from now on.",
        success_url=reverse("proactive:webhooks"),
        template=CONFIRM_DELETE_TEMPLATE,
        context=confirmation,
    )


def _get_delivery(request: HttpRequest, pk: int, delivery_pk: int, *, write: bool = False) -> WebhookDelivery:
    return get_object_for_user(
        WebhookDelivery.objects.select_related("webhook", "webhook__trigger", "run", "replay_of").filter(webhook_id=pk),
        request.user,
        write=write,
        field="webhook__workspace",
        pk=delivery_pk,
    )


def _body_text(delivery: WebhookDelivery) -> str:
    """The body for people: indented when it is JSON, cut at BODY_SHOWN bytes."""
    raw = bytes(delivery.body)
    if len(raw) > BODY_SHOWN:
        shown = raw[:BODY_SHOWN].decode("utf-8", "replace")
        return f"{shown}\n… ({len(raw) - BODY_SHOWN:,} more bytes not shown)"
    try:
        return pretty_json(json.loads(raw))
    except (ValueError, RecursionError):
        return raw.decode("utf-8", "replace")


def _delivery_page(request: HttpRequest, delivery: WebhookDelivery, dry_run: dict | None = None) -> HttpResponse:
    return render(
        request,
        "proactive/delivery_detail.html",
        {
            "delivery": delivery,
            "webhook": delivery.webhook,
            "headers_json": pretty_json(delivery.headers),
            "body_text": _body_text(delivery),
            "replays": delivery.replays.select_related("run").order_by("-id"),
            "dry_run": dry_run,
            "can_write": user_can_write(request.user, delivery.webhook.workspace_id),
        },
    )


@login_required
def delivery_detail(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    return _delivery_page(request, _get_delivery(request, pk, delivery_pk))


@require_POST
@login_required
def delivery_replay(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    """Replay (fires the trigger again, recorded as a new delivery) or dry run (shows the
    rendered task and whether the filters match; changes nothing)."""
    delivery = _get_delivery(request, pk, delivery_pk, write=True)
    if request.POST.get("mode") == "dry_run":
        return _delivery_page(request, delivery, dry_run=webhook_replay(delivery, dry_run=True))
    result = webhook_replay(delivery)
    if result.get("run_id"):
        messages.success(request, f"Replayed as delivery #{result['delivery_id']}: run #{result['run_id']} started.")
        return redirect("agents:run", pk=result["run_id"])
    if result.get("delivery_id"):
        messages.warning(request, f"Replayed as delivery #{result['delivery_id']}, but no run: {result['reason']}.")
        return redirect("proactive:delivery", pk=pk, delivery_pk=result["delivery_id"])
    messages.error(request, f"Not replayed: {result['reason']}.")
    return redirect("proactive:delivery", pk=pk, delivery_pk=delivery.pk)
