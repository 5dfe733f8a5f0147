"""Incoming webhooks: POST /api/hooks/<url_path>.

A plain Django view, not DRF: the signature is checked over the raw bytes, and a delivery
to a webhook (accepted, duplicate, filtered or rejected) is stored before the answer. An
accepted delivery is answered 202 as soon as it is stored (`pending`); the dispatcher's
webhook source starts the runs of pending deliveries in batches
(proactive.services.webhook_start_pending), so the answer does not wait for the run.

The endpoint takes requests from anyone, so what a request can make Gradent store is
bounded (docs/security.md, "Incoming webhooks"): a per-source-address limit on the whole
endpoint (answered 429, nothing stored); requests to unknown paths answered 404 and kept
only as a few counted samples per address; stored headers capped in number and bytes;
a rejected or duplicate delivery keeps only the first bytes of its body; server settings
cap each webhook's body size and rate limit; deliveries are pruned by age and count
(proactive.sources.DeliveryRetentionSource).
"""

from __future__ import annotations

import ipaddress
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from gradent.lib import crypto
from gradent.lib.clientip import client_ip
from gradent.lib.orm import one_or_none
from gradent.lib.signatures import SignatureError
from proactive.models import Webhook, WebhookDelivery
from proactive.payloads import PayloadError, load_payload
from proactive.services import trigger_matches
from proactive.signatures import get_scheme

logger = logging.getLogger(__name__)
# Never stored: credentials that may ride along with a delivery.
_DROP_HEADERS = {"authorization", "cookie", "proxy-authorization"}
# What a rejected, duplicate or unknown-path request keeps of its body.
BODY_PREFIX_BYTES = 1024
# Stored headers: a verified delivery keeps more (its sender holds the secret) than a
# request anyone could have sent. Content-Type always comes first (the payload needs it).
HEADER_LIMITS = {True: (48, 8192), False: (24, 1024)}  # verified: (count, bytes)
HEADER_VALUE_CHARS = 512
TRUNCATED_KEY = "x-gradent-not-stored"
# An oversize body is read and dropped for at most this long, so the sender gets its 413
# instead of a connection reset (docs/deploy.md).
DISCARD_SECONDS = 10.0
_READ_STEP = 65536
_URL_PATH_MAX = Webhook._meta.get_field("url_path").max_length


def _clean(text: str, limit: int) -> str:
    """Text as stored: no NUL (PostgreSQL refuses it in text and JSON), at most `limit`."""
    return text.replace("\x00", "")[:limit]


def _headers(request: HttpRequest, *, verified: bool) -> dict[str, str]:
    """The headers as stored: credentials dropped, Content-Type first, capped in count and
    bytes (what was left out is counted under TRUNCATED_KEY)."""
    count_cap, bytes_cap = HEADER_LIMITS[verified]
    items = [(k.lower(), v) for k, v in request.headers.items() if k.lower() not in _DROP_HEADERS]
    items.sort(key=lambda item: item[0] != "content-type")  # stable: the rest keep their order
    kept: dict[str, str] = {}
    used = left = left_bytes = 0
    for name, value in items:
        name, value = _clean(name, 100), _clean(value, HEADER_VALUE_CHARS)
        size = len(name) + len(value)
        if len(kept) >= count_cap or used + size > bytes_cap:
            left += 1
            left_bytes += size
            continue
        kept[name] = value
        used += size
    if left:
        kept[TRUNCATED_KEY] = f"{left} more headers ({left_bytes} bytes)"
    return kept


def _webhook(url_path: str) -> Webhook | None:
    if len(url_path) > _URL_PATH_MAX or "\x00" in url_path:
        return None  # cannot be a webhook's path: no query
    return one_or_none(Webhook.objects.select_related("trigger").filter(url_path=url_path))


def _source_address(request: HttpRequest) -> str | None:
    """The sender's address: REMOTE_ADDR, or behind proxies the one they saw
    (gradent.lib.clientip, GRADENT_BEHIND_PROXY and GRADENT_PROXY_COUNT)."""
    return client_ip(request)


def _sender(address: str | None) -> str:
    """Whom the per-address counters count: an IPv4 address, or an IPv6 /64 (one host
    commonly holds a whole /64, so counting single IPv6 addresses would not limit it)."""
    if address and ":" in address:
        try:
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        except ValueError:
            pass
    return str(address)


def _count(key: str, *, timeout: int) -> int:
    """Add one to a counter in the cache (shared by every web process) and return it."""
    try:
        return cache.incr(key)
    except ValueError:
        pass
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired in between
        return 1


def _delivery_id(verified) -> str:
    """The delivery id as stored (and so as looked up for de-duplication)."""
    return _clean((verified.delivery_id if verified else None) or "", 200)


def _store(request, *, webhook, url_path, body, verdict, status, reason="", verified=None, pending=False,
           remote_addr=None, body_size=None):  # fmt: skip
    """Save the delivery. A redelivered accepted message raises IntegrityError (the
    unique constraint on accepted delivery ids), inside its own savepoint. A rejected or
    duplicate delivery keeps only the first BODY_PREFIX_BYTES of its body."""
    kept = (
        body
        if verdict in (WebhookDelivery.Verdict.ACCEPTED, WebhookDelivery.Verdict.FILTERED)
        else body[:BODY_PREFIX_BYTES]
    )
    delivery = WebhookDelivery(
        webhook=webhook,
        workspace_id=webhook.workspace_id if webhook else None,
        url_path=_clean(url_path, 200),
        method=request.method,
        headers=_headers(request, verified=verified is not None),
        body=kept,
        body_size=len(body) if body_size is None else body_size,
        delivery_id=_delivery_id(verified),
        event_type=_clean((verified.event_type if verified else None) or "", 200),
        verdict=verdict,
        status_code=status,
        reason=_clean(reason, 300),
        remote_addr=remote_addr,
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


def max_body_bytes(webhook: Webhook) -> int:
    """The webhook's body limit, never above the server's GRADENT_WEBHOOK_MAX_BODY_BYTES
    (a value stored before the cap existed, or written around the API, is capped here)."""
    return min(webhook.max_body_bytes, settings.GRADENT_WEBHOOK_MAX_BODY_BYTES)


def rate_limit_per_minute(webhook: Webhook) -> int:
    """The webhook's limit a minute, within GRADENT_WEBHOOK_MAX_RATE_PER_MINUTE; 0 (no
    limit) only where the server sets no cap."""
    cap = settings.GRADENT_WEBHOOK_MAX_RATE_PER_MINUTE
    own = webhook.rate_limit_per_minute
    if not cap:
        return own
    return min(own, cap) if own else cap


def _rate_limited(webhook: Webhook, limit: int) -> bool:
    if not limit:
        return False
    return _count(f"hook-rate:{webhook.pk}:{timezone.now():%Y%m%d%H%M}", timeout=120) > limit


def _address_limited(address: str | None) -> bool:
    """More than GRADENT_WEBHOOK_PER_ADDRESS_PER_MINUTE requests to the endpoint (any path)
    from this address this minute."""
    limit = settings.GRADENT_WEBHOOK_PER_ADDRESS_PER_MINUTE
    if not limit or not address:
        return False
    return _count(f"hook-addr:{_sender(address)}:{timezone.now():%Y%m%d%H%M}", timeout=120) > limit


# --- the body: Content-Length or chunked ---------------------------------------------------


def _chunked(request: HttpRequest) -> bool:
    """A body with no Content-Length, sent with Transfer-Encoding: chunked. Django reads
    such a body as empty (it limits wsgi.input to CONTENT_LENGTH, absent: 0); a server that
    de-chunks it (gunicorn) says so with wsgi.input_terminated and ends wsgi.input there."""
    return (
        not request.META.get("CONTENT_LENGTH") and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    )


def _read(request: HttpRequest, limit: int, *, chunked: bool) -> bytes:
    """Up to `limit` bytes of the body."""
    if not chunked:
        return request.read(limit)
    stream = request.environ["wsgi.input"]
    parts, size = [], 0
    while size < limit:
        piece = stream.read(min(_READ_STEP, limit - size))
        if not piece:
            break
        parts.append(piece)
        size += len(piece)
    return b"".join(parts)


def _discard(request: HttpRequest, *, chunked: bool) -> None:
    """Read and drop what is left of an oversize body, up to GRADENT_WEBHOOK_DISCARD_BYTES
    and DISCARD_SECONDS: a sender still writing when the server closes gets a connection
    reset instead of the 413. Beyond that the server closes the connection."""
    budget = settings.GRADENT_WEBHOOK_DISCARD_BYTES
    deadline = time.monotonic() + DISCARD_SECONDS
    stream = request.environ["wsgi.input"] if chunked else request
    while budget > 0 and time.monotonic() < deadline:
        piece = stream.read(min(_READ_STEP, budget))
        if not piece:
            return
        budget -= len(piece)


def _unknown_path(request: HttpRequest, *, url_path: str, address: str | None, reason: str, chunked: bool):
    """404. The first GRADENT_WEBHOOK_UNKNOWN_SAMPLES requests from an address in an hour
    are stored (a body prefix, a few headers); the rest are counted, and the count is
    written on the address's last sample when it doubles (a few writes, however many)."""
    answer = JsonResponse({"status": "rejected", "detail": "No such webhook."}, status=404)
    samples = settings.GRADENT_WEBHOOK_UNKNOWN_SAMPLES
    if not samples:
        return answer
    hour = f"{timezone.now():%Y%m%d%H}"
    # On the file cache an increment also resets the key's expiry to the default (5 min),
    # so after a quiet spell the samples may start again: still at most `samples` a spell.
    seen = _count(f"hook-unknown:{_sender(address)}:{hour}", timeout=3600)
    if seen <= samples:
        body = _read(request, BODY_PREFIX_BYTES, chunked=chunked)
        declared = request.META.get("CONTENT_LENGTH") or ""
        delivery = _store(
            request, webhook=None, url_path=url_path, body=body, verdict=WebhookDelivery.Verdict.REJECTED,
            status=404, reason=f"{reason} (request {seen} from this address this hour)", remote_addr=address,
            body_size=int(declared) if declared.isdigit() else len(body),
        )  # fmt: skip
        if seen == samples:
            cache.set(f"hook-unknown-last:{_sender(address)}:{hour}", delivery.pk, timeout=3600)
        return answer
    if seen & (seen - 1) == 0:  # at powers of two: a few writes, however many requests
        last = cache.get(f"hook-unknown-last:{_sender(address)}:{hour}")
        if last:
            WebhookDelivery.objects.filter(pk=last).update(
                reason=_clean(
                    f"{reason}; {seen} requests from this address this hour, {seen - samples} not stored", 300
                )
            )
        logger.warning("%s requests to unknown webhook paths from %s this hour", seen, address)
    return answer


def quiet(view):
    """Django logs every 4xx answer as a warning; here each one is a stored delivery (or a
    request from a flood), so the endpoint's own refusals are not logged again."""

    def wrapper(request: HttpRequest, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code < 500:
            response._has_been_logged = True  # what django.utils.log.log_response checks
        return response

    return wrapper


@csrf_exempt
@require_POST
@quiet
def receive(request: HttpRequest, url_path: str) -> JsonResponse:
    address = _source_address(request)
    if _address_limited(address):
        # Nothing is stored: this is the bound on what one address can make us write.
        answer = JsonResponse({"status": "rejected", "detail": "Too many requests from your address."}, status=429)
        answer["Retry-After"] = "60"
        return answer
    chunked = _chunked(request)
    webhook = _webhook(url_path)
    if webhook is None or not webhook.enabled:
        reason = "no such webhook" if webhook is None else "webhook is disabled"
        return _unknown_path(request, url_path=url_path, address=address, reason=reason, chunked=chunked)

    body = b""
    body_size = None
    verified = None

    def reply(verdict: str, status: int, reason: str = "", **answer) -> JsonResponse:
        """Store the delivery, whatever its verdict, then answer."""
        stored = dict(request=request, webhook=webhook, url_path=url_path, body=body, verified=verified,
                      remote_addr=address, body_size=body_size)  # fmt: skip
        try:
            delivery = _store(verdict=verdict, status=status, reason=reason, **stored)
        except IntegrityError:  # an accepted message (a GitHub ping, say) delivered again
            delivery = _store(verdict="duplicate", status=200, reason="already received", **stored)
            return _answer(delivery, 200)
        return _answer(delivery, status, **answer)

    limit = max_body_bytes(webhook)
    if chunked and not request.environ.get("wsgi.input_terminated"):
        # This server hands Django no way to read a chunked body (Django's runserver and
        # test server). The body is still on the connection: an answer without a length
        # makes such a server close it rather than read the body as the next request.
        reason = "chunked body, and this web server cannot read one: send Content-Length, or run under gunicorn"
        stored = reply("rejected", 411, reason, detail="Length required.")
        return StreamingHttpResponse([stored.content], status=411, content_type="application/json")
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        body_size = int(declared)
        body = request.read(BODY_PREFIX_BYTES)
        _discard(request, chunked=False)
        return reply("rejected", 413, f"body of {declared} bytes exceeds {limit}", detail="Body too large.")
    body = _read(request, limit + 1, chunked=chunked)
    if len(body) > limit:
        _discard(request, chunked=chunked)
        return reply("rejected", 413, f"body exceeds {limit} bytes", detail="Body too large.")
    per_minute = rate_limit_per_minute(webhook)
    if _rate_limited(webhook, per_minute):
        return reply("rejected", 429, f"more than {per_minute} deliveries a minute", detail="Rate limit exceeded.")
    if webhook.scheme == "none" and not settings.GRADENT_WEBHOOK_ALLOW_UNSIGNED:
        reason = "unsigned webhooks are turned off on this server (GRADENT_WEBHOOK_ALLOW_UNSIGNED)"
        return reply("rejected", 401, reason, detail="Unsigned webhooks are turned off.")
    if crypto.is_unreadable(webhook.secret):
        # Not the sender's fault: 503, so senders that retry (GitHub, Stripe, Slack) deliver
        # again once the server has its key back. What went wrong is for the operator only.
        logger.error("webhook %s: its secret cannot be decrypted (%s)", webhook.pk, crypto.UNREADABLE_HELP)
        reason = f"the webhook's secret cannot be decrypted: {crypto.UNREADABLE_HELP}"
        return reply("rejected", 503, reason, detail="This webhook cannot check signatures now; try again later.")
    try:
        verified = get_scheme(webhook.scheme)().verify(
            secret=webhook.secret, body=body, headers=request.headers, tolerance_seconds=webhook.tolerance_seconds
        )
    except SignatureError as exc:
        return reply("rejected", 401, f"signature: {exc.reason}: {exc}", detail="Invalid signature.")

    try:
        payload = load_payload(body, request.content_type or "")
    except PayloadError as exc:
        # Refused at the door: a payload the database cannot store would be answered 202
        # and then never start its run.
        return reply("rejected", 400, f"body is not valid JSON: {exc}", detail=f"Body is not valid JSON: {exc}.")
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
                          status=202, verified=verified, pending=True, remote_addr=address)  # fmt: skip
    except IntegrityError:  # the unique constraint on accepted delivery ids: a redelivery
        return reply("duplicate", 200, "already received")
    return _answer(delivery, 202)
