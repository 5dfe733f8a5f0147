"""The channel form. The kind is chosen first (the "new channel" page lists them, as
Healthchecks' integrations do); the form then has only that kind's fields, and the kind's
serializer validates them, the same check as the API's. A saved channel keeps its kind."""

from __future__ import annotations

import re

from django import forms
from rest_framework.exceptions import ValidationError as DRFValidationError

from agents.models import Agent
from notifications.models import Channel, ChannelKind, NotifyEvent, default_events
from notifications.serializers import validate_channel_config
from notifications.transports import get_transport_class, kind_choices
from workspaces.models import personal_workspace_for
from workspaces.scoping import writable_workspaces

# kind → {config key: form field}
KIND_FIELDS: dict[str, dict[str, str]] = {
    ChannelKind.DISCORD: {"url": "url", "username": "discord_username"},
    ChannelKind.NTFY: {
        "server": "ntfy_server",
        "topic": "ntfy_topic",
        "token": "ntfy_token",
        "priority": "ntfy_priority",
        "tags": "ntfy_tags",
    },
    ChannelKind.SLACK: {"url": "url"},
    ChannelKind.WEBHOOK: {"url": "url", "signing_secret": "signing_secret"},
    ChannelKind.EMAIL: {"to": "email_to"},
}
LIST_KEYS = {"tags", "to"}
KIND_URL_HELP = {
    ChannelKind.DISCORD: "Server settings → Integrations → Webhooks → Copy webhook URL. Stored encrypted, "
    "never shown again.",
    ChannelKind.SLACK: "An incoming-webhook URL (https://hooks.slack.com/services/…). Stored encrypted, "
    "never shown again.",
    ChannelKind.WEBHOOK: "Where each message is POSTed as JSON. Stored encrypted, never shown again.",
}
NTFY_PRIORITIES = [(1, "1 (min)"), (2, "2 (low)"), (3, "3 (default)"), (4, "4 (high)"), (5, "5 (max)")]
STORED_VALUE_HELP = "A value is stored. Leave blank to keep it; type a new one to replace it."


def _secret_input() -> forms.PasswordInput:
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"})


class ChannelForm(forms.ModelForm):
    workspace = forms.ModelChoiceField(
        queryset=None, empty_label=None, help_text="Where the channel lives; it cannot move later."
    )
    events = forms.MultipleChoiceField(
        choices=NotifyEvent.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="What this channel hears about. “Tool called” sends one message per tool call (rate-limited).",
    )
    agents = forms.ModelMultipleChoiceField(
        queryset=None,
        required=False,
        label="Only these agents",
        help_text="Agent events only for these agents; none selected means every agent of the workspace.",
    )
    url = forms.CharField(
        label="Webhook URL",
        required=False,
        max_length=2000,
        widget=_secret_input(),
        help_text="Discord, Slack and webhook channels. Stored encrypted and never shown again.",
    )
    discord_username = forms.CharField(
        label="Discord: post as", required=False, max_length=80, help_text="Overrides the webhook's name."
    )
    ntfy_server = forms.CharField(
        label="ntfy: server",
        required=False,
        max_length=2000,
        help_text="Empty uses the public https://ntfy.sh; or your own server's URL.",
    )
    ntfy_topic = forms.CharField(
        label="ntfy: topic", required=False, max_length=64, help_text="Letters, digits, - and _ (at most 64)."
    )
    ntfy_token = forms.CharField(
        label="ntfy: access token",
        required=False,
        max_length=200,
        widget=_secret_input(),
        help_text="For protected topics (tk_…). Stored encrypted.",
    )
    ntfy_priority = forms.TypedChoiceField(
        label="ntfy: priority",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "By the event's severity"), *NTFY_PRIORITIES],
    )
    ntfy_tags = forms.CharField(
        label="ntfy: tags", required=False, max_length=500, help_text="Comma-separated, e.g. robot, gradent."
    )
    signing_secret = forms.CharField(
        label="Webhook: signing secret",
        required=False,
        max_length=200,
        widget=_secret_input(),
        help_text="Standard Webhooks secret (whsec_…) to sign each request; empty sends unsigned.",
    )
    email_to = forms.CharField(
        label="Email: to",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Addresses, separated by commas or new lines.",
    )
    clear_secrets = forms.BooleanField(label="Remove the stored access token / signing secret", required=False)

    kind = forms.ChoiceField(choices=())

    class Meta:
        model = Channel
        fields = ["workspace", "name", "kind", "events", "agents", "enabled"]

    def __init__(self, *args, user, kind: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["kind"].choices = kind_choices()  # the transport registry, users' kinds included
        kind = self.instance.kind if self.instance.pk else (kind or self.data.get("kind") or None)
        self.chosen_kind = kind
        if kind:
            self._only_fields_of(kind)
        workspaces = writable_workspaces(user)
        self.fields["workspace"].queryset = workspaces
        self.fields["agents"].queryset = Agent.objects.filter(workspace__in=workspaces).select_related("workspace")
        self.fields["agents"].label_from_instance = lambda agent: f"{agent.name} ({agent.workspace.name})"
        channel = self.instance
        if channel.pk:
            self.fields["workspace"].disabled = True
            self.initial["events"] = list(channel.events or [])
            config = channel.config or {}
            for key, field_name in KIND_FIELDS.get(channel.kind, {}).items():
                value = config.get(key)
                if value is None:
                    continue
                self.initial[field_name] = ", ".join(value) if key in LIST_KEYS else value
            stored = channel.secrets
            for key in stored:
                field_name = KIND_FIELDS.get(channel.kind, {}).get(key)
                if field_name in self.fields:
                    self.fields[field_name].help_text = STORED_VALUE_HELP
            if not ({"token", "signing_secret"} & set(stored)):
                del self.fields["clear_secrets"]
        else:
            del self.fields["clear_secrets"]
            self.initial.setdefault("workspace", personal_workspace_for(user).pk)
            self.initial.setdefault("events", default_events())

    def _only_fields_of(self, kind: str) -> None:
        """Keep the settings of `kind` alone, labelled without the kind's prefix, and fix
        the kind: a saved channel keeps its own, a new one the kind chosen first."""
        self.fields["kind"].widget = forms.HiddenInput()
        self.fields["kind"].initial = kind
        if self.instance.pk:
            self.fields["kind"].disabled = True
        own = set(KIND_FIELDS.get(kind, {}).values())
        for name in {name for fields in KIND_FIELDS.values() for name in fields.values()} - own:
            self.fields.pop(name, None)
        for name in own:
            field = self.fields[name]
            field.label = (field.label or "").split(": ", 1)[-1].capitalize()
        if "url" in own:
            self.fields["url"].help_text = KIND_URL_HELP.get(kind, self.fields["url"].help_text)
        if "clear_secrets" in self.fields:
            self.fields["clear_secrets"].label = {
                ChannelKind.NTFY: "Remove the stored access token",
                ChannelKind.WEBHOOK: "Remove the stored signing secret",
            }.get(kind, self.fields["clear_secrets"].label)

    def kind_label(self) -> str:
        return dict(self.fields["kind"].choices).get(self.chosen_kind or "", self.chosen_kind or "")

    def kind_fields(self) -> list:
        """The bound fields of the chosen kind's settings, in the form's order."""
        own = KIND_FIELDS.get(self.chosen_kind or "", {}).values()
        return [self[name] for name in self.fields if name in own]

    def config_from_fields(self, kind: str) -> dict:
        config: dict = {}
        for key, field_name in KIND_FIELDS.get(kind, {}).items():
            value = self.cleaned_data.get(field_name)
            if value in (None, ""):
                continue
            if key in LIST_KEYS:
                value = [part for part in re.split(r"[,\s]+" if key == "to" else r",", value) if part.strip()]
                value = [part.strip() for part in value]
            config[key] = value
        return config

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        workspace = cleaned.get("workspace") or (self.instance.workspace if self.instance.pk else None)
        agents = cleaned.get("agents")
        if workspace is not None and agents:
            outside = [agent.name for agent in agents if agent.workspace_id != workspace.pk]
            if outside:
                self.add_error("agents", f"Not in workspace {workspace.name}: {', '.join(outside)}.")
        if not kind:
            return cleaned
        stored = None
        if self.instance.pk and self.instance.kind == kind:
            stored = dict(self.instance.secrets)
            if cleaned.get("clear_secrets"):
                stored.pop("token", None)
                stored.pop("signing_secret", None)
        try:
            cleaned["config"] = validate_channel_config(kind=kind, config=self.config_from_fields(kind), stored=stored)
        except DRFValidationError as exc:
            errors = exc.detail.get("config", {}) if isinstance(exc.detail, dict) else {}
            mapping = KIND_FIELDS.get(kind, {})
            for key, messages in errors.items() if isinstance(errors, dict) else []:
                field_name = mapping.get(key)
                self.add_error(field_name if field_name in self.fields else None, _flatten(messages))
        return cleaned

    def save(self, commit: bool = True) -> Channel:
        channel = super().save(commit=False)
        channel.events = list(self.cleaned_data.get("events") or [])
        channel.set_full_config(
            self.cleaned_data["config"], secret_fields=get_transport_class(channel.kind).secret_fields
        )
        if channel.enabled:
            channel.disabled_reason = ""
        if commit:
            channel.save()
            self.save_m2m()
        return channel


def _flatten(errors) -> list[str]:
    """DRF errors of one field as a flat list (list fields nest them per item)."""
    if isinstance(errors, dict):
        return [text for value in errors.values() for text in _flatten(value)]
    if isinstance(errors, list):
        return [text for value in errors for text in _flatten(value)]
    return [str(errors)]
