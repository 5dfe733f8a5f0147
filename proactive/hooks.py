"""Incoming webhooks: POST /api/hooks/<url_path>.

A plain Django view, not DRF: the signature is checked over the raw bytes, and every
delivery (accepted, duplicate, filtered or rejected) is stored before the answer. An
accepted delivery is answered 202 as soon as it is stored (`pending`); the dispatcher's
webhook source starts the runs of pending deliveries in batches
(proactive.services.webhook_start_pending), so the answer does not wait for the run.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from gradent.lib.signatures import SignatureError
from proactive.models import Webhook, WebhookDelivery, parse_body
from proactive.services import trigger_matches
from proactive.signatures import get_scheme

logger = logging.getLogger(__name__)
# Never stored: credentials that may ride along with a delivery.
_DROP_HEADERS = {"authorization", "cookie", "proxy-authorization"}
UNKNOWN_BODY_KEEP = 4096


def _headers(request: HttpRequest) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items() if k.lower() not in _DROP_HEADERS}


def _webhook(url_path: str) -> Webhook | None:
    return Webhook.objects.select_related("trigger").filter(url_path=url_path).first()


def _remote(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _delivery_id(verified) -> str:
    """The delivery id as stored (and so as looked up for de-duplication)."""
    return ((verified.delivery_id if verified else None) or "")[:200]


def _store(request, *, webhook, url_path, body, verdict, status, reason="", verified=None, pending=False):
    """Save the delivery. A redelivered accepted message raises IntegrityError (the
    unique constraint on accepted delivery ids), inside its own savepoint."""
    delivery = WebhookDelivery(
        webhook=webhook,
        workspace_id=webhook.workspace_id if webhook else None,
        url_path=url_path[:200],
        method=request.method,
        headers=_headers(request),
        body=body,
        body_size=len(body),
        delivery_id=_delivery_id(verified),
        event_type=((verified.event_type if verified else None) or "")[:200],
        verdict=verdict,
        status_code=status,
        reason=reason[:300],
        remote_addr=_remote(request),
        pending=pending,
    )
    if transaction.get_connection().in_atomic_block:
        with transaction.atomic():  # a savepoint: the caller's transaction survives a duplicate
            delivery.save(force_insert=True)
    else:
        delivery.save(force_insert=True)  # one INSERT in autocommit: no BEGIN / COMMIT round trips
    return delivery


def _answer(delivery: WebhookDelivery, status: int, **extra) -> JsonResponse:
    return JsonResponse({"status": delivery.verdict, "delivery": delivery.pk, **extra}, status=status)


def _rate_limited(webhook: Webhook) -> bool:
    if not webhook.rate_limit_per_minute:
        return False
    key = f"hook-rate:{webhook.pk}:{timezone.now():%Y%m%d%H%M}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:
        return False
    return count > webhook.rate_limit_per_minute


@csrf_exempt
@require_POST
def receive(request: HttpRequest, url_path: str) -> JsonResponse:
    webhook = _webhook(url_path)
    body = b""
    verified = None

    def reply(verdict: str, status: int, reason: str = "", **answer) -> JsonResponse:
        """Store the delivery, whatever its verdict, then answer."""
        stored = dict(request=request, webhook=webhook, url_path=url_path, body=body, verified=verified)
        try:
            delivery = _store(verdict=verdict, status=status, reason=reason, **stored)
        except IntegrityError:  # an accepted message (a GitHub ping, say) delivered again
            delivery = _store(verdict="duplicate", status=200, reason="already received", **stored)
            return _answer(delivery, 200)
        return _answer(delivery, status, **answer)

    declared = request.META.get("CONTENT_LENGTH") or "0"
    declared_size = int(declared) if declared.isdigit() else 0
    if webhook is None or not webhook.enabled:
        body = request.read(UNKNOWN_BODY_KEEP)  # keep only the start of bodies nobody asked for
        reason = "no such webhook" if webhook is None else "webhook is disabled"
        webhook = None
        return reply("rejected", 404, reason, detail="No such webhook.")
    if declared_size > webhook.max_body_bytes:
        reason = f"body of {declared_size} bytes exceeds {webhook.max_body_bytes}"
        return reply("rejected", 413, reason, detail="Body too large.")
    body = request.read(webhook.max_body_bytes + 1)
    if len(body) > webhook.max_body_bytes:
        body = b""
        return reply("rejected", 413, f"body exceeds {webhook.max_body_bytes} bytes", detail="Body too large.")
    if _rate_limited(webhook):
        reason = f"more than {webhook.rate_limit_per_minute} deliveries a minute"
        return reply("rejected", 429, reason, detail="Rate limit exceeded.")
    try:
        verified = get_scheme(webhook.scheme)().verify(
            secret=webhook.secret, body=body, headers=request.headers, tolerance_seconds=webhook.tolerance_seconds
        )
    except SignatureError as exc:
        return reply("rejected", 401, f"signature: {exc.reason}: {exc}", detail="Invalid signature.")

    payload = parse_body(body, request.content_type or "")
    if payload is None:
        return reply("rejected", 400, "body is not valid JSON", detail="Body is not valid JSON.")
    if verified.event_type == "ping":
        return reply("accepted", 200, "ping", detail="pong")
    if webhook.scheme == "slack" and payload.get("type") == "url_verification":
        # Slack checks a new Events API URL by asking for the challenge back.
        reply("accepted", 200, "url_verification")
        return JsonResponse({"challenge": str(payload.get("challenge", ""))}, status=200)

    trigger = webhook.trigger
    matches, why = trigger_matches(trigger, payload=payload, event_type=verified.event_type)
    if matches and not trigger.enabled:
        matches, why = False, "trigger is disabled"
    if not matches:
        return reply("filtered", 202, why, detail=why)
    # Answer now; the dispatcher's webhook source starts the run (within a tick), in
    # batches. A redelivered message is caught by the unique constraint on accepted
    # delivery ids, not by a read first.
    try:
        delivery = _store(request, webhook=webhook, url_path=url_path, body=body, verdict="accepted",
                          status=202, verified=verified, pending=True)  # fmt: skip
    except IntegrityError:  # the unique constraint on accepted delivery ids: a redelivery
        return reply("duplicate", 200, "already received")
    return _answer(delivery, 202)
