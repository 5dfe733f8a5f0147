"""Writes of webhooks: the runs of accepted deliveries (started in batches by the dispatcher
after the hook view answered), and replays."""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework import serializers

from agents.dispatcher import skip_locked_supported
from agents.models import RunSource, RunStatus
from agents.services import RunRequest, start_runs
from proactive import selectors
from proactive.models import Trigger, WebhookDelivery
from proactive.payloads import load_payload
from proactive.services.triggers import render_task, trigger_fire, trigger_input, trigger_matches

logger = logging.getLogger(__name__)


def webhook_validate_limits(*, scheme: str | None = None, max_body_bytes: int | None = None,
                            rate_limit_per_minute: int | None = None) -> None:  # fmt: skip
    """Check what a tenant sets on a webhook against the server's caps; the page form and
    the API both call it, with the fields being set (None: not set). A tenant may only
    lower a limit: ``max_body_bytes`` at most GRADENT_WEBHOOK_MAX_BODY_BYTES,
    ``rate_limit_per_minute`` at most GRADENT_WEBHOOK_MAX_RATE_PER_MINUTE (0, no limit,
    only where that cap is 0), and the unsigned scheme ``none`` only where
    GRADENT_WEBHOOK_ALLOW_UNSIGNED is on. Raises ``serializers.ValidationError`` with each
    problem under its field name."""
    errors: dict[str, list[str]] = {}
    body_cap = settings.GRADENT_WEBHOOK_MAX_BODY_BYTES
    if max_body_bytes is not None and max_body_bytes > body_cap:
        errors["max_body_bytes"] = [f"At most {body_cap} bytes on this server (GRADENT_WEBHOOK_MAX_BODY_BYTES)."]
    if max_body_bytes is not None and max_body_bytes < 1:
        errors["max_body_bytes"] = ["Must be at least 1 byte."]
    rate_cap = settings.GRADENT_WEBHOOK_MAX_RATE_PER_MINUTE
    if rate_limit_per_minute is not None and rate_cap:
        if rate_limit_per_minute == 0:
            errors["rate_limit_per_minute"] = [
                f"This server does not allow turning the limit off; at most {rate_cap} a minute "
                "(GRADENT_WEBHOOK_MAX_RATE_PER_MINUTE)."
            ]
        elif rate_limit_per_minute > rate_cap:
            errors["rate_limit_per_minute"] = [
                f"At most {rate_cap} a minute on this server (GRADENT_WEBHOOK_MAX_RATE_PER_MINUTE)."
            ]
    if scheme == "none" and not settings.GRADENT_WEBHOOK_ALLOW_UNSIGNED:
        errors["scheme"] = ["Unsigned webhooks are turned off on this server (GRADENT_WEBHOOK_ALLOW_UNSIGNED)."]
    if errors:
        raise serializers.ValidationError(errors)


def webhook_default_limits() -> dict[str, int]:
    """A new webhook's body size and rate limits: the model's defaults, within the caps."""
    from proactive.models import Webhook

    fields = {f.name: f.default for f in Webhook._meta.fields if f.name in ("max_body_bytes", "rate_limit_per_minute")}
    rate_cap = settings.GRADENT_WEBHOOK_MAX_RATE_PER_MINUTE
    return {
        "max_body_bytes": min(fields["max_body_bytes"], settings.GRADENT_WEBHOOK_MAX_BODY_BYTES),
        "rate_limit_per_minute": min(fields["rate_limit_per_minute"] or rate_cap, rate_cap)
        if rate_cap
        else fields["rate_limit_per_minute"],
    }


def webhook_slot_key(webhook_id: int, delivery_id: str) -> str | None:
    """The run slot of a delivery: the same message delivered twice starts one run."""
    if not delivery_id:
        return None
    # Run.slot_key holds 200 characters; ids may be longer.
    key = delivery_id if len(delivery_id) <= 150 else hashlib.sha256(delivery_id.encode()).hexdigest()
    return f"webhook:{webhook_id}:{key}"


@dataclass
class _Pending:
    """A pending delivery, as the webhook source needs it."""

    id: int
    trigger_id: int
    reason: str
    request: RunRequest | None = None
    why: str = ""
    verdict: str = WebhookDelivery.Verdict.FILTERED  # when it gets no request


def webhook_start_pending(*, limit: int = 500) -> int:
    """Start the runs of accepted deliveries that were answered before their run existed,
    oldest first, in one batch. Reading the payloads and rendering the tasks happen before
    the write transaction (SQLite's single write lock is held only for the writes); the
    transaction then claims the deliveries that are still pending (SKIP LOCKED where the
    database has it), starts their runs with one start_runs call and settles them.
    Returns how many deliveries were settled. If the batch fails, each delivery is tried
    on its own; one that still fails keeps its verdict and says why it has no run."""
    rows = selectors.pending_deliveries(limit=limit)
    if not rows:
        return 0
    triggers = Trigger.objects.in_bulk({row[2] for row in rows})
    plans = []
    for pk, webhook_id, trigger_id, body, headers, event_type, delivery_id, reason in rows:
        plan = _Pending(id=pk, trigger_id=trigger_id, reason=reason)
        trigger = triggers.get(trigger_id)
        if trigger is None or not trigger.enabled:
            plan.why = "trigger is disabled"
        else:
            content_type = str(headers.get("content-type", "")) if isinstance(headers, dict) else ""
            try:
                # The hook view refused what cannot be stored; a delivery accepted before
                # it did, or whose task cannot be rendered, says why here and never
                # stops the batch.
                payload = load_payload(bytes(body), content_type)
                plan.request = RunRequest(
                    trigger.agent_id,
                    source=RunSource.WEBHOOK,
                    source_ref=f"trigger:{trigger.pk}",
                    input=trigger_input(trigger, payload, event_type or None),
                    payload=payload,
                    slot_key=webhook_slot_key(webhook_id, delivery_id),
                )
            except Exception as exc:
                plan.verdict = WebhookDelivery.Verdict.REJECTED
                plan.why = f"cannot start a run with this body: {exc.__class__.__name__}: {exc}"
        plans.append(plan)
    with transaction.atomic():
        claim = WebhookDelivery.objects.filter(pk__in=[plan.id for plan in plans], pending=True)
        if skip_locked_supported():
            claim = claim.select_for_update(skip_locked=True)
        still = set(claim.values_list("id", flat=True))
        plans = [plan for plan in plans if plan.id in still]
        _settle_deliveries(plans)
    return len(plans)


def _settle_deliveries(plans: list[_Pending]) -> None:
    requests = [plan.request for plan in plans if plan.request is not None]
    try:
        with transaction.atomic():
            started = iter(start_runs(requests))
    except OperationalError:
        raise
    except Exception:
        logger.exception("starting %s webhook runs together failed; starting them one by one", len(requests))
        started = iter(_start_each(requests))
    now = timezone.now()
    with_run, settled, fired = [], defaultdict(list), {}
    for plan in plans:
        run, why = (next(started), "") if plan.request is not None else (None, plan.why)
        if isinstance(run, Exception):
            why, run = f"could not start the run: {run.__class__.__name__}: {run}", None
        elif run is not None:
            why = run.reason if run.status == RunStatus.SKIPPED else ""
            fired[plan.trigger_id] = fired.get(plan.trigger_id, 0) + 1
        verdict = plan.verdict if plan.request is None else WebhookDelivery.Verdict.ACCEPTED
        settled[(verdict, (why or plan.reason)[:300])].append(plan.id)
        if run is not None:
            with_run.append(WebhookDelivery(pk=plan.id, run=run))
    # Most deliveries of a batch share their verdict and reason: one UPDATE per group, and
    # a bulk_update of the run alone (bulk_update builds a CASE per row and field).
    for (verdict, reason), ids in settled.items():
        WebhookDelivery.objects.filter(pk__in=ids).update(pending=False, verdict=verdict, reason=reason)
    WebhookDelivery.objects.bulk_update(with_run, ["run"], batch_size=500)
    for trigger_id, count in fired.items():
        Trigger.objects.filter(pk=trigger_id).update(fire_count=F("fire_count") + count, last_fired_at=now)


def _start_each(requests: list[RunRequest]) -> list:
    results = []
    for request in requests:
        try:
            with transaction.atomic():
                results.append(start_runs([request])[0])
        except Exception as exc:
            logger.exception("could not start the run of a webhook delivery")
            results.append(exc)
    return results


def webhook_prune_deliveries(*, now: datetime | None = None, batch: int = 1000) -> int:
    """Delete deliveries older than GRADENT_WEBHOOK_RETENTION_DAYS, and those beyond the
    newest GRADENT_WEBHOOK_RETENTION_COUNT of each webhook (requests to unknown paths count
    as one webhook). A pending delivery is kept: its run is still to start. Deletes `batch`
    rows per transaction (SQLite's write lock is held briefly); returns how many."""
    now = now or timezone.now()
    keep = settings.GRADENT_WEBHOOK_RETENTION_COUNT
    cutoff = now - timedelta(days=settings.GRADENT_WEBHOOK_RETENTION_DAYS)
    deleted = _delete_in_batches(WebhookDelivery.objects.filter(received_at__lt=cutoff, pending=False), batch)
    for webhook_id in selectors.webhooks_over_delivery_count(keep):
        rows = WebhookDelivery.objects.filter(webhook_id=webhook_id)  # None: unknown paths
        last_kept = rows.order_by("-received_at", "-id").values_list("received_at", "id")[keep - 1 : keep].first()
        if last_kept is None:
            continue
        at, pk = last_kept
        older = rows.filter(Q(received_at__lt=at) | Q(received_at=at, id__lt=pk)).filter(pending=False)
        deleted += _delete_in_batches(older, batch)
    return deleted


def _delete_in_batches(queryset, batch: int) -> int:
    deleted = 0
    while ids := list(queryset.values_list("id", flat=True)[:batch]):
        with transaction.atomic():
            deleted += WebhookDelivery.objects.filter(pk__in=ids).delete()[1].get(WebhookDelivery._meta.label, 0)
        if len(ids) < batch:
            break
    return deleted


def webhook_replay(delivery: WebhookDelivery, *, dry_run: bool = False) -> dict:
    """Fire the trigger again with a stored delivery (its signature was checked when it
    arrived; rejected deliveries never passed that check and are not replayed). A dry run
    reports what would happen without starting a run."""
    webhook = delivery.webhook
    if webhook is None:
        return {"ok": False, "reason": "the delivery matched no webhook"}
    if delivery.verdict == WebhookDelivery.Verdict.REJECTED:
        return {"ok": False, "reason": f"the delivery was rejected ({delivery.reason or delivery.status_code}); "
                "only verified deliveries can be replayed"}  # fmt: skip
    if delivery.reason in ("ping", "url_verification"):
        return {"ok": False, "reason": f"a {delivery.reason} delivery does not fire the trigger"}
    payload = delivery.payload()
    if payload is None:
        return {"ok": False, "reason": "the stored body is not valid JSON"}
    trigger = webhook.trigger
    matches, why = trigger_matches(trigger, payload=payload, event_type=delivery.event_type or None)
    if matches and not trigger.enabled:
        matches, why = False, "trigger is disabled"
    task = render_task(trigger.task_template, payload)
    if dry_run:
        return {"ok": matches, "reason": why, "task": task, "agent_id": trigger.agent_id}
    run, why = trigger_fire(trigger, payload=payload, event_type=delivery.event_type or None, source=RunSource.WEBHOOK)
    replay = WebhookDelivery.objects.create(
        webhook=webhook,
        workspace_id=webhook.workspace_id,
        url_path=webhook.url_path,
        headers=delivery.headers,
        body=bytes(delivery.body),
        body_size=delivery.body_size,
        delivery_id=delivery.delivery_id,
        event_type=delivery.event_type,
        verdict=WebhookDelivery.Verdict.ACCEPTED if run else WebhookDelivery.Verdict.FILTERED,
        status_code=202,
        reason=f"replay of delivery #{delivery.pk}" + (f"; {why}" if why else ""),
        run=run,
        replay_of=delivery,
    )
    return {"ok": run is not None, "reason": why, "task": task, "run_id": run.pk if run else None,
            "delivery_id": replay.pk}  # fmt: skip
