from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from agents.inputs import validate_input_schema
from agents.models import Agent, DispatcherHeartbeat, Message, Run, RunSource, RunStatus, RunStep, Thread
from agents.services import agent_pause, agent_resume, run_cancel, start_run
from agents.validation import validate_agent_config


class AgentAdminForm(forms.ModelForm):
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted. Leave blank to keep the current key.",
    )

    class Meta:
        model = Agent
        fields = [
            "workspace", "name", "description", "enabled", "state", "state_reason", "system_instructions",
            "task_instructions", "provider", "model", "provider_settings", "api_key_env", "api_key",
            "allowed_tools", "max_steps", "max_tokens", "max_cost_usd", "max_seconds", "overlap_policy",
            "max_attempts", "auto_pause_after", "input_schema", "schedule", "run_on_schedule",
        ]  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # extra header values are never shown: ******** keeps a stored value
            self.initial["provider_settings"] = self.instance.shown_provider_settings()

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("api_key") and self.instance.pk:
            cleaned["api_key"] = Agent.objects.get(pk=self.instance.pk).api_key
        try:
            settings = validate_agent_config(
                provider=cleaned.get("provider", ""),
                provider_settings=cleaned.get("provider_settings") or {},
                allowed_tools=cleaned.get("allowed_tools") or [],
                max_seconds=cleaned.get("max_seconds"),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            cleaned["provider_settings"] = settings or cleaned.get("provider_settings") or {}
        if "input_schema" in cleaned:
            try:
                cleaned["input_schema"] = validate_input_schema(cleaned["input_schema"])
            except ValidationError as exc:
                self.add_error("input_schema", exc.message_dict["input_schema"])
        return cleaned


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentAdminForm
    list_display = ["name", "workspace", "provider", "model", "state", "enabled", "consecutive_failures", "updated"]
    list_filter = ["state", "enabled", "provider", "overlap_policy", "workspace"]
    search_fields = ["name", "description"]
    readonly_fields = ["consecutive_failures", "created", "updated"]
    actions = ["run_now", "pause", "resume"]
    fieldsets = [
        (None, {"fields": ["workspace", "name", "description", "enabled", "state", "state_reason"]}),
        ("Instructions", {"fields": ["system_instructions", "task_instructions"]}),
        ("Model", {"fields": ["provider", "model", "provider_settings", "api_key_env", "api_key"]}),
        ("Tools and budgets", {"fields": ["allowed_tools", "max_steps", "max_tokens", "max_cost_usd", "max_seconds"]}),
        ("Runs", {"fields": ["overlap_policy", "max_attempts", "auto_pause_after", "consecutive_failures"]}),
        ("Input", {"fields": ["input_schema"]}),
        ("Schedule", {"fields": ["schedule", "run_on_schedule"]}),
        ("Timestamps", {"fields": ["created", "updated"]}),
    ]

    @admin.action(description="Run now")
    def run_now(self, request, queryset):
        for agent in queryset:
            run = start_run(agent, source=RunSource.MANUAL, source_ref=f"admin:{request.user.pk}")
            level = messages.INFO if run.status == RunStatus.QUEUED else messages.WARNING
            self.message_user(request, f"{agent}: run #{run.pk} {run.status}. {run.reason}", level)

    @admin.action(description="Pause")
    def pause(self, request, queryset):
        for agent in queryset:
            agent_pause(agent=agent)
        self.message_user(request, f"Paused {queryset.count()} agent(s).")

    @admin.action(description="Resume")
    def resume(self, request, queryset):
        for agent in queryset:
            agent_resume(agent=agent)
        self.message_user(request, f"Resumed {queryset.count()} agent(s).")


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is written by the system; people read it and act through actions."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class RunStepInline(admin.TabularInline):
    model = RunStep
    extra = 0
    fields = ["index", "attempt", "kind", "name", "status", "duration_ms", "input_tokens", "output_tokens", "error"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["id", "agent", "status", "source", "attempt", "created", "finished_at", "short_reason"]
    list_filter = ["status", "source", "no_tool_calls", "workspace"]
    search_fields = ["id", "agent__name", "reason", "source_ref"]
    date_hierarchy = "created"
    list_select_related = ["agent"]
    inlines = [RunStepInline]
    actions = ["cancel"]

    @admin.display(description="reason")
    def short_reason(self, run: Run) -> str:
        return run.reason[:80]

    @admin.action(description="Cancel")
    def cancel(self, request, queryset):
        count = 0
        for run in queryset.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]):
            run_cancel(run, reason=f"Cancelled by {request.user} in the admin.")
            count += 1
        self.message_user(request, f"Cancel requested for {count} run(s).")


@admin.register(RunStep)
class RunStepAdmin(ReadOnlyAdmin):
    list_display = ["run", "index", "kind", "name", "status", "duration_ms"]
    list_filter = ["kind", "status"]
    search_fields = ["name", "run__id"]


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["role", "content", "run", "created"]
    readonly_fields = fields
    can_delete = False


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ["__str__", "agent", "is_primary", "workspace", "updated"]
    list_filter = ["is_primary", "workspace"]
    search_fields = ["title", "agent__name"]
    readonly_fields = ["pretty_state", "created", "updated"]
    inlines = [MessageInline]

    @admin.display(description="agent state (formatted)")
    def pretty_state(self, thread: Thread) -> str:
        return format_html("<pre>{}</pre>", json.dumps(thread.agent_state, indent=2))


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["thread", "role", "run", "created"]
    list_filter = ["role"]


@admin.register(DispatcherHeartbeat)
class DispatcherHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["name", "last_beat", "last_tick_ms", "started"]
