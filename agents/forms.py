"""Forms of the agent pages. Configuration checks are the ones the API uses
(`agents.validation.validate_agent_config`), so a page and the API accept the same agents."""

from __future__ import annotations

import json

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db.models import Q
from django.urls import reverse

from agents.inputs import input_errors, validate_input_schema
from agents.models import Agent, RunSource, RunStatus
from agents.providers import provider_choices
from agents.tools import tool_names, tool_registry
from agents.validation import validate_agent_config
from gradent.lib.jsonutil import JSONInputError, StrictJSONDecoder
from gradent.lib.pages import duplicate_name_warning
from workspaces.models import personal_workspace_for
from workspaces.scoping import scope_queryset, writable_workspaces

POSITIVE_FIELDS = ("max_steps", "max_tokens", "max_seconds", "max_attempts")


class PrettyJSONField(forms.JSONField):
    """A JSON textarea that shows stored values indented, and keeps invalid input as typed.
    Decoded like API bodies: numbers out of range and deep nesting are refused, saying where."""

    def __init__(self, **kwargs):
        kwargs.setdefault("decoder", StrictJSONDecoder)
        super().__init__(**kwargs)

    def to_python(self, value):
        try:
            return super().to_python(value)
        except ValidationError as exc:
            if isinstance(value, str) and not self.disabled:
                try:
                    json.loads(value, cls=self.decoder)
                except JSONInputError as refused:
                    raise ValidationError(f"Not accepted: {refused}.", code="invalid") from None
                except ValueError:
                    pass
            raise exc

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)


class AgentForm(forms.ModelForm):
    workspace = forms.ModelChoiceField(
        queryset=None, empty_label=None, help_text="Where the agent lives; it cannot move later."
    )
    provider = forms.ChoiceField(choices=provider_choices)
    provider_settings = PrettyJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "class": "mono", "spellcheck": "false"}),
        help_text=(
            "A JSON object. OpenAI-compatible and Anthropic: base_url, temperature, timeout, extra_headers "
            "(values stored encrypted and shown as ********, which keeps them); "
            'scripted: {"steps": [{"tool": "…", "args": {…}}], "answer": "…"}.'
        ),
    )
    api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Used when no variable is named.",
    )
    clear_api_key = forms.BooleanField(label="Remove the stored API key", required=False)
    input_schema = PrettyJSONField(
        label="Input schema",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono", "spellcheck": "false", "data-json": "object"}),
        help_text=(
            "Optional JSON Schema that every run's input must match, whatever starts it; "
            'e.g. {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}. '
            "{} accepts any input."
        ),
    )
    allowed_tools = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The only tools this agent may call.",
    )

    class Meta:
        model = Agent
        fields = [
            "workspace",
            "name",
            "description",
            "system_instructions",
            "task_instructions",
            "provider",
            "model",
            "provider_settings",
            "api_key_env",
            "allowed_tools",
            "max_steps",
            "max_tokens",
            "max_cost_usd",
            "max_seconds",
            "overlap_policy",
            "max_attempts",
            "auto_pause_after",
            "input_schema",
            "enabled",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "system_instructions": forms.Textarea(attrs={"rows": 4}),
            "task_instructions": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        editing = self.instance.pk is not None
        self.fields["workspace"].queryset = writable_workspaces(user)
        registry = tool_registry()
        self.fields["allowed_tools"].choices = [(name, registry[name].description) for name in tool_names()]
        if editing:
            # The API refuses moves too: runs, threads and schedules stay in one workspace.
            self.fields["workspace"].disabled = True
            # Extra header values are never shown: ******** keeps a stored value.
            self.initial["provider_settings"] = self.instance.shown_provider_settings()
            if self.instance.api_key:
                self.fields[
                    "api_key"
                ].help_text = "A key is stored. Leave blank to keep it; type a new one to replace it."
            else:
                del self.fields["clear_api_key"]
        else:
            del self.fields["clear_api_key"]
            self.initial.setdefault("workspace", personal_workspace_for(user).pk)
            self.initial.setdefault("provider", Agent._meta.get_field("provider").default)
            self.initial.setdefault("provider_settings", {})
            self.initial.setdefault("input_schema", {})
        # As the name is typed, htmx asks whether another agent of the workspace has it.
        check = {"hx-get": reverse("agents:name_check"), "hx-trigger": "input changed delay:400ms"}
        check |= {"hx-target": "#name-warning", "hx-swap": "outerHTML"}
        if editing:
            check["hx-vals"] = json.dumps({"workspace": self.instance.workspace_id, "exclude": self.instance.pk})
        else:
            check["hx-include"] = "[name=workspace]"
        self.fields["name"].widget.attrs.update(check)
        for name in POSITIVE_FIELDS:
            # The model says at least 1; the default form field would say "at least 0" first.
            field = self.fields[name]
            field.min_value = 1
            field.validators = [v for v in field.validators if not isinstance(v, MinValueValidator)]
            field.validators.append(MinValueValidator(1))
            field.widget.attrs["min"] = 1

    def name_warning(self) -> str:
        """Another agent of the same workspace already has this name: a warning, not an error."""
        workspace = self.instance.workspace_id if self.instance.pk else self["workspace"].value()
        if not str(workspace or "").isdigit():
            return ""
        return duplicate_name_warning(
            Agent.objects.filter(workspace_id=int(workspace)),
            name=str(self["name"].value() or ""),
            noun="agent",
            exclude=self.instance.pk,
        )

    def clean_input_schema(self):
        try:
            return validate_input_schema(self.cleaned_data.get("input_schema"))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["input_schema"]) from None

    def clean_provider_settings(self):
        value = self.cleaned_data.get("provider_settings")
        return {} if value is None else value

    def clean(self):
        cleaned = super().clean()
        failed = set(self.errors)
        try:
            settings_cleaned = validate_agent_config(
                provider=cleaned.get("provider", ""),
                provider_settings=cleaned.get("provider_settings", {}),
                allowed_tools=cleaned.get("allowed_tools", []),
                max_seconds=cleaned.get("max_seconds"),
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                # Settings are only meaningful for a valid provider; a field that already
                # failed its own parsing keeps that clearer message alone.
                if field in failed or (field == "provider_settings" and "provider" in failed):
                    continue
                self.add_error(field if field in self.fields else None, messages)
        else:
            if "provider_settings" in cleaned:
                cleaned["provider_settings"] = settings_cleaned or cleaned["provider_settings"]
        return cleaned

    def save(self, commit: bool = True) -> Agent:
        agent = super().save(commit=False)
        if self.cleaned_data.get("clear_api_key"):
            agent.api_key = ""
        if self.cleaned_data.get("api_key"):
            agent.api_key = self.cleaned_data["api_key"]
        if commit:
            agent.save()
        return agent


def json_widget(rows: int, placeholder: str = "") -> forms.Textarea:
    """A JSON textarea that static/gradent-forms.js checks as the user types."""
    return forms.Textarea(
        attrs={
            "rows": rows,
            "class": "mono",
            "spellcheck": "false",
            "data-json": "object",
            "placeholder": placeholder,
        }
    )


class RunNowForm(forms.Form):
    """Run now: a task, a JSON input and a JSON payload. The input (with the task in it)
    is checked against the agent's input schema, each violation on the input field, named
    (`input.city: …`), as the API does."""

    task = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Optional: what this run should do"}),
        help_text="Empty uses the agent's task instructions.",
    )
    input = PrettyJSONField(
        label="Input (JSON)",
        required=False,
        widget=json_widget(5, '{"city": "Lisbon"}'),
        help_text="A JSON object the instructions can use as {{ input.… }}; {} for none.",
    )
    payload = PrettyJSONField(
        label="Payload (JSON)",
        required=False,
        widget=json_widget(3, "{}"),
        help_text="Event data, shown to the model as untrusted data; {} for none.",
    )

    def __init__(self, *args, agent: Agent | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.agent = agent
        if agent is not None and agent.input_schema:
            self.fields["input"].help_text = "A JSON object matching this agent's input schema (below)."

    def _object(self, name: str) -> dict:
        value = self.cleaned_data.get(name)
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise ValidationError('Must be a JSON object, like {} or {"key": "value"}.')
        return value

    def clean_input(self) -> dict:
        return self._object("input")

    def clean_payload(self) -> dict:
        return self._object("payload")

    def clean(self):
        cleaned = super().clean()
        if "input" in self.errors:
            return cleaned
        run_input = dict(cleaned.get("input") or {})
        if cleaned.get("task"):
            run_input["task"] = cleaned["task"]
        cleaned["run_input"] = run_input
        if self.agent is not None:
            for field, problems in input_errors(self.agent.input_schema, run_input).items():
                for problem in problems:
                    self.add_error("input", f"{field}: {problem}")
        return cleaned

    @staticmethod
    def initial_from(run) -> dict:
        """Pre-fill from an earlier run: its task in the task box, the rest as JSON."""
        if run is None:
            return {"input": {}, "payload": {}}
        run_input = dict(run.input or {})
        task = run_input.pop("task", "") if isinstance(run_input.get("task", ""), str) else ""
        return {"task": task, "input": run_input, "payload": dict(run.payload or {})}


class RunFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Search runs: #id, agent, text", "aria-label": "Search"}
        ),
    )
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date", "aria-label": "From"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date", "aria-label": "To"})
    )
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), *RunStatus.choices],
        widget=forms.Select(attrs={"aria-label": "Status"}),
    )
    source = forms.ChoiceField(
        required=False,
        choices=[("", "Any source"), *RunSource.choices],
        widget=forms.Select(attrs={"aria-label": "Source"}),
    )
    agent = forms.ModelChoiceField(
        required=False, queryset=None, empty_label="Any agent", widget=forms.Select(attrs={"aria-label": "Agent"})
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = scope_queryset(Agent.objects.all(), user)

    def filter(self, queryset):
        """Apply the filters that are valid; invalid ones are reported on the form and ignored."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        if data.get("source"):
            queryset = queryset.filter(source=data["source"])
        if data.get("agent"):
            queryset = queryset.filter(agent=data["agent"])
        # Days in the current timezone, both ends included.
        if data.get("since"):
            queryset = queryset.filter(created__date__gte=data["since"])
        if data.get("until"):
            queryset = queryset.filter(created__date__lte=data["until"])
        if data.get("q"):
            queryset = queryset.filter(run_search(data["q"]))
        return queryset

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "Must be on or after the From date.")  # and drops it from cleaned
        return cleaned


def run_search(text: str) -> Q:
    """Runs whose id (`#12` or `12`), agent name, reason, error, output, source or task
    contains `text`, case-insensitively."""
    text = text.strip()
    query = (
        Q(agent__name__icontains=text)
        | Q(reason__icontains=text)
        | Q(error__icontains=text)
        | Q(output__icontains=text)
        | Q(source_ref__icontains=text)
        | Q(input__task__icontains=text)
    )
    number = text.removeprefix("#")
    if number.isdigit():
        query |= Q(pk=int(number))
    return query
