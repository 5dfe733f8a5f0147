from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from agents.inputs import validate_input_schema
from agents.models import Agent, Message, Run, RunStep, Thread
from agents.providers import PROVIDERS
from agents.validation import validate_agent_config, validate_agent_schedule
from gradent.api import JSONField, RegistryChoiceField, StrictModelSerializer, StrictSerializer


class AgentSerializer(StrictModelSerializer):
    workspace_id = serializers.IntegerField(required=False, help_text="Defaults to your personal workspace.")
    provider = RegistryChoiceField(
        PROVIDERS,
        help_text="A registered provider: openai, anthropic, scripted, or one listed in GRADENT_EXTRA_PROVIDERS.",
    )
    api_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, help_text="Stored encrypted; never returned."
    )
    has_api_key = serializers.SerializerMethodField()
    allowed_tools = serializers.ListField(child=serializers.CharField(), required=False)
    provider_settings = JSONField(
        required=False,
        help_text=(
            "Provider options. extra_headers values are write-only: read back as ********; send ******** to "
            "keep a stored value; leave extra_headers out to keep them all, {} to remove them."
        ),
    )
    input_schema = JSONField(
        required=False, help_text="A JSON Schema (draft 2020-12) every run's input must match; {} for none."
    )

    class Meta:
        model = Agent
        fields = [
            "id", "workspace_id", "name", "description", "system_instructions", "task_instructions",
            "provider", "model", "provider_settings", "api_key_env", "api_key", "has_api_key",
            "allowed_tools", "max_steps", "max_tokens", "max_cost_usd", "max_seconds", "overlap_policy",
            "max_attempts", "auto_pause_after", "input_schema", "enabled", "state", "state_reason",
            "consecutive_failures",
            "schedule", "run_on_schedule", "created", "updated",
        ]  # fmt: skip
        read_only_fields = ["state", "state_reason", "consecutive_failures", "created", "updated"]

    def get_fields(self) -> dict:
        fields = super().get_fields()
        # The bound validate_agent_config enforces, so the schema shows it.
        fields["max_seconds"].max_value = settings.GRADENT_TASK_TIMEOUT - settings.GRADENT_RUN_GRACE_SECONDS
        return fields

    def get_has_api_key(self, agent: Agent) -> bool:
        return bool(agent.api_key)

    def to_representation(self, agent: Agent) -> dict:
        data = super().to_representation(agent)
        data["provider_settings"] = agent.shown_provider_settings()  # extra header values masked
        return data

    def validate(self, attrs: dict) -> dict:
        instance = self.instance

        def current(name, default=None):
            if name in attrs:
                return attrs[name]
            return getattr(instance, name) if instance is not None else default

        if instance is not None and "workspace_id" in attrs and attrs["workspace_id"] != instance.workspace_id:
            raise serializers.ValidationError({"workspace_id": "An agent cannot move between workspaces."})
        try:
            cleaned = validate_agent_config(
                provider=current("provider", "scripted"),
                provider_settings=current("provider_settings", {}),
                allowed_tools=current("allowed_tools", []),
                max_seconds=current("max_seconds"),
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        if "provider_settings" in attrs:
            attrs["provider_settings"] = cleaned or attrs["provider_settings"]
        if "input_schema" in attrs:
            try:
                attrs["input_schema"] = validate_input_schema(attrs["input_schema"])
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.message_dict) from None
        if attrs.get("schedule"):
            try:
                attrs["schedule"] = validate_agent_schedule(attrs["schedule"])
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.message_dict) from None
        if current("run_on_schedule", False) and not current("schedule", ""):
            raise serializers.ValidationError({"schedule": "run_on_schedule needs a cron schedule."})
        return attrs


class RunStepSerializer(StrictModelSerializer):
    class Meta:
        model = RunStep
        fields = [
            "index", "attempt", "kind", "name", "status", "input", "output", "error",
            "started_at", "duration_ms", "input_tokens", "output_tokens",
        ]  # fmt: skip


class RunSerializer(StrictModelSerializer):
    agent_id = serializers.IntegerField(read_only=True)
    workspace_id = serializers.IntegerField(read_only=True)
    thread_id = serializers.IntegerField(read_only=True)
    total_tokens = serializers.IntegerField(read_only=True)

    class Meta:
        model = Run
        fields = [
            "id", "workspace_id", "agent_id", "thread_id", "source", "source_ref", "status", "reason",
            "attempt", "max_attempts", "not_before", "created", "started_at", "finished_at",
            "input", "payload", "output", "error", "input_tokens", "output_tokens", "total_tokens",
            "cost_usd", "step_count", "tool_call_count", "no_tool_calls", "cancel_requested",
        ]  # fmt: skip
        read_only_fields = fields


class RunDetailSerializer(RunSerializer):
    steps = RunStepSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "steps"]
        read_only_fields = fields


class RunStartSerializer(StrictSerializer):
    task = serializers.CharField(required=False, allow_blank=True, help_text="Overrides the agent's task.")
    input = serializers.DictField(required=False, help_text="Extra input for the run (templating, context).")
    payload = serializers.DictField(required=False, help_text="Event data; shown to the model as untrusted data.")
    thread_id = serializers.IntegerField(required=False, help_text="Defaults to the agent's primary thread.")


class MessageSerializer(StrictModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "role", "content", "run", "created"]


class ThreadSerializer(StrictModelSerializer):
    agent_id = serializers.IntegerField()
    workspace_id = serializers.IntegerField(read_only=True)
    agent_state = serializers.DictField(required=False)

    class Meta:
        model = Thread
        fields = ["id", "workspace_id", "agent_id", "title", "is_primary", "agent_state", "created", "updated"]
        read_only_fields = ["is_primary", "created", "updated"]

    def validate_agent_state(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value

    def validate(self, attrs):
        if self.instance is not None and "agent_id" in attrs and attrs["agent_id"] != self.instance.agent_id:
            raise serializers.ValidationError({"agent_id": "A thread cannot move to another agent."})
        return attrs


class ThreadDetailSerializer(ThreadSerializer):
    messages = MessageSerializer(many=True, read_only=True)

    class Meta(ThreadSerializer.Meta):
        fields = [*ThreadSerializer.Meta.fields, "messages"]
