from __future__ import annotations

from collections.abc import Mapping

from rest_framework import serializers

from agents.models import Agent
from gradent.api import RegistryChoiceField, StrictModelSerializer, StrictSerializer
from gradent.lib.siteurl import site_url
from proactive import timing
from proactive.models import Monitor, Schedule, Suggestion, Trigger, Webhook, WebhookDelivery
from proactive.probes import PROBES
from proactive.signatures import SCHEMES
from workspaces.scoping import scope_queryset


class ActiveAliasMixin:
    """`is_active`, the original design's name for `enabled`, is read and written too. Both
    in one write must agree."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and "is_active" in self.fields and "is_active" in data and "enabled" in data:
            fields = self.fields
            if fields["is_active"].to_internal_value(data["is_active"]) != fields["enabled"].to_internal_value(
                data["enabled"]
            ):
                raise serializers.ValidationError({"is_active": ["Disagrees with enabled; send one of them."]})
        return super().to_internal_value(data)


class AgentBoundSerializer(ActiveAliasMixin, StrictModelSerializer):
    """Objects that run an agent: `agent_id` must be one of the caller's agents, and the
    object lives in that agent's workspace (`workspace_id`, from the original examples, is
    accepted and must agree)."""

    agent_id = serializers.IntegerField()
    workspace_id = serializers.IntegerField(required=False)

    def validate(self, attrs: dict) -> dict:
        request = self.context["request"]
        if "agent_id" in attrs:
            agent = scope_queryset(Agent.objects.all(), request.user).filter(pk=attrs["agent_id"]).first()
            if agent is None:
                raise serializers.ValidationError({"agent_id": "No such agent among yours."})
            if self.instance is not None and agent.workspace_id != self.instance.workspace_id:
                raise serializers.ValidationError({"agent_id": "The agent is in another workspace."})
            attrs["agent"] = agent
        workspace_id = attrs.pop("workspace_id", None)
        agent = attrs.get("agent") or getattr(self.instance, "agent", None)
        if workspace_id is not None and agent is not None and workspace_id != agent.workspace_id:
            raise serializers.ValidationError({"workspace_id": "Must be the agent's workspace."})
        attrs.pop("agent_id", None)
        return attrs


class ScheduleSerializer(AgentBoundSerializer):
    description = serializers.SerializerMethodField(help_text="The cron expression in words.")
    # The original design's names (seed 002), beside ours.
    is_active = serializers.BooleanField(source="enabled", required=False, help_text="The same as enabled.")
    next_run = serializers.DateTimeField(source="next_fire_at", read_only=True, help_text="next_fire_at.")
    last_run = serializers.DateTimeField(source="last_fire_at", read_only=True, help_text="last_fire_at.")

    class Meta:
        model = Schedule
        fields = [
            "id", "workspace_id", "agent_id", "name", "kind", "cron_expression", "description",
            "interval_seconds", "anchor", "run_at", "timezone", "start_at", "end_at", "jitter_seconds",
            "misfire_policy", "misfire_grace_seconds", "max_catchup", "overlap_policy", "task_description",
            "input", "enabled", "is_active", "is_agent_schedule", "next_fire_at", "next_run", "last_fire_at",
            "last_run", "error", "created", "updated",
        ]  # fmt: skip
        read_only_fields = ["is_agent_schedule", "next_fire_at", "last_fire_at", "error", "created", "updated"]

    def get_description(self, schedule: Schedule) -> str:
        if schedule.kind == Schedule.Kind.CRON and schedule.cron_expression:
            try:
                return timing.describe_cron(schedule.cron_expression)
            except timing.ScheduleError:
                return ""
        if schedule.kind == Schedule.Kind.INTERVAL and schedule.interval_seconds:
            return f"Every {schedule.interval_seconds} seconds"
        if schedule.kind == Schedule.Kind.ONCE and schedule.run_at:
            return f"Once at {schedule.run_at.isoformat()}"
        return ""

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        probe = Schedule(**{**_current(self.instance, attrs)})
        try:
            from proactive.services import schedule_validate

            schedule_validate(probe)
        except timing.ScheduleError as exc:
            raise serializers.ValidationError({exc.field: str(exc)}) from None
        if probe.kind == Schedule.Kind.CRON:
            attrs["cron_expression"] = probe.cron_expression
        return attrs


def _current(instance, attrs: dict) -> dict:
    """The fields a model would have after this write, for whole-object validation."""
    names = ["kind", "cron_expression", "interval_seconds", "run_at", "timezone", "start_at", "end_at"]
    values = {name: getattr(instance, name) for name in names} if instance is not None else {}
    values.update({name: attrs[name] for name in names if name in attrs})
    values.setdefault("timezone", "UTC")
    values.setdefault("kind", Schedule.Kind.CRON)
    return values


class PreviewSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=Schedule.Kind.choices, default=Schedule.Kind.CRON)
    cron_expression = serializers.CharField(required=False, allow_blank=True, default="")
    interval_seconds = serializers.IntegerField(required=False, min_value=1, allow_null=True)
    run_at = serializers.DateTimeField(required=False, allow_null=True)
    timezone = serializers.CharField(default="UTC")
    start_at = serializers.DateTimeField(required=False, allow_null=True)
    end_at = serializers.DateTimeField(required=False, allow_null=True)
    count = serializers.IntegerField(default=10, min_value=1, max_value=100)


class MonitorSerializer(AgentBoundSerializer):
    probe = RegistryChoiceField(PROBES, required=False, help_text="http, metric, callable or llm (default).")
    # The original design's names (seed 002), beside ours.
    is_active = serializers.BooleanField(source="enabled", required=False, help_text="The same as enabled.")
    last_check = serializers.DateTimeField(source="last_checked_at", read_only=True, help_text="last_checked_at.")
    last_triggered = serializers.DateTimeField(
        source="last_run_at", read_only=True, help_text="When the monitor last started its agent (last_run_at)."
    )
    trigger_count = serializers.SerializerMethodField(help_text="How many runs the monitor has started.")

    class Meta:
        model = Monitor
        fields = [
            "id", "workspace_id", "agent_id", "name", "probe", "probe_config", "condition", "action",
            "check_interval", "trigger_after", "clear_after", "cooldown_seconds", "reminder_seconds",
            "run_on_recovery", "history_limit", "enabled", "is_active", "state", "next_check_at", "last_checked_at",
            "last_check", "last_flip_at", "last_run_at", "last_triggered", "trigger_count", "created", "updated",
        ]  # fmt: skip
        read_only_fields = ["state", "next_check_at", "last_checked_at", "last_flip_at", "last_run_at", "created",
                            "updated"]  # fmt: skip

    def get_trigger_count(self, monitor: Monitor) -> int:
        from proactive.selectors import monitor_run_count

        counted = getattr(monitor, "run_count", None)
        return counted if counted is not None else monitor_run_count(monitor)

    def validate(self, attrs: dict) -> dict:
        from proactive.services import monitor_validate

        attrs = super().validate(attrs)
        attrs.update(
            monitor_validate(
                agent=attrs.get("agent") or getattr(self.instance, "agent", None),
                probe=attrs.get("probe"),
                probe_config=attrs.get("probe_config"),
                condition=attrs.get("condition"),
                monitor=self.instance,
                user=self.context["request"].user,
            )
        )
        return attrs

    def create(self, validated_data: dict) -> Monitor:
        from proactive.services import monitor_save

        return monitor_save(Monitor(**validated_data))

    def update(self, instance: Monitor, validated_data: dict) -> Monitor:
        from proactive.services import monitor_save

        for name, value in validated_data.items():
            setattr(instance, name, value)
        return monitor_save(instance)


class MonitorCheckSerializer(StrictSerializer):
    id = serializers.IntegerField()
    checked_at = serializers.DateTimeField()
    result = serializers.BooleanField(allow_null=True)
    values = serializers.JSONField()
    summary = serializers.CharField()
    error = serializers.CharField()
    duration_ms = serializers.IntegerField()
    state_after = serializers.CharField()
    flipped = serializers.BooleanField()
    run_id = serializers.IntegerField(allow_null=True)


class TriggerSerializer(AgentBoundSerializer):
    config = serializers.DictField(required=False, help_text="Filters: events, event, match, repository.")
    # The original design's names (seed 002), beside ours.
    is_active = serializers.BooleanField(source="enabled", required=False, help_text="The same as enabled.")
    last_triggered = serializers.DateTimeField(source="last_fired_at", read_only=True, help_text="last_fired_at.")
    trigger_count = serializers.IntegerField(source="fire_count", read_only=True, help_text="fire_count.")

    class Meta:
        model = Trigger
        fields = [
            "id", "workspace_id", "agent_id", "name", "trigger_type", "config", "task_template", "enabled",
            "is_active", "fire_count", "trigger_count", "last_fired_at", "last_triggered", "created", "updated",
        ]  # fmt: skip
        read_only_fields = ["fire_count", "last_fired_at", "created", "updated"]

    def validate_config(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        events = value.get("events", [])
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise serializers.ValidationError("events must be a list of event names.")
        if "match" in value and not isinstance(value["match"], dict):
            raise serializers.ValidationError("match must be an object of payload paths to values.")
        event = value.get("event")
        if event is not None and not (
            isinstance(event, str) or (isinstance(event, list) and all(isinstance(e, str) for e in event))
        ):
            raise serializers.ValidationError("event must be an event name or a list of them.")
        if "repository" in value and not isinstance(value["repository"], str):
            raise serializers.ValidationError("repository must be 'owner/name'.")
        self._validate_input_map(value.get("input", {}))
        return value

    @staticmethod
    def _validate_input_map(mapping) -> None:
        from proactive.services.triggers import OWN_INPUT_FIELDS

        if not isinstance(mapping, dict):
            raise serializers.ValidationError('input must be an object of input fields to payload paths: {"number": '
                                              '"pull_request.number"}.')  # fmt: skip
        for field, path in mapping.items():
            if not field.strip() or field in OWN_INPUT_FIELDS:
                raise serializers.ValidationError(
                    f"input: {field!r} cannot be mapped (the trigger fills {', '.join(OWN_INPUT_FIELDS)} itself)."
                )
            if not isinstance(path, str) or not path or any(not part for part in path.split(".")):
                raise serializers.ValidationError(f"input.{field}: the payload path must be dotted text such as "
                                                  f"'pull_request.number', not {path!r}.")  # fmt: skip

    def validate_task_template(self, value: str) -> str:
        from gradent.lib.templating import TemplateError, render_string

        # Only the syntax can be checked now: which paths exist is known per event.
        if value.count("{{") != value.count("}}"):
            raise serializers.ValidationError("A '{{' placeholder is not closed with '}}'.")
        try:
            render_string(value, _Anything())
        except TemplateError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value


class _Anything(dict):
    """A template context in which every path exists, to check template syntax only."""

    def __contains__(self, key) -> bool:
        return True

    def __getitem__(self, key):
        return _Anything()

    def get(self, key, default=None):
        return _Anything()


class TriggerFireSerializer(StrictSerializer):
    payload = serializers.DictField(required=False, default=dict)
    event_type = serializers.CharField(required=False, allow_blank=True, default="")


class WebhookSerializer(StrictModelSerializer):
    extra_input_fields = frozenset({"secret"})  # in the create answer only; sent back, it is ignored
    trigger_id = serializers.IntegerField()
    workspace_id = serializers.IntegerField(read_only=True)
    webhook_url = serializers.SerializerMethodField()
    scheme = RegistryChoiceField(SCHEMES, required=False)

    class Meta:
        model = Webhook
        fields = [
            "id", "workspace_id", "trigger_id", "name", "url_path", "webhook_url", "scheme", "tolerance_seconds",
            "max_body_bytes", "rate_limit_per_minute", "enabled", "created", "updated",
        ]  # fmt: skip
        read_only_fields = ["url_path", "created", "updated"]

    def get_webhook_url(self, webhook: Webhook) -> str:
        return f"{site_url(self.context.get('request'))}/api/hooks/{webhook.url_path}"

    def validate_scheme(self, value: str) -> str:
        from proactive.signatures import SCHEMES

        if value not in SCHEMES:
            raise serializers.ValidationError(f"Unknown scheme {value!r}; choose one of: {', '.join(SCHEMES)}.")
        return value

    def validate(self, attrs: dict) -> dict:
        from proactive.services import webhook_default_limits, webhook_validate_limits

        # Only what is being set: a limit stored before the caps existed is capped at the
        # door (proactive.hooks), and must not block renaming the webhook.
        webhook_validate_limits(
            scheme=attrs.get("scheme"),
            max_body_bytes=attrs.get("max_body_bytes"),
            rate_limit_per_minute=attrs.get("rate_limit_per_minute"),
        )
        if self.instance is None:
            attrs = {**webhook_default_limits(), **attrs}
        return attrs

    def validate_trigger_id(self, value: int) -> int:
        request = self.context["request"]
        trigger = scope_queryset(Trigger.objects.all(), request.user).filter(pk=value).first()
        if trigger is None:
            raise serializers.ValidationError("No such trigger among yours.")
        if self.instance is not None and trigger.workspace_id != self.instance.workspace_id:
            raise serializers.ValidationError("The trigger is in another workspace.")
        self._trigger = trigger
        return value


class WebhookDeliverySerializer(StrictModelSerializer):
    run_id = serializers.IntegerField(read_only=True)
    body_text = serializers.SerializerMethodField()

    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "received_at", "method", "headers", "body_text", "body_size", "delivery_id", "event_type",
            "verdict", "status_code", "reason", "remote_addr", "run_id", "pending", "replay_of",
        ]  # fmt: skip
        read_only_fields = fields

    def get_body_text(self, delivery: WebhookDelivery) -> str:
        return bytes(delivery.body)[:65536].decode("utf-8", "replace")


class SuggestionSerializer(StrictModelSerializer):
    workspace_id = serializers.IntegerField(read_only=True)
    agent_id = serializers.IntegerField(read_only=True)
    monitor_id = serializers.IntegerField(read_only=True)
    schedule_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Suggestion
        fields = [
            "id", "workspace_id", "kind", "agent_id", "monitor_id", "schedule_id", "title", "detail", "proposal",
            "evidence", "status", "created", "decided_at",
        ]  # fmt: skip
        read_only_fields = fields
