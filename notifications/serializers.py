from __future__ import annotations

from rest_framework import serializers

from agents.models import Agent
from gradent.api import JSONField, StrictModelSerializer, StrictSerializer
from notifications.models import Channel, ChannelKind, Notification, NotifyEvent, default_events
from notifications.transports import get_transport_class, kind_choices


def validate_channel_config(*, kind: str, config: dict, stored: dict | None = None) -> dict:
    """The kind's serializer validates the config; secrets left out keep their stored value
    (they are never shown, so an edit cannot send them back). Errors are raised under
    `config` with the config's field names."""
    transport = get_transport_class(kind)
    merged = dict(config or {})
    for name in transport.secret_fields:
        if merged.get(name) in (None, "") and stored and stored.get(name):
            merged[name] = stored[name]
    serializer = transport.ConfigSerializer(data=merged)
    if not serializer.is_valid():
        raise serializers.ValidationError({"config": serializer.errors})
    return {key: value for key, value in serializer.validated_data.items() if value is not None}


def describe_channel(channel: Channel) -> str:
    if channel.secrets_unreadable:
        return f"{channel.kind} (its stored secrets cannot be decrypted: enter them again)"
    try:
        return get_transport_class(channel.kind).describe(channel.full_config())
    except (KeyError, ImportError):
        return channel.kind


class ChannelSerializer(StrictModelSerializer):
    workspace_id = serializers.IntegerField(required=False, help_text="Defaults to your personal workspace.")
    kind = serializers.ChoiceField(choices=ChannelKind.choices)  # the registry's, set in __init__
    config = JSONField(
        help_text=(
            "The kind's settings. discord: {url, username?}; ntfy: {server?, topic, token?, priority?, tags?}; "
            "slack: {url}; webhook: {url, signing_secret?}; email: {to: [...]}. Secret ones (webhook URLs, "
            "tokens, signing secrets) are stored encrypted and never returned: leave them out of an update to "
            "keep them."
        )
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=NotifyEvent.choices),
        required=False,
        max_length=len(NotifyEvent.values),
        help_text="Events this channel hears about; tool_called is opt-in and rate-limited.",
    )
    agent_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=200,
        help_text="Only these agents' events; empty: every agent of the workspace.",
    )
    target = serializers.SerializerMethodField(help_text="Where messages go, without secrets.")
    secrets_set = serializers.SerializerMethodField(help_text="Which secret settings are stored.")

    class Meta:
        model = Channel
        fields = [
            "id", "workspace_id", "name", "kind", "config", "events", "agent_ids", "enabled", "disabled_reason",
            "target", "secrets_set", "created", "updated",
        ]  # fmt: skip
        read_only_fields = ["disabled_reason", "created", "updated"]
        validators = []  # name uniqueness is checked against the workspace the channel lands in

    def get_target(self, channel: Channel) -> str:
        return describe_channel(channel)

    def get_secrets_set(self, channel: Channel) -> list[str]:
        return sorted(channel.secrets)

    def to_representation(self, channel: Channel) -> dict:
        data = super().to_representation(channel)
        data["config"] = dict(channel.config or {})  # the public part only
        return data

    def validate_events(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("A channel needs a name.")
        return value

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Users' transports (GRADENT_NOTIFY_TRANSPORTS) are kinds too: read when used, not at import.
        self.fields["kind"].choices = kind_choices()

    def validate(self, attrs: dict) -> dict:
        instance = self.instance
        if instance is not None and "workspace_id" in attrs and attrs["workspace_id"] != instance.workspace_id:
            raise serializers.ValidationError({"workspace_id": "A channel cannot move between workspaces."})
        kind = attrs.get("kind", instance.kind if instance else None)
        if "config" in attrs or "kind" in attrs or instance is None:
            config = attrs.get("config", {**instance.config, **instance.secrets} if instance else {})
            if not isinstance(config, dict):
                raise serializers.ValidationError({"config": "Must be a JSON object."})
            same_kind = instance is not None and instance.kind == kind
            attrs["config"] = validate_channel_config(
                kind=kind, config=config, stored=instance.secrets if same_kind else None
            )
        return attrs

    def _check(self, channel: Channel, workspace_id: int, validated: dict) -> None:
        name = validated.get("name", channel.name)
        if Channel.objects.filter(workspace_id=workspace_id, name=name).exclude(pk=channel.pk).exists():
            raise serializers.ValidationError({"name": ["This workspace already has a channel with this name."]})
        if "agent_ids" in validated:
            wanted = set(validated["agent_ids"])
            found = set(Agent.objects.filter(workspace_id=workspace_id, pk__in=wanted).values_list("pk", flat=True))
            if wanted - found:
                missing = ", ".join(str(pk) for pk in sorted(wanted - found))
                raise serializers.ValidationError({"agent_ids": [f"No such agent in this workspace: {missing}."]})

    def _save(self, channel: Channel, validated: dict) -> Channel:
        agent_ids = validated.pop("agent_ids", None)
        config = validated.pop("config", None)
        validated.pop("workspace_id", None)
        for key, value in validated.items():
            setattr(channel, key, value)
        if config is not None:
            channel.set_full_config(config, secret_fields=get_transport_class(channel.kind).secret_fields)
        if validated.get("enabled"):
            channel.disabled_reason = ""
        channel.save()
        if agent_ids is not None:
            channel.agents.set(agent_ids)
        return channel

    def create(self, validated_data: dict) -> Channel:
        workspace = validated_data.pop("workspace")
        channel = Channel(workspace=workspace, events=default_events())
        self._check(channel, workspace.pk, validated_data)
        return self._save(channel, validated_data)

    def update(self, channel: Channel, validated_data: dict) -> Channel:
        self._check(channel, channel.workspace_id, validated_data)
        return self._save(channel, validated_data)


class ChannelTestResultSerializer(StrictSerializer):
    ok = serializers.BooleanField()
    status = serializers.IntegerField(allow_null=True, help_text="The peer's HTTP status, when it answered.")
    detail = serializers.CharField(help_text="The peer's answer, or why the send failed.")
    notification_id = serializers.IntegerField()


class NotificationSerializer(StrictModelSerializer):
    channel_id = serializers.IntegerField(read_only=True)
    run_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Notification
        fields = [
            "id", "channel_id", "event", "run_id", "title", "body", "payload", "status", "attempts",
            "max_attempts", "last_error", "peer_status", "peer_answer", "next_attempt_at", "sent_at", "created",
        ]  # fmt: skip
        read_only_fields = fields
