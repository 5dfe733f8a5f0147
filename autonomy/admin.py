from __future__ import annotations

from django.contrib import admin

from autonomy.models import (
    AutonomousConfig,
    AutonomyCycle,
    Event,
    Goal,
    GoalAction,
    LearningState,
    MetricPoint,
    MetricRule,
)


@admin.register(AutonomousConfig)
class AutonomousConfigAdmin(admin.ModelAdmin):
    list_display = ["workspace", "enabled", "frequency", "executor", "last_execution", "next_execution", "last_error"]
    list_filter = ["enabled", "frequency"]
    readonly_fields = ["last_execution", "last_analysis", "enabled_since", "last_manual_execute", "created", "updated"]


@admin.register(AutonomyCycle)
class AutonomyCycleAdmin(admin.ModelAdmin):
    """History: read-only."""

    list_display = ["started", "workspace", "status", "trigger", "goals_created", "goals_achieved", "actions",
                    "actions_skipped", "executor_run", "finished"]  # fmt: skip
    list_filter = ["status", "trigger"]
    date_hierarchy = "started"
    raw_id_fields = ["executor_run"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MetricRule)
class MetricRuleAdmin(admin.ModelAdmin):
    list_display = ["metric_name", "workspace", "direction", "warning", "critical", "goal_type"]
    list_filter = ["direction", "goal_type"]
    search_fields = ["metric_name"]


@admin.register(MetricPoint)
class MetricPointAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "value", "at"]
    search_fields = ["name"]
    date_hierarchy = "at"


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["event_type", "workspace", "at"]
    search_fields = ["event_type"]
    date_hierarchy = "at"


class GoalActionInline(admin.TabularInline):
    model = GoalAction
    extra = 0
    readonly_fields = [
        "action", "plan_step", "strategy", "status", "run", "impact_before", "impact_after", "error", "rolled_back",
        "created",
    ]  # fmt: skip
    fields = readonly_fields
    can_delete = False


@admin.register(Goal)
class GoalAdmin(admin.ModelAdmin):
    list_display = ["title", "workspace", "goal_type", "priority", "status", "created", "expires_at", "closed_at"]
    list_filter = ["status", "goal_type", "priority"]
    search_fields = ["title", "metric_name", "cause"]
    readonly_fields = ["cause", "evidence", "created", "closed_at"]
    inlines = [GoalActionInline]


@admin.register(GoalAction)
class GoalActionAdmin(admin.ModelAdmin):
    list_display = ["action", "goal", "strategy", "status", "impact_before", "impact_after", "created"]
    list_filter = ["status", "strategy", "action"]
    readonly_fields = ["run", "result", "created", "measured_at"]


@admin.register(LearningState)
class LearningStateAdmin(admin.ModelAdmin):
    list_display = ["workspace", "updated"]
    readonly_fields = ["data", "updated"]
