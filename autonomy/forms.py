"""Forms of the autonomy page: the mode (with its channels and executor) and a metric rule."""

from __future__ import annotations

import math

from django import forms
from rest_framework import serializers

from agents.models import Agent
from autonomy.channels import DISCORD, NTFY, config_validate
from autonomy.models import Direction, Frequency, GoalType
from autonomy.serializers import MASK


def _validated(kind: str, config: dict, key: str) -> str:
    try:
        return config_validate(kind, config)[key]
    except serializers.ValidationError as exc:
        raise forms.ValidationError([str(message) for message in exc.detail]) from None


class ModeForm(forms.Form):
    enabled = forms.BooleanField(label="Autonomous mode on", required=False)
    frequency = forms.ChoiceField(label="Frequency", choices=Frequency.choices)
    executor = forms.ModelChoiceField(
        label="Executor agent",
        queryset=Agent.objects.none(),
        required=False,
        empty_label="— none: goals use the action handlers only —",
        help_text="Runs once per cycle, with the goals it acts on as its input.",
    )
    discord_webhook = forms.CharField(
        label="Discord webhook URL",
        required=False,
        max_length=500,
        help_text="Cycle results and errors are posted here. Leave the masked URL to keep it; empty switches it off.",
    )
    ntfy_topic = forms.CharField(label="ntfy topic", required=False, max_length=64, help_text="Empty switches it off.")
    notify_tool_calls = forms.BooleanField(
        label="A message for each tool call of the executor",
        required=False,
        help_text="Rate-capped per channel; a summary says how many were not sent.",
    )
    # Left empty, a knob keeps its value.
    max_active_goals = forms.IntegerField(label="Max active goals", min_value=1, max_value=100, required=False)
    max_concurrent_goals = forms.IntegerField(
        label="Max concurrent goals", min_value=1, max_value=20, required=False, help_text="Goals acted on per cycle."
    )
    analysis_interval_minutes = forms.IntegerField(
        label="Analysis interval (minutes)", min_value=0, max_value=1440, required=False, help_text="0: every cycle."
    )
    pattern_window_hours = forms.IntegerField(
        label="Pattern window (hours)", min_value=24, max_value=24 * 90, required=False
    )
    enable_learning = forms.BooleanField(label="Learn from the outcomes of actions", required=False)
    start_now = forms.BooleanField(
        label="Start the first cycle now", required=False, help_text="Instead of one interval after switching on."
    )

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["executor"].queryset = Agent.objects.filter(workspace=workspace).order_by("name")

    def clean_discord_webhook(self) -> str | None:
        """None keeps the stored webhook (the masked URL came back), "" switches it off."""
        value = self.cleaned_data["discord_webhook"].strip()
        if not value:
            return ""
        if value.endswith(MASK):
            return None
        return _validated(DISCORD, {"url": value}, "url")

    def clean_ntfy_topic(self) -> str:
        value = self.cleaned_data["ntfy_topic"].strip()
        return _validated(NTFY, {"topic": value}, "topic") if value else ""

    def channel_configs(self) -> dict[str, dict | None]:
        configs: dict[str, dict | None] = {}
        webhook = self.cleaned_data["discord_webhook"]
        if webhook is not None:
            configs[DISCORD] = {"url": webhook} if webhook else None
        topic = self.cleaned_data["ntfy_topic"]
        configs[NTFY] = {"topic": topic} if topic else None
        return configs


class RuleForm(forms.Form):
    metric_name = forms.CharField(
        label="Metric", max_length=100, help_text="It need not have data yet: the rule applies when data arrives."
    )
    warning = forms.FloatField(label="Warning threshold", required=False, help_text="Back in range past it.")
    critical = forms.FloatField(label="Critical threshold", help_text="A (forecast) breach opens a goal.")
    direction = forms.ChoiceField(label="Bad when", choices=Direction.choices, initial=Direction.ABOVE)
    goal_type = forms.ChoiceField(label="Goal type", choices=GoalType.choices, initial=GoalType.BOTTLENECK_PREVENTION)

    def clean(self) -> dict:
        data = super().clean()
        for field in ("warning", "critical"):
            value = data.get(field)
            if value is not None and not math.isfinite(value):
                self.add_error(field, "Must be finite.")
        warning, critical, direction = data.get("warning"), data.get("critical"), data.get("direction")
        if warning is not None and critical is not None and math.isfinite(warning) and math.isfinite(critical):
            if (warning > critical) if direction == Direction.ABOVE else (warning < critical):
                self.add_error("warning", "The warning threshold comes before the critical one.")
        return data
