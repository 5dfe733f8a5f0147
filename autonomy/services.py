"""Writes of the autonomy app: the configuration and its channels, metric and event
recording, and the autonomous cycle (forecast → goals → actions → impact → learning)."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from agents import events
from agents.models import ACTIVE_STATUSES, OverlapPolicy, RunSource, RunStatus
from agents.services import start_run
from autonomy import channels as autonomy_channels
from autonomy import collector
from autonomy.actions import RUN_EXECUTOR_AGENT, action_handlers, undo_for
from autonomy.forecasting import Series, breach, forecast
from autonomy.learning import Learner
from autonomy.models import (
    AutonomousConfig,
    AutonomyCycle,
    Event,
    Goal,
    GoalAction,
    GoalType,
    LearningState,
    MetricPoint,
    MetricRule,
)
from autonomy.patterns import quiet_hours, recurring_events
from gradent.lib.jsonutil import jsonable
from workspaces.models import Workspace

logger = logging.getLogger(__name__)

MAX_BATCH = 10_000
MAX_FUTURE = timedelta(minutes=5)  # a timestamp later than now + this is refused
MIN_POINTS = 6  # fewer points: no forecast, no goal
HISTORY = timedelta(days=14)
MAX_HISTORY_POINTS = 5000
HORIZON = timedelta(hours=24)
STEP = timedelta(hours=1)
MAX_ACTIVE_GOALS = 10
MAX_CONCURRENT_GOALS = 3  # goals acted on per cycle
GOAL_LIFETIME = timedelta(hours=48)
CYCLE_LOST_AFTER = timedelta(hours=1)  # a cycle's own work takes seconds


# --- configuration ---------------------------------------------------------------------------
# Rules given to every workspace: the built-in collector's metrics, and the common names
# the original designs record (percentages 0–100, latency in milliseconds, queue length in
# items). A workspace replaces one by saving a rule of the same metric name.
DEFAULT_RULES = [
    # (metric, warning, critical, goal type); all "above".
    ("host_cpu_load_percent", 80.0, 95.0, GoalType.BOTTLENECK_PREVENTION),
    ("host_memory_used_percent", 85.0, 95.0, GoalType.RESOURCE_OPTIMIZATION),
    ("host_disk_used_percent", 85.0, 95.0, GoalType.CAPACITY_PLANNING),
    ("run_failure_rate", 20.0, 50.0, GoalType.SLA_MAINTENANCE),
    ("cpu_usage", 80.0, 95.0, GoalType.BOTTLENECK_PREVENTION),
    ("memory_usage", 85.0, 95.0, GoalType.RESOURCE_OPTIMIZATION),
    ("disk_usage", 85.0, 95.0, GoalType.CAPACITY_PLANNING),
    ("error_rate", 5.0, 10.0, GoalType.SLA_MAINTENANCE),
    ("latency", 500.0, 1000.0, GoalType.PERFORMANCE_TARGET),
    ("response_time", 500.0, 1000.0, GoalType.PERFORMANCE_TARGET),
    ("queue_depth", 100.0, 1000.0, GoalType.BOTTLENECK_PREVENTION),
]


def config_for(workspace: Workspace) -> AutonomousConfig:
    config, created = AutonomousConfig.objects.get_or_create(workspace=workspace)
    if created:
        rules_ensure_defaults(workspace)
    return config


def rules_ensure_defaults(workspace: Workspace) -> None:
    """Add the default rules the workspace does not have yet (its own rule of the same name
    wins). Called with each cycle, so defaults added in a later release reach old workspaces."""
    have = set(MetricRule.objects.filter(workspace=workspace).values_list("metric_name", flat=True))
    missing = [rule for rule in DEFAULT_RULES if rule[0] not in have]
    if not missing:
        return  # the usual case: no insert, so no sequence values burnt on PostgreSQL
    MetricRule.objects.bulk_create(
        [
            MetricRule(
                workspace=workspace,
                metric_name=name,
                warning=warning,
                critical=critical,
                goal_type=goal_type,
                direction="above",
            )
            for name, warning, critical, goal_type in missing
        ],
        ignore_conflicts=True,  # a concurrent cycle may add them first
    )


def rule_save(*, workspace: Workspace, metric_name: str, now: datetime | None = None, **fields) -> MetricRule:
    """Create or replace a metric's rule (the metric need not have data yet). Goals opened
    under another threshold or direction are closed as cancelled, and the metric is analysed
    again under the new rule, which may open a goal of its own."""
    now = now or timezone.now()
    rule, _ = MetricRule.objects.update_or_create(workspace=workspace, metric_name=metric_name, defaults=fields)
    stale = (
        Goal.objects.active()
        .filter(workspace=workspace, metric_name=metric_name, cause__startswith="breach:")
        .exclude(cause=rule_cause(rule))
    )
    for goal in stale:
        goal_close(goal, status=Goal.Status.CANCELLED, now=now, reason=f"the rule of {metric_name} changed")
    analyse_rule(workspace, rule, now=now)
    return rule


def autonomy_channel(workspace: Workspace, kind: str, *, enabled: bool | None = None):
    """The workspace's autonomy channel of this kind (see autonomy.channels), or None."""
    return autonomy_channels.channel(workspace.pk, kind, enabled=enabled)


# Fields of AutonomousConfig that config_update sets from `options`.
CONFIG_OPTIONS = (
    "notify_tool_calls",
    "max_active_goals",
    "max_concurrent_goals",
    "enable_learning",
    "analysis_interval_minutes",
    "pattern_window_hours",
)


def config_update(
    *,
    workspace: Workspace,
    enabled: bool,
    frequency: str,
    channels: dict[str, dict | None] | None = None,
    executor=None,
    set_executor: bool = False,
    options: dict[str, Any] | None = None,
    start_now: bool = False,
    now: datetime | None = None,
) -> AutonomousConfig:
    """Save the mode; enabling or changing the frequency reschedules the next cycle, and
    `start_now` (with the mode on) makes the next cycle due at once instead of one interval
    later. `channels` maps a kind to its validated config: that kind's autonomy channel is
    created or updated, subscribed to the cycle and goal events (None switches it off).
    `options` sets validated fields of the config (notify_tool_calls, the loop's knobs)."""
    now = now or timezone.now()
    with transaction.atomic():
        config = AutonomousConfig.objects.select_for_update().get(pk=config_for(workspace).pk)
        reschedule = enabled and (not config.enabled or config.frequency != frequency or not config.next_execution)
        if enabled and not config.enabled:
            config.enabled_since = now
        elif not enabled:
            config.enabled_since = None
        config.enabled = enabled
        config.frequency = frequency
        if set_executor:
            config.executor = executor
        for field, value in (options or {}).items():
            if field not in CONFIG_OPTIONS:
                raise ValueError(f"not an autonomous-config option: {field!r}")
            setattr(config, field, value)
        if reschedule:
            config.next_execution = now + config.interval
        if enabled and start_now:
            config.next_execution = now  # the dispatcher sends it within a second
        config.save()
        for kind, full in (channels or {}).items():
            autonomy_channels.channel_save(workspace.pk, kind, full)
    return config


def mode_set(*, workspace: Workspace, autonomous: bool, start_now: bool = False) -> AutonomousConfig:
    config = config_for(workspace)
    return config_update(workspace=workspace, enabled=autonomous, frequency=config.frequency, start_now=start_now)


def execute_request(*, workspace: Workspace, now: datetime | None = None) -> bool:
    """Start a cycle now (as a task), at most once a minute per workspace. False when limited."""
    now = now or timezone.now()
    config = config_for(workspace)
    limit = now - timedelta(minutes=1)
    claimed = (
        AutonomousConfig.objects.filter(pk=config.pk)
        .filter(_q_null_or_before("last_manual_execute", limit))
        .update(last_manual_execute=now)
    )
    if not claimed:
        return False
    cycle_enqueue(workspace.pk)
    return True


def _q_null_or_before(field: str, limit: datetime):
    from django.db.models import Q

    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lte": limit})


def cycle_enqueue(workspace_id: int, *, trigger: str = AutonomyCycle.Trigger.MANUAL) -> None:
    from agents import queueing

    transaction.on_commit(
        lambda: queueing.enqueue("autonomy.tasks.run_cycle", workspace_id, trigger, name=f"autonomy-{workspace_id}")
    )


# --- recording -------------------------------------------------------------------------------
def metrics_record(*, workspace: Workspace, points: list[dict]) -> list[MetricPoint]:
    """Store validated points ({metric_name, value, timestamp?, labels?}) in one go."""
    now = timezone.now()
    rows = [
        MetricPoint(
            workspace=workspace,
            name=point["metric_name"],
            value=point["value"],
            at=point.get("timestamp") or now,
            labels=point.get("labels") or {},
        )
        for point in points
    ]
    return MetricPoint.objects.bulk_create(rows, batch_size=1000)


def metric_record(*, workspace: Workspace, name: str, value: float, at: datetime | None = None) -> MetricPoint:
    return MetricPoint.objects.create(workspace=workspace, name=name, value=value, at=at or timezone.now())


def event_record(*, workspace: Workspace, event_type: str, metadata: dict | None = None) -> Event:
    return Event.objects.create(workspace=workspace, event_type=event_type, metadata=metadata or {})


# --- reading helpers -------------------------------------------------------------------------
def metric_series(workspace: Workspace, name: str, *, now: datetime) -> Series:
    rows = list(
        MetricPoint.objects.filter(workspace=workspace, name=name, at__gte=now - HISTORY, at__lte=now)
        .order_by("-at")
        .values_list("at", "value")[:MAX_HISTORY_POINTS]
    )
    rows.reverse()
    return Series.from_pairs(rows)


def metric_names(workspace: Workspace) -> list[str]:
    return sorted(set(MetricPoint.objects.filter(workspace=workspace).values_list("name", flat=True)))


def latest_value(workspace: Workspace, name: str) -> float | None:
    return (
        MetricPoint.objects.filter(workspace=workspace, name=name)
        .order_by("-at", "-id")
        .values_list("value", flat=True)
        .first()
    )


def metric_forecast(series: Series, *, horizon: timedelta = HORIZON):
    """The best forecast of a series, or None when it is too short."""
    if len(series) < MIN_POINTS:
        return None
    return forecast(series, horizon=horizon, step=STEP)["best"]


def learner_for(workspace: Workspace) -> Learner:
    state = LearningState.objects.filter(workspace=workspace).first()
    if state is None or not state.data:
        return Learner()
    try:
        return Learner.from_dict(state.data)
    except (ValueError, KeyError, TypeError):
        logger.exception("unreadable learning state of workspace %s; starting afresh", workspace.pk)
        return Learner()


def learner_save(workspace: Workspace, learner: Learner) -> None:
    LearningState.objects.update_or_create(workspace=workspace, defaults={"data": learner.to_dict()})


# --- the cycle -------------------------------------------------------------------------------
def apply_retention(workspace: Workspace, *, now: datetime) -> dict[str, int]:
    from autonomy.retention import apply_retention as apply

    return apply(workspace, now=now)


def run_cycle(
    workspace: Workspace,
    *,
    now: datetime | None = None,
    run_executor: bool = True,
    trigger: str = AutonomyCycle.Trigger.SCHEDULE,
) -> dict[str, Any]:
    """One autonomous cycle of a workspace, recorded as an AutonomyCycle row. Returns its summary.

    Records the built-in collector's readings, measures the actions of the previous cycle,
    analyses every metric that has a rule (closing achieved goals, opening goals for
    forecast breaches), expires old goals, acts on the active goals, starts the executor
    agent once (the goals it acts on as its input) and reschedules. A failing handler fails
    its action; an unexpected error is stored in `last_error` and on the cycle, and reported
    at once. Otherwise the completion message goes out when the executor run has ended
    (cycle_finish), with its output and the next cycle's time.
    """
    now = now or timezone.now()
    config = config_for(workspace)
    cycles_settle(workspace)
    cycle = AutonomyCycle.objects.create(workspace=workspace, started=now, trigger=trigger)
    started = {"cycle": {"id": cycle.pk, "started": now.isoformat()}}
    autonomy_channels.publish(autonomy_channels.CYCLE_STARTED, workspace_id=workspace.pk, context=started)
    summary: dict[str, Any] = {"measured": 0, "goals_created": [], "goals_achieved": [], "goals_expired": []}
    summary.update({"actions": [], "executor_run": None, "cycle": cycle.pk})
    error = ""
    run = None
    try:
        if collector.enabled():
            summary["collected"] = collector.collect(workspace, now=now)
        learner = learner_for(workspace)
        summary["measured"] = measure_actions(workspace, learner, now=now)
        if analysis_due(config, now=now):
            analysis = analyse(workspace, now=now)
            summary["goals_created"] = analysis["created"]
            summary["goals_achieved"] = analysis["achieved"]
            AutonomousConfig.objects.filter(pk=config.pk).update(last_analysis=now)
        else:
            summary["analysis_skipped"] = f"analysed less than {config.analysis_interval_minutes} min ago"
        summary["goals_expired"] = goals_expire(workspace, now=now)
        summary["actions"] = act_on_goals(workspace, config, learner, now=now)
        if config.enable_learning:
            learner_save(workspace, learner)
        run = executor_cycle_run(config, action_ids=summary["actions"], run_executor=run_executor, cycle=cycle)
        if run is not None:
            summary["executor_run"] = run.pk
            summary["executor_run_status"] = run.status
            if run.status == RunStatus.SKIPPED:
                summary["executor_skipped"] = run.reason
        summary["retention"] = apply_retention(workspace, now=now)
    except Exception as exc:
        logger.exception("autonomous cycle of workspace %s failed", workspace.pk)
        error = f"{exc.__class__.__name__}: {exc}"
    next_execution = now + config.interval if config.enabled else config.next_execution
    AutonomousConfig.objects.filter(pk=config.pk).update(
        last_execution=now, next_execution=next_execution, last_error=error
    )
    summary["error"] = error
    statuses = dict(GoalAction.objects.filter(pk__in=summary["actions"]).values_list("pk", "status"))
    skipped = sum(status == GoalAction.Status.SKIPPED for status in statuses.values())
    summary["next_execution"] = next_execution.isoformat() if next_execution else None
    AutonomyCycle.objects.filter(pk=cycle.pk).update(
        work_finished=timezone.now(),
        goals_created=len(summary["goals_created"]),
        goals_achieved=len(summary["goals_achieved"]),
        goals_expired=len(summary["goals_expired"]),
        actions=len(summary["actions"]) - skipped,
        actions_skipped=skipped,
        error=error,
        summary=jsonable(summary),
    )
    cycle_finish(cycle.pk)
    return summary


def analysis_due(config: AutonomousConfig, *, now: datetime) -> bool:
    if not config.analysis_interval_minutes or config.last_analysis is None:
        return True
    return now - config.last_analysis >= timedelta(minutes=config.analysis_interval_minutes)


def cycles_settle(workspace: Workspace) -> None:
    """Finish the workspace's cycles still waiting for an executor run that ended without
    telling (cancelled, or a worker lost long ago)."""
    waiting = AutonomyCycle.objects.filter(workspace=workspace, status=AutonomyCycle.Status.RUNNING)
    for cycle_id in waiting.exclude(executor_run__status__in=ACTIVE_STATUSES).values_list("pk", flat=True):
        cycle_finish(cycle_id)
    # A cycle whose own work never ended: its worker died mid-way.
    waiting.filter(work_finished__isnull=True, started__lt=timezone.now() - CYCLE_LOST_AFTER).update(
        status=AutonomyCycle.Status.FAILED,
        finished=timezone.now(),
        error="The cycle stopped before its end (its worker was lost?).",
    )


def cycle_finish(cycle_id: int) -> bool:
    """End a cycle once its own work is done and its executor run (if any) has ended, and
    send the completion message — once, whoever calls first (the cycle, or the run-ended
    subscriber). True when this call finished it."""
    cycle = AutonomyCycle.objects.select_related("executor_run", "workspace").filter(pk=cycle_id).first()
    if cycle is None or cycle.status != AutonomyCycle.Status.RUNNING or cycle.work_finished is None:
        return False
    run = cycle.executor_run
    if run is not None and run.status in ACTIVE_STATUSES:
        return False
    run_failed = run is not None and run.status in (RunStatus.FAILED, RunStatus.TIMED_OUT)
    error = cycle.error or (f"The executor run #{run.pk} {run.status}: {run.error or run.reason}" if run_failed else "")
    status = AutonomyCycle.Status.FAILED if error else AutonomyCycle.Status.SUCCEEDED
    now = timezone.now()
    claimed = AutonomyCycle.objects.filter(pk=cycle.pk, status=AutonomyCycle.Status.RUNNING).update(
        status=status, finished=now, error=error
    )
    if not claimed:
        return False
    config = AutonomousConfig.objects.filter(workspace_id=cycle.workspace_id).first()
    next_execution = config.next_execution if config is not None and config.enabled else None
    text = f"{cycle.goals_created} goal(s) created, {cycle.goals_achieved} achieved, {cycle.actions} action(s) run" + (
        f", {cycle.actions_skipped} skipped" if cycle.actions_skipped else ""
    )
    executor = None
    if run is not None:
        executor = {
            "run_id": run.pk,
            "status": run.status,
            "output": (run.output or "")[:1500],
            "reason": run.reason,
            "error": (run.error or "")[:1500],
        }
    context: dict[str, Any] = {
        "cycle": {
            **(cycle.summary or {}),
            "id": cycle.pk,
            "status": status,
            "started": cycle.started.isoformat(),
            "finished": now.isoformat(),
            "next_execution": next_execution.isoformat() if next_execution else None,
        },
        "executor": executor,
        "summary": error or text,
    }
    if error:
        context["level"] = "error"
        context["reason"] = error
    autonomy_channels.publish(
        autonomy_channels.CYCLE_COMPLETED, workspace_id=cycle.workspace_id, context=context, own_channels=True
    )
    return True


def on_tool_called(*, event: str, run, tool: str, ok: bool = True, **kwargs) -> None:
    """agents.events subscriber: the executor's tool calls in a cycle run, to the autonomy
    channels when the workspace asked for them (notify_tool_calls)."""
    if run.source != RunSource.AUTONOMY:
        return
    wanted = events.remember(
        ("autonomy.notify_tool_calls", run.workspace_id),
        lambda: AutonomousConfig.objects.filter(workspace_id=run.workspace_id, notify_tool_calls=True).exists(),
    )
    if not wanted:
        return
    context = {
        "run": {"id": run.pk, "status": run.status},
        "agent": {"id": run.agent_id, "name": getattr(run.agent, "name", "")},
        "tool": {"name": tool, "ok": ok},
    }
    if not ok:
        context["level"] = "warning"
    autonomy_channels.publish(
        autonomy_channels.TOOL_CALLED, workspace_id=run.workspace_id, context=context, own_channels=True, run_id=run.pk
    )


def on_run_ended(*, event: str, run, **kwargs) -> None:
    """agents.events subscriber: a cycle's executor run ended, so the cycle may end."""
    if run.source != RunSource.AUTONOMY:
        return
    waiting = AutonomyCycle.objects.filter(executor_run_id=run.pk, status=AutonomyCycle.Status.RUNNING)
    for cycle_id in waiting.values_list("pk", flat=True):
        cycle_finish(cycle_id)


def analyse(workspace: Workspace, *, now: datetime) -> dict[str, list[int]]:
    """Forecast each ruled metric; close goals back in range, open goals for breaches."""
    created: list[int] = []
    achieved: list[int] = []
    rules_ensure_defaults(workspace)
    for rule in MetricRule.objects.filter(workspace=workspace):
        outcome = analyse_rule(workspace, rule, now=now)
        if outcome is not None:
            (created if outcome[0] == "created" else achieved).append(outcome[1])
    created += analyse_patterns(workspace, now=now)
    return {"created": created, "achieved": achieved}


def max_active_goals(workspace: Workspace) -> int:
    value = AutonomousConfig.objects.filter(workspace=workspace).values_list("max_active_goals", flat=True).first()
    return value or MAX_ACTIVE_GOALS


def rule_cause(rule: MetricRule) -> str:
    return f"breach:{rule.metric_name}:{rule.direction}:{rule.critical:g}"


def analyse_rule(workspace: Workspace, rule: MetricRule, *, now: datetime) -> tuple[str, int] | None:
    """Forecast one ruled metric: ("achieved", goal id) when its open goal is back in range,
    ("created", goal id) when a (forecast) breach opens one, else None."""
    series = metric_series(workspace, rule.metric_name, now=now)
    if len(series) == 0:
        return None
    latest = series.values[-1]
    try:
        best = metric_forecast(series)
        hit = breach(best, threshold=rule.critical, direction=rule.direction) if best is not None else None
    except ValueError:
        # One unforecastable series (e.g. spanning too many steps) must not stop the others.
        logger.exception("cannot forecast metric %r of workspace %s", rule.metric_name, workspace.pk)
        return None
    cause = rule_cause(rule)
    open_goal = Goal.objects.active().filter(workspace=workspace, cause=cause).first()
    if open_goal is not None:
        if rule.in_range(latest) and hit is None:
            goal_close(open_goal, status=Goal.Status.ACHIEVED, now=now, latest=latest)
            return "achieved", open_goal.pk
        return None
    if len(series) < MIN_POINTS:
        return None  # one spike is not a reason to act
    if hit is None and not _past(latest, rule.critical, rule.direction):
        return None
    goal = goal_open(workspace=workspace, rule=rule, cause=cause, hit=hit, latest=latest, best=best, now=now)
    return ("created", goal.pk) if goal is not None else None


PATTERN_REOPEN_AFTER = timedelta(days=7)
MAX_PATTERN_GOALS = 3  # per cycle


def analyse_patterns(workspace: Workspace, *, now: datetime) -> list[int]:
    """Pattern-adaptation goals for event types that recur at the same hour or weekday.

    A pattern's goal is not reopened within PATTERN_REOPEN_AFTER of the last one: the
    pattern recurs by definition, the goal is to adapt to it once."""
    window = AutonomousConfig.objects.filter(workspace=workspace).values_list("pattern_window_hours", flat=True)
    hours = window.first() or 168
    events = list(
        evidence_events(workspace, since=now - timedelta(hours=hours), now=now)
        .order_by("-at")
        .values_list("event_type", "at")[:MAX_HISTORY_POINTS]
    )
    created = []
    for pattern in recurring_events(events, min_count=3)[:MAX_PATTERN_GOALS]:
        hour, weekday = pattern["hour"], pattern["weekday"]
        bucket = f"h{hour}" if hour is not None else f"d{weekday}"
        cause = f"pattern:{pattern['event_type']}:{bucket}"
        if Goal.objects.filter(workspace=workspace, cause=cause, created__gte=now - PATTERN_REOPEN_AFTER).exists():
            continue
        if Goal.objects.active().filter(workspace=workspace).count() >= max_active_goals(workspace):
            break
        when = f"around {hour:02d}:00" if hour is not None else f"on {WEEKDAYS[weekday]}s"
        try:
            with transaction.atomic():
                goal = Goal.objects.create(
                    workspace=workspace,
                    goal_type=GoalType.PATTERN_ADAPTATION,
                    title=f"Adapt to '{pattern['event_type']}' recurring {when}"[:200],
                    priority=4,
                    cause=cause,
                    evidence={"pattern": jsonable(pattern)},
                    created=now,
                    expires_at=now + GOAL_LIFETIME,
                )
        except IntegrityError:
            continue
        autonomy_channels.publish(
            autonomy_channels.GOAL_CREATED, workspace_id=workspace.pk, context={"goal": goal_context(goal)}
        )
        created.append(goal.pk)
    return created


def evidence_events(workspace: Workspace, *, since: datetime, now: datetime):
    """The workspace's events that are evidence of what happens in it: not the bookkeeping
    of the autonomy's own executor (events its cycle runs, or the executor agent, recorded)."""
    events = Event.objects.filter(workspace=workspace, at__gte=since, at__lte=now).exclude(
        run__source=RunSource.AUTONOMY
    )
    executor_id = AutonomousConfig.objects.filter(workspace=workspace).values_list("executor_id", flat=True).first()
    if executor_id is not None:
        events = events.exclude(run__agent_id=executor_id)
    return events


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _past(value: float, threshold: float, direction: str) -> bool:
    return value >= threshold if direction == "above" else value <= threshold


def goal_open(*, workspace: Workspace, rule: MetricRule, cause: str, hit, latest: float, best, now: datetime):
    """A goal for a (forecast) breach, unless one is open for the cause or too many are open."""
    if Goal.objects.active().filter(workspace=workspace).count() >= max_active_goals(workspace):
        return None
    hours = 0.0 if hit is None else max(0.0, (hit["at"] - now).total_seconds() / 3600)
    priority = 1 if hours <= 6 else 2 if hours <= 12 else 3
    evidence = {
        "latest": latest,
        "threshold": rule.critical,
        "direction": rule.direction,
        "method": best.method if best is not None else None,
        "backtest_error": best.backtest_error if best is not None else None,
        "breach": None
        if hit is None
        else {
            "at": hit["at"].isoformat(),
            "value": hit["value"],
            "probability": hit["probability"],
            "hours_ahead": round(hours, 2),
        },
    }
    label = dict(GoalType.choices)[rule.goal_type]
    when = "now" if hit is None else in_hours(hours)
    title = f"{label}: {rule.metric_name} {rule.direction} {rule.critical:g} {when}"
    try:
        with transaction.atomic():
            goal = Goal.objects.create(
                workspace=workspace,
                goal_type=rule.goal_type,
                title=title[:200],
                metric_name=rule.metric_name,
                priority=priority,
                cause=cause,
                evidence=evidence,
                threshold=rule.critical,
                target=rule.warning if rule.warning is not None else rule.critical,
                direction=rule.direction,
                plan=list(rule.plan or []),
                created=now,
                expires_at=now + GOAL_LIFETIME,
            )
    except IntegrityError:
        return None  # a concurrent cycle opened it first
    autonomy_channels.publish(
        autonomy_channels.GOAL_CREATED, workspace_id=workspace.pk, context={"goal": goal_context(goal)}
    )
    return goal


def in_hours(hours: float) -> str:
    """A lead time for a title: "now", "in 25 min", "in 3 h", "in 2 days"."""
    minutes = round(hours * 60)
    if minutes < 1:
        return "now"
    if minutes < 60:
        return f"in {minutes} min"
    if hours < 48:
        return f"in {round(hours)} h"
    return f"in {round(hours / 24)} days"


def goal_plan_set(*, goal: Goal, plan: list[str]) -> None:
    """Give a goal a new plan, from its first step: the steps of the old plan stay as
    actions taken, no longer counted as steps of this one."""
    with transaction.atomic():
        Goal.objects.filter(pk=goal.pk).update(plan=list(plan))
        GoalAction.objects.filter(goal=goal, plan_step__isnull=False).update(plan_step=None)


def goal_close(goal: Goal, *, status: str, now: datetime, latest: float | None = None, reason: str = "") -> None:
    updated = Goal.objects.filter(pk=goal.pk, status=Goal.Status.ACTIVE).update(status=status, closed_at=now)
    if not updated:
        return
    goal.status, goal.closed_at = status, now
    if status == Goal.Status.CANCELLED:
        return  # replaced by a new rule's goal, not a failure to tell anyone about
    event = autonomy_channels.GOAL_ACHIEVED if status == Goal.Status.ACHIEVED else autonomy_channels.GOAL_FAILED
    context = {"goal": goal_context(goal), "reason": reason, "latest": latest}
    autonomy_channels.publish(event, workspace_id=goal.workspace_id, context=context)


def goals_expire(workspace: Workspace, *, now: datetime) -> list[int]:
    expired = []
    for goal in Goal.objects.active().filter(workspace=workspace, expires_at__lte=now):
        goal_close(goal, status=Goal.Status.EXPIRED, now=now, reason="expired before the metric returned to range")
        expired.append(goal.pk)
    return expired


def goal_context(goal: Goal) -> dict[str, Any]:
    return {
        "id": goal.pk,
        "title": goal.title,
        "type": goal.goal_type,
        "priority": goal.priority,
        "status": goal.status,
        "metric": goal.metric_name,
        "evidence": goal.evidence,
    }


def action_candidates(config: AutonomousConfig) -> list[str]:
    names = sorted(action_handlers())
    if config.executor_id:
        names.append(RUN_EXECUTOR_AGENT)
    return names


SCHEDULED_PRIORITY = 4  # goals this unurgent wait for a quiet hour


def act_on_goals(workspace: Workspace, config: AutonomousConfig, learner: Learner, *, now: datetime) -> list[int]:
    """One action for each of the most urgent active goals that has none waiting to be measured.

    Strategies: immediate for critical goals (priority 1); scheduled for unurgent ones
    (priority 4–5), which act only in one of the workspace's quiet hours; collaborative when
    several goals share a metric (only the most urgent acts, the others wait for its
    impact); adaptive otherwise (the action is re-chosen from the latest outcomes)."""
    candidates = action_candidates(config)
    if not candidates:
        return []
    done = []
    quiet: list[int] | None = None
    active = list(Goal.objects.active().filter(workspace=workspace).order_by("priority", "created"))
    busy_metrics = {
        name
        for name in GoalAction.objects.filter(goal__in=active, status=GoalAction.Status.RUNNING)
        .exclude(goal__metric_name="")
        .values_list("goal__metric_name", flat=True)
    }
    waiting = set(
        GoalAction.objects.filter(goal__in=active, status=GoalAction.Status.RUNNING).values_list("goal_id", flat=True)
    )
    shared = {goal.metric_name for goal in active if goal.metric_name} if len(active) > 1 else set()
    shared = {name for name in shared if sum(goal.metric_name == name for goal in active) > 1}
    for goal in active:
        if len(done) >= (config.max_concurrent_goals or MAX_CONCURRENT_GOALS):
            break
        if goal.pk in waiting or (goal.metric_name and goal.metric_name in busy_metrics):
            continue
        if goal.priority == 1:
            strategy = GoalAction.Strategy.IMMEDIATE
        elif goal.priority >= SCHEDULED_PRIORITY:
            if quiet is None:
                quiet = workspace_quiet_hours(workspace, now=now)
            if quiet and now.hour not in quiet:
                continue
            strategy = GoalAction.Strategy.SCHEDULED
        elif goal.metric_name in shared:
            strategy = GoalAction.Strategy.COLLABORATIVE
        else:
            strategy = GoalAction.Strategy.ADAPTIVE
        if goal.metric_name:
            busy_metrics.add(goal.metric_name)
        step = None
        if goal.plan:
            step = (
                GoalAction.objects.filter(goal=goal, plan_step__isnull=False)
                .exclude(status=GoalAction.Status.SKIPPED)
                .count()
            )
            if step >= len(goal.plan):
                continue  # the plan is done; the goal waits for its metric (or expiry)
            name = goal.plan[step]
        else:
            name = learner.choose(goal_type=goal.goal_type, candidates=candidates)
        action = action_run(
            goal=goal, name=name, strategy=strategy, config=config, learner=learner, now=now, plan_step=step
        )
        done.append(action.pk)
    return done


def workspace_quiet_hours(workspace: Workspace, *, now: datetime) -> list[int]:
    """The UTC hours with (nearly) the fewest events over the history window ([] without events)."""
    stamps = list(
        evidence_events(workspace, since=now - HISTORY, now=now).values_list("at", flat=True)[:MAX_HISTORY_POINTS]
    )
    return quiet_hours(stamps) if stamps else []


def action_run(
    *,
    goal: Goal,
    name: str,
    strategy: str,
    config: AutonomousConfig,
    learner: Learner,
    now: datetime,
    plan_step: int | None = None,
) -> GoalAction:
    """Run one action for a goal. Its impact is measured at the next cycle."""
    action = GoalAction.objects.create(
        goal=goal,
        action=name,
        strategy=strategy,
        plan_step=plan_step,
        created=now,
        impact_before=latest_value(goal.workspace, goal.metric_name) if goal.metric_name else None,
    )
    if name == RUN_EXECUTOR_AGENT:
        # Started with the cycle's one executor run (executor_cycle_run), goals as its input.
        action.save()
        return action
    try:
        params = {"goal": goal_context(goal), "workspace_id": goal.workspace_id, "strategy": strategy}
        handler = action_handlers().get(name)
        if handler is None:
            raise ActionFailed(f"no action handler is registered as {name!r}")
        with transaction.atomic():
            result = handler(params, goal.pk)
        result = dict(result) if isinstance(result, dict) else {"success": True}
        if result.get("success", True) is False:
            raise ActionFailed(str(result.get("error") or "the handler reported failure"))
        action.result = jsonable(result)
    except Exception as exc:
        action.status = GoalAction.Status.FAILED
        action.error = f"{exc.__class__.__name__}: {exc}" if not isinstance(exc, ActionFailed) else str(exc)
        learner.record(action=name, goal_type=goal.goal_type, success=False, at=now, error=action.error)
    action.save()
    return action


class ActionFailed(Exception):
    pass


def measure_actions(workspace: Workspace, learner: Learner, *, now: datetime) -> int:
    """Impact of the actions of earlier cycles: the metric now against before the action."""
    measured = 0
    pending = GoalAction.objects.filter(goal__workspace=workspace, status=GoalAction.Status.RUNNING, created__lt=now)
    for action in pending.select_related("goal"):
        goal = action.goal
        after = latest_value(workspace, goal.metric_name) if goal.metric_name else None
        improved = True
        if after is not None and action.impact_before is not None:
            delta = after - action.impact_before
            improved = delta < 0 if goal.direction == "above" else delta > 0
        action.impact_after = after
        action.measured_at = now
        action.status = GoalAction.Status.SUCCEEDED if improved else GoalAction.Status.FAILED
        if not improved:
            action.error = "the metric did not improve"
        # Claimed by a conditional update: a concurrent cycle must not count it twice.
        claimed = GoalAction.objects.filter(pk=action.pk, status=GoalAction.Status.RUNNING).update(
            impact_after=after, measured_at=now, status=action.status, error=action.error
        )
        if not claimed:
            continue
        if after is not None and action.impact_before is not None and action.action != RUN_EXECUTOR_AGENT:
            worse = after > action.impact_before if goal.direction == "above" else after < action.impact_before
            if worse:
                action_rollback(action, now=now)
        impact = action.impact
        learner.record(
            action=action.action,
            goal_type=goal.goal_type,
            success=improved,
            impact=impact if impact is not None and math.isfinite(impact) else None,
            at=now,
            error=action.error or None,
        )
        measured += 1
    return measured


def action_rollback(action: GoalAction, *, now: datetime) -> bool:
    """Run the undo its handler declared, when the measured impact is negative. Once per action."""
    undo = undo_for(action.action)
    if undo is None:
        return False
    if not GoalAction.objects.filter(pk=action.pk, rolled_back=False).update(rolled_back=True):
        return False
    goal = action.goal
    params = {"goal": goal_context(goal), "workspace_id": goal.workspace_id, "strategy": action.strategy}
    try:
        with transaction.atomic():
            outcome = undo(params, goal.pk, dict(action.result or {}))
        record = {"success": True, **(dict(outcome) if isinstance(outcome, dict) else {}), "at": now.isoformat()}
    except Exception as exc:
        logger.exception("the undo of action %s (%s) failed", action.pk, action.action)
        record = {"success": False, "error": f"{exc.__class__.__name__}: {exc}", "at": now.isoformat()}
    GoalAction.objects.filter(pk=action.pk).update(rollback=jsonable(record))
    action.rolled_back, action.rollback = True, record
    return True


def goal_task(goal: Goal) -> str:
    if not goal.metric_name or goal.threshold is None:
        return (
            f"Autonomous goal #{goal.pk} ({goal.get_goal_type_display()}): {goal.title}. "
            f"Evidence: {jsonable(goal.evidence)}."
        )
    breach_info = (goal.evidence or {}).get("breach") or {}
    when = f" around {breach_info['at']}" if breach_info.get("at") else ""
    return (
        f"Autonomous goal #{goal.pk} ({goal.get_goal_type_display()}): {goal.title}. "
        f"The metric '{goal.metric_name}' is forecast to go {goal.direction} {goal.threshold:g}{when} "
        f"(latest value {(goal.evidence or {}).get('latest')}). Bring it back in range."
    )


CYCLE_TASK = "Autonomous cycle: review the workspace and act on what needs doing."


def executor_cycle_run(
    config: AutonomousConfig, *, action_ids: list[int], run_executor: bool = True, cycle: AutonomyCycle | None = None
):
    """The cycle's one executor run: the review, and every goal whose chosen action this
    cycle is run_executor_agent, given as its input. None when there is nothing to run.

    One run per cycle, so the agent's overlap policy never skips the second goal. A start
    that is refused anyway (agent paused, quota, a run already waiting) is recorded on the
    goals' actions as skipped: not a failure, and the learner is not told."""
    actions = list(
        GoalAction.objects.filter(
            pk__in=action_ids, action=RUN_EXECUTOR_AGENT, status=GoalAction.Status.RUNNING, run__isnull=True
        ).select_related("goal")
    )
    actions.sort(key=lambda action: action_ids.index(action.pk))  # most urgent goal first
    if not config.executor_id or not (actions or run_executor):
        return None
    goals = [{**goal_context(action.goal), "task": goal_task(action.goal)} for action in actions]
    task = CYCLE_TASK
    if goals:
        task += " Goals to act on:\n" + "\n".join(f"- {goal['task']}" for goal in goals)
    with transaction.atomic():  # the cycle knows its run before a worker can finish it
        run = executor_run(config, task=task, goals=goals)
        if cycle is not None:
            AutonomyCycle.objects.filter(pk=cycle.pk).update(executor_run=run)
    ids = [action.pk for action in actions]
    if run.status == RunStatus.SKIPPED:
        reason = f"The executor run was skipped: {run.reason}"
        GoalAction.objects.filter(pk__in=ids).update(
            run=run, status=GoalAction.Status.SKIPPED, error=reason[:1000], result={"run": run.pk, "status": run.status}
        )
    else:
        GoalAction.objects.filter(pk__in=ids).update(run=run, result={"run": run.pk, "status": run.status})
    return run


def executor_run(config: AutonomousConfig, *, task: str, goals: list[dict] | None = None, source_ref: str = ""):
    """Start the executor agent. The cycle queues behind a running run of the agent
    (queue_one) whatever the agent's own overlap policy, except that `allow` stays allow."""
    agent = config.executor
    policy = OverlapPolicy.ALLOW if agent.overlap_policy == OverlapPolicy.ALLOW else OverlapPolicy.QUEUE_ONE
    run_input: dict[str, Any] = {"task": task}
    if goals is not None:
        run_input["goals"] = jsonable(goals)
    with transaction.atomic():
        return start_run(
            agent,
            source=RunSource.AUTONOMY,
            source_ref=source_ref or f"autonomy:{config.workspace_id}",
            input=run_input,
            overlap_policy=policy,
        )
