"""Incoming webhooks: POST /api/hooks/<url_path>.

A plain Django view, not DRF: the signature is checked over the raw bytes, and every
delivery (accepted, duplicate, filtered or rejected) is stored before the answer. An
accepted delivery is answered 202 as soon as it is stored (`pending`); the dispatcher's
webhook source starts the runs of pending deliveries in batches
(proactive.services.webhook_start_pending), so the answer does not wait for the run.
"""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import parse_qs

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from gradent.lib.bulkinsert import bulk_insert
from gradent.lib.groupcommit import GroupCommit
from proactive.models import Webhook, WebhookDelivery
from proactive.services import trigger_matches
from proactive.signatures import get_scheme
from proactive.signatures.base import SignatureError

logger = logging.getLogger(__name__)
# Never stored: credentials that may ride along with a delivery.
_DROP_HEADERS = {"authorization", "cookie", "proxy-authorization"}
UNKNOWN_BODY_KEEP = 4096


def _headers(request: HttpRequest) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items() if k.lower() not in _DROP_HEADERS}


_webhooks: dict[str, tuple[float, Webhook | None]] = {}
_sqlite_writes = GroupCommit(lambda batch: _write_deliveries(batch))
_WEBHOOKS_KEPT = 10_000


def _webhook(url_path: str) -> Webhook | None:
    """The webhook at this path (with its trigger), remembered for
    GRADENT_WEBHOOK_CACHE_SECONDS: a busy hook costs one read per interval, not one per
    delivery. Saving or deleting a webhook or trigger forgets everything in this process
    (forget_webhooks); other processes see the change within the interval."""
    ttl = settings.GRADENT_WEBHOOK_CACHE_SECONDS
    now = time.monotonic()
    kept = _webhooks.get(url_path)
    if kept is not None and now - kept[0] < ttl:
        return kept[1]
    webhook = Webhook.objects.select_related("trigger").filter(url_path=url_path).first()
    if ttl > 0:
        if len(_webhooks) >= _WEBHOOKS_KEPT:
            _webhooks.clear()
        _webhooks[url_path] = (now, webhook)
    return webhook


def forget_webhooks(**kwargs) -> None:
    _webhooks.clear()


def _remote(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _delivery_id(verified) -> str:
    """The delivery id as stored (and so as looked up for de-duplication)."""
    return ((verified.delivery_id if verified else None) or "")[:200]


def _store(request, *, webhook, url_path, body, verdict, status, reason="", verified=None, pending=False):
    """One INSERT (gradent.lib.bulkinsert: the ORM's save() costs more than the rest of
    an accepted delivery together)."""
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
    if connection.vendor == "sqlite":
        _sqlite_writes.submit(delivery)  # raises the row's own IntegrityError
    else:
        _insert_now([delivery])
    return delivery


def _write_deliveries(deliveries: list[WebhookDelivery]) -> list[Exception | None]:
    """SQLite: every delivery waiting, in one statement (see gradent.lib.groupcommit). In
    autocommit a single INSERT is its own transaction: no BEGIN / COMMIT round trips, each
    of which gives up the GIL and waits to get it back. A redelivery among them (the
    unique constraint) fails the statement as a whole; then the rows go one by one, so
    only that row fails."""
    try:
        _insert_now(deliveries)
        return [None] * len(deliveries)
    except IntegrityError as exc:
        if len(deliveries) == 1:
            return [exc]
    errors: list[Exception | None] = []
    for delivery in deliveries:
        try:
            _insert_now([delivery])
            errors.append(None)
        except IntegrityError as exc:
            errors.append(exc)
    return errors


def _insert_now(deliveries: list[WebhookDelivery]) -> None:
    if transaction.get_connection().in_atomic_block:
        with transaction.atomic():  # a savepoint inside the caller's transaction
            bulk_insert(deliveries)
    else:
        bulk_insert(deliveries)


def _answer(delivery: WebhookDelivery, status: int, **extra) -> JsonResponse:
    return JsonResponse({"status": delivery.verdict, "delivery": delivery.pk, **extra}, status=status)


def _payload(request: HttpRequest, body: bytes) -> dict | None:
    return parse_body(body, request.content_type or "")


def parse_body(body: bytes, content_type: str) -> dict | None:
    """The body as data for the agent; None when it claims to be JSON and is not. Also
    used to replay a stored delivery (content_type from its stored headers)."""
    content_type = content_type.split(";")[0].strip().lower()
    if not body:
        return {}
    if content_type == "application/x-www-form-urlencoded":
        form = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if "payload" in form and isinstance(form["payload"], str):  # GitHub's form-encoded deliveries
            try:
                data = json.loads(form["payload"])
            except (ValueError, RecursionError):
                return None
            return data if isinstance(data, dict) else {"data": data}
        return form
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return None if "json" in content_type else {"body": body.decode("utf-8", "replace")}
    return data if isinstance(data, dict) else {"data": data}


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

    payload = _payload(request, body)
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
