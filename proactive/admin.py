from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from proactive import timing
from proactive.models import Monitor, MonitorCheck, Schedule, Suggestion, Trigger, Webhook, WebhookDelivery
from proactive.services import (
    monitor_pause,
    monitor_resume,
    schedule_pause,
    schedule_resume,
    schedule_run_now,
    schedule_save,
    webhook_replay,
)


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "agent", "kind", "cron_expression", "timezone", "enabled", "next_fire_at", "error"]
    list_filter = ["kind", "enabled", "misfire_policy", "timezone"]
    search_fields = ["name", "cron_expression", "agent__name"]
    readonly_fields = ["next_fire_at", "last_fire_at", "last_run", "error", "fire_preview", "created", "updated"]
    actions = ["run_now", "pause", "resume"]

    def save_model(self, request, obj, form, change) -> None:
        try:
            schedule_save(obj)
        except timing.ScheduleError as exc:
            obj.enabled = False
            obj.error = str(exc)
            obj.save()
            self.message_user(request, f"Saved but disabled: {exc}", messages.ERROR)

    @admin.display(description="next fires (schedule's timezone)")
    def fire_preview(self, schedule: Schedule) -> str:
        if not schedule.pk:
            return "-"
        try:
            fires = timing.preview(timing.Timing.from_schedule(schedule), count=10)
        except timing.ScheduleError as exc:
            return str(exc)
        return format_html(
            "<ol>{}</ol>",
            format_html_join("", "<li>{} <strong>{}</strong></li>", ((f["local"], f["dst_change"]) for f in fires)),
        )

    @admin.action(description="Run now")
    def run_now(self, request, queryset):
        for schedule in queryset:
            run = schedule_run_now(schedule)
            self.message_user(request, f"{schedule}: run #{run.pk} {run.status}. {run.reason}")

    @admin.action(description="Pause")
    def pause(self, request, queryset):
        for schedule in queryset:
            schedule_pause(schedule)

    @admin.action(description="Resume")
    def resume(self, request, queryset):
        for schedule in queryset:
            schedule_resume(schedule)


class MonitorCheckInline(admin.TabularInline):
    model = MonitorCheck
    extra = 0
    fields = ["checked_at", "result", "state_after", "flipped", "summary", "error", "run"]
    readonly_fields = fields
    can_delete = False
    max_num = 0

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-checked_at")[:50]


@admin.register(Monitor)
class MonitorAdmin(admin.ModelAdmin):
    list_display = ["name", "agent", "probe", "condition", "state", "enabled", "last_checked_at"]
    list_filter = ["probe", "state", "enabled"]
    search_fields = ["name", "condition", "agent__name"]
    readonly_fields = ["state", "streak", "next_check_at", "last_checked_at", "last_flip_at", "last_run_at"]
    actions = ["pause", "resume"]

    @admin.action(description="Pause")
    def pause(self, request, queryset):
        for monitor in queryset:
            monitor_pause(monitor)

    @admin.action(description="Resume")
    def resume(self, request, queryset):
        for monitor in queryset:
            monitor_resume(monitor)


@admin.register(MonitorCheck)
class MonitorCheckAdmin(admin.ModelAdmin):
    list_display = ["monitor", "checked_at", "result", "state_after", "flipped", "summary"]
    list_filter = ["flipped", "state_after"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    list_display = ["name", "agent", "trigger_type", "enabled", "fire_count", "last_fired_at"]
    list_filter = ["trigger_type", "enabled"]
    search_fields = ["name", "agent__name"]
    readonly_fields = ["fire_count", "last_fired_at"]


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["__str__", "trigger", "scheme", "enabled", "created"]
    list_filter = ["scheme", "enabled"]
    # The secret is never shown here: regenerate it from the page or the API, which show it once.
    exclude = ["secret"]
    readonly_fields = ["url_path"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["received_at", "webhook", "verdict", "status_code", "event_type", "reason", "run"]
    list_filter = ["verdict", "status_code"]
    search_fields = ["delivery_id", "url_path", "reason"]
    readonly_fields = ["body_text"]
    exclude = ["body"]
    actions = ["replay"]

    @admin.display(description="body")
    def body_text(self, delivery: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", bytes(delivery.body)[:65536].decode("utf-8", "replace"))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Replay delivery")
    def replay(self, request, queryset):
        for delivery in queryset:
            result = webhook_replay(delivery)
            self.message_user(request, f"Delivery #{delivery.pk}: {result}")


@admin.register(Suggestion)
class SuggestionAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "status", "workspace", "created"]
    list_filter = ["kind", "status"]
    readonly_fields = ["fingerprint", "evidence", "decided_at"]
