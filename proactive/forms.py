"""Forms of the proactive pages. Checks are the ones the API uses (timing and
`services.schedule_validate`, the probes' config serializers, `compile_condition`, the
trigger serializer's config and template checks, the signature schemes), so a page and the
API accept the same objects.

Objects bound to an agent live in the agent's workspace: the agent select offers only the
agents of the user's writable workspaces, and on edit only those of the object's workspace
(objects never move between workspaces)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from agents.forms import PrettyJSONField
from agents.models import Agent, OverlapPolicy
from gradent.lib.pages import duplicate_name_warning
from proactive import timing
from proactive.models import Monitor, Schedule, Trigger, Webhook
from workspaces.scoping import writable_workspaces

TIMING_FIELDS = ("kind", "cron_expression", "interval_seconds", "run_at", "timezone", "start_at", "end_at")
LOCAL_DATETIME_FIELDS = ("run_at", "start_at", "end_at")


def error_text(detail) -> str:
    """A DRF ValidationError's detail as one line of text."""
    from proactive.probes.base import validation_text

    return validation_text(detail)


class AgentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, agent: Agent) -> str:
        return f"{agent.name} · {agent.workspace.name}"


class AgentBoundForm(forms.ModelForm):
    """The agent select: writable workspaces' agents; on edit, only the object's workspace."""

    agent = AgentChoiceField(queryset=None, help_text="The agent that runs. The object lives in its workspace.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        agents = Agent.objects.select_related("workspace").filter(workspace__in=writable_workspaces(user))
        if self.instance.pk is not None:
            agents = agents.filter(workspace_id=self.instance.workspace_id)
            self.fields["agent"].help_text = "An agent of this object's workspace."
        self.fields["agent"].queryset = agents.order_by("workspace__name", "name")
        self.fields["agent"].empty_label = "Choose an agent"
        if self.instance.pk is None and not self.is_bound:
            only = list(agents[:2])
            if len(only) == 1:
                self.initial.setdefault("agent", only[0].pk)

    def save(self, commit: bool = True):
        obj = super().save(commit=False)
        obj.workspace_id = obj.agent.workspace_id
        if commit:
            obj.save()
        return obj


# --- schedules ----------------------------------------------------------------------------


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs={"step": "1", **(attrs or {})})

    def format_value(self, value):
        if isinstance(value, datetime):
            text = value.strftime("%Y-%m-%dT%H:%M:%S" if value.second else "%Y-%m-%dT%H:%M")
            return text + (value.strftime("%z") if value.tzinfo else "")
        return super().format_value(value)


class LocalDateTimeField(forms.Field):
    """A wall-clock time in the schedule's own zone. Returns a naive datetime (or an aware
    one when the text carries an offset); the form attaches the schedule's zone, which is
    only known once the timezone field is clean."""

    widget = LocalDateTimeInput
    default_error_messages = {"invalid": "Enter a date and time, e.g. 2026-03-29 09:30."}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            parsed = parse_datetime(text.replace(" ", "T", 1) if "T" not in text else text)
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return parsed


def local_to_utc(value: datetime, zone: ZoneInfo) -> datetime:
    """Wall time in ``zone`` → aware UTC. A time the clocks skip is refused; a time they
    repeat means its first occurrence."""
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    local = value.replace(tzinfo=zone, fold=0)
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
        raise ValidationError(
            f"{value:%Y-%m-%d %H:%M} does not exist in {zone.key}: the clocks skip it (daylight-saving change)."
        )
    return local.astimezone(UTC)


class ScheduleForm(AgentBoundForm):
    run_at = LocalDateTimeField(label="Run at", required=False, help_text="For “once”: in the schedule's timezone.")
    start_at = LocalDateTimeField(label="Start", required=False, help_text="No fires before this (schedule's zone).")
    end_at = LocalDateTimeField(label="End", required=False, help_text="No fires after this (schedule's zone).")

    class Meta:
        model = Schedule
        fields = [
            "agent",
            "name",
            "kind",
            "cron_expression",
            "interval_seconds",
            "run_at",
            "timezone",
            "start_at",
            "end_at",
            "jitter_seconds",
            "misfire_policy",
            "misfire_grace_seconds",
            "max_catchup",
            "overlap_policy",
            "task_description",
            "enabled",
        ]
        widgets = {
            "cron_expression": forms.TextInput(
                attrs={"class": "mono", "placeholder": "0 9 * * MON-FRI", "spellcheck": "false", "autocomplete": "off"}
            ),
            "timezone": forms.TextInput(attrs={"list": "timezones", "spellcheck": "false", "autocomplete": "off"}),
            "task_description": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "cron_expression": "5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, "
            "or @daily, @hourly…",
            "interval_seconds": "e.g. 60 for every minute, 3600 for every hour. Counted in absolute time.",
            "misfire_grace_seconds": "A fire more than this late (dispatcher down) is a misfire; "
            "“run every missed fire” replays only fires within it.",
            "max_catchup": "At most this many replayed fires after an outage.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["overlap_policy"].choices = [("", "The agent's policy"), *OverlapPolicy.choices]
        self.fields["overlap_policy"].help_text = "When the previous run is still going."
        self.fields["name"].help_text = "Optional; shown in lists."
        # As the name is typed, htmx asks whether another schedule of the workspace has it.
        check = {"hx-get": reverse("proactive:schedule_name_check"), "hx-trigger": "input changed delay:400ms"}
        check |= {"hx-target": "#name-warning", "hx-swap": "outerHTML", "hx-include": "[name=agent]"}
        if self.instance.pk is not None:
            check["hx-vals"] = json.dumps({"exclude": self.instance.pk})
        self.fields["name"].widget.attrs.update(check)
        if self.instance.pk is None:
            self.initial.setdefault("timezone", settings.TIME_ZONE)
        else:
            zone = _zone_or_utc(self.instance.timezone)
            for name in LOCAL_DATETIME_FIELDS:
                value = getattr(self.instance, name)
                if value is not None:
                    self.initial[name] = value.astimezone(zone).replace(tzinfo=None)
        for name in ("interval_seconds", "max_catchup"):
            # The model says at least 1; the default form field would say "at least 0" first.
            field = self.fields[name]
            field.min_value = 1
            field.validators = [v for v in field.validators if not isinstance(v, MinValueValidator)]
            field.validators.append(MinValueValidator(1))
            field.widget.attrs["min"] = 1

    def clean(self):
        cleaned = super().clean()
        zone = None
        if "timezone" in cleaned:
            try:
                zone = timing.validate_timezone(cleaned["timezone"])
                cleaned["timezone"] = zone.key
            except timing.ScheduleError as exc:
                self.add_error("timezone", exc.message)
        if zone is not None:
            for name in LOCAL_DATETIME_FIELDS:
                if cleaned.get(name) is not None:
                    try:
                        cleaned[name] = local_to_utc(cleaned[name], zone)
                    except ValidationError as exc:
                        self.add_error(name, exc)
        if any(name in self.errors for name in TIMING_FIELDS):
            return cleaned  # each field's own message is clearer than a whole-schedule one
        probe = Schedule(**{name: cleaned.get(name) for name in TIMING_FIELDS})
        try:
            from proactive.services import schedule_validate

            schedule_validate(probe)
        except timing.ScheduleError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        else:
            cleaned["cron_expression"] = probe.cron_expression
        return cleaned

    def schedule_timing(self, *, anchor: datetime | None = None) -> timing.Timing:
        """For a valid form: the schedule's timing, as the saved schedule would have it."""
        data = self.cleaned_data
        kind = data["kind"]
        if kind == Schedule.Kind.INTERVAL and anchor is None:
            anchor = data.get("start_at")  # as schedule_save anchors a new interval schedule
        probe = Schedule(**{name: data.get(name) for name in TIMING_FIELDS}, anchor=anchor)
        return timing.Timing.from_schedule(probe)

    def name_warning(self) -> str:
        """Another schedule of the agent's workspace already has this name (a warning only)."""
        agent = self["agent"].value()
        workspace = self.instance.workspace_id if self.instance.pk else None
        if workspace is None and str(agent or "").isdigit():
            workspace = (
                self.fields["agent"].queryset.filter(pk=int(agent)).values_list("workspace_id", flat=True).first()
            )
        if workspace is None:
            return ""
        return duplicate_name_warning(
            Schedule.objects.filter(workspace_id=workspace),
            name=str(self["name"].value() or ""),
            noun="schedule",
            exclude=self.instance.pk,
        )

    def timing_errors(self) -> list[tuple[str, str]]:
        """(label, message) of the errors that stop a preview; other fields do not matter to it."""
        errors = []
        for name in (*TIMING_FIELDS, "__all__"):
            for message in self.errors.get(name, []):
                label = self.fields[name].label if name in self.fields else ""
                errors.append((label, message))
        return errors


def _zone_or_utc(name: str) -> ZoneInfo:
    try:
        return timing.validate_timezone(name)
    except timing.ScheduleError:
        return ZoneInfo("UTC")


# --- monitors -----------------------------------------------------------------------------


class MonitorForm(AgentBoundForm):
    probe = forms.ChoiceField(choices=(), help_text="What is measured; its settings go below.")
    probe_config = PrettyJSONField(
        label="Probe settings",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono", "spellcheck": "false"}),
        help_text='A JSON object. http: {"url": "https://…", "json_path": "data.price"}; '
        'metric: {"name": "queue_depth"}; callable: {"path": "pkg.module.func"}; '
        "llm: {} (the condition is the question).",
    )

    class Meta:
        model = Monitor
        fields = [
            "agent",
            "name",
            "probe",
            "probe_config",
            "condition",
            "action",
            "check_interval",
            "trigger_after",
            "clear_after",
            "cooldown_seconds",
            "reminder_seconds",
            "run_on_recovery",
            "history_limit",
            "enabled",
        ]
        widgets = {
            "condition": forms.TextInput(attrs={"class": "mono", "spellcheck": "false", "autocomplete": "off"}),
            "action": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "condition": "When true, the monitor triggers: value > 150 and status == 200. "
            "Names: what the probe provides (http: status, ok, latency_ms, body, json, value). "
            "For the llm probe: the yes/no question in plain words.",
            "trigger_after": "Consecutive true checks before it triggers.",
            "clear_after": "Consecutive false checks before it clears.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from proactive.probes import probe_choices

        self.fields["probe"].choices = probe_choices()
        if self.instance.pk is None:
            self.initial.setdefault("probe", "http")
            self.initial.setdefault("probe_config", {})

    def clean_probe_config(self):
        value = self.cleaned_data.get("probe_config")
        return {} if value is None else value

    def clean(self):
        from proactive.services import monitor_validate

        cleaned = super().clean()
        kind = cleaned.get("probe")
        if not kind:
            return cleaned
        try:
            cleaned.update(
                monitor_validate(
                    agent=cleaned.get("agent"),
                    probe=kind,
                    probe_config=cleaned.get("probe_config") or {},
                    condition=cleaned.get("condition", ""),
                    monitor=self.instance,
                    user=self.user,
                )
            )
        except serializers.ValidationError as exc:
            for field, detail in exc.detail.items():
                if field not in self.errors:  # a field's own error (bad JSON, blank) says it first
                    self.add_error(field, error_text(detail))
        return cleaned


# --- triggers -----------------------------------------------------------------------------


class TriggerForm(AgentBoundForm):
    config = PrettyJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono", "spellcheck": "false"}),
        help_text='Filters, all optional: {"events": ["pull_request"], "match": {"action": "opened"}, '
        '"repository": "owner/repo"}; and "input": {"number": "pull_request.number"} to fill the run\'s input '
        "fields from the event.",
    )

    class Meta:
        model = Trigger
        fields = ["agent", "name", "trigger_type", "config", "task_template", "enabled"]
        widgets = {"task_template": forms.Textarea(attrs={"rows": 3, "class": "mono", "spellcheck": "false"})}
        help_texts = {
            "task_template": "The run's task, filled from the event: "
            "Review PR #{{ pull_request.number }}: {{ pull_request.title }}. Blank uses the agent's task.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.initial.setdefault("config", {})

    def clean_config(self):
        from proactive.serializers import TriggerSerializer

        value = self.cleaned_data.get("config")
        value = {} if value is None else value
        try:
            return TriggerSerializer().validate_config(value)
        except serializers.ValidationError as exc:
            raise ValidationError(error_text(exc.detail))

    def clean_task_template(self):
        from proactive.serializers import TriggerSerializer

        value = self.cleaned_data.get("task_template", "")
        try:
            return TriggerSerializer().validate_task_template(value)
        except serializers.ValidationError as exc:
            raise ValidationError(error_text(exc.detail))


class TriggerFireForm(forms.Form):
    payload = PrettyJSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono", "spellcheck": "false"}),
        help_text="A JSON object: the event. The task template is filled from it; the agent sees it as data.",
    )
    event_type = forms.CharField(
        label="Event type",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "e.g. pull_request"}),
        help_text="Fire now ignores the trigger's filters.",
    )

    def clean_payload(self):
        value = self.cleaned_data.get("payload")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValidationError("The payload must be a JSON object, {…}.")
        return value


# --- webhooks -----------------------------------------------------------------------------


class TriggerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, trigger: Trigger) -> str:
        return f"{trigger.name} → {trigger.agent.name} · {trigger.workspace.name}"


class WebhookForm(forms.ModelForm):
    """Create: trigger and scheme. Edit: the scheme and trigger stay (a scheme has its own
    secret format; make a new webhook to change it)."""

    trigger = TriggerChoiceField(queryset=None, help_text="Deliveries fire this trigger.")
    scheme = forms.ChoiceField(label="Signature scheme", choices=(), help_text="How senders sign deliveries.")

    class Meta:
        model = Webhook
        fields = [
            "trigger",
            "name",
            "scheme",
            "tolerance_seconds",
            "max_body_bytes",
            "rate_limit_per_minute",
            "enabled",
        ]
        help_texts = {
            "tolerance_seconds": "How old a signed timestamp may be (schemes that sign one).",
            "max_body_bytes": "Larger bodies are refused with 413. The server sets the most you may choose.",
            "rate_limit_per_minute": "Deliveries beyond this are refused with 429. The server sets the most you may "
            "choose; 0 (no limit) only where it sets none.",
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        from proactive.services import webhook_default_limits
        from proactive.signatures import scheme_choices

        self.user = user
        if self.instance.pk is None:
            self.fields["trigger"].queryset = (
                Trigger.objects.select_related("agent", "workspace")
                .filter(workspace__in=writable_workspaces(user))
                .order_by("workspace__name", "name")
            )
            self.fields["trigger"].empty_label = "Choose a trigger"
            self.fields["scheme"].choices = scheme_choices()
            self.initial.setdefault("scheme", "standard_webhooks")
            for name, value in webhook_default_limits().items():
                self.initial.setdefault(name, value)
            only = list(self.fields["trigger"].queryset[:2])
            if len(only) == 1 and not self.is_bound:
                self.initial.setdefault("trigger", only[0].pk)
        else:
            del self.fields["trigger"]
            del self.fields["scheme"]

    def clean(self):
        from proactive.services import webhook_validate_limits

        cleaned = super().clean()
        # A value unchanged on edit is not checked again (capped at the door anyway).
        changed = set(self.changed_data) if self.instance.pk else set(cleaned)
        try:
            webhook_validate_limits(
                **{name: cleaned.get(name) for name in ("scheme", "max_body_bytes", "rate_limit_per_minute")
                   if name in changed}
            )  # fmt: skip
        except serializers.ValidationError as exc:
            for field, detail in exc.detail.items():
                if field in self.fields and field not in self.errors:
                    self.add_error(field, error_text(detail))
        return cleaned

    def save(self, commit: bool = True) -> Webhook:
        webhook = super().save(commit=False)
        if webhook.pk is None:
            webhook.workspace_id = webhook.trigger.workspace_id
        if commit:
            webhook.save()
        return webhook
